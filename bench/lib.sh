# Shared by the bench scripts: run from the repository root, need the release binary (and image 0).
cd "$(dirname "$0")/.."
bin=${CONSTRUIR_BIN:-.build/release/construir}   # CONSTRUIR_BIN: another build (say, the debug one)
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
require_image0() {
    [ -f images/0/image.json ] || { echo "build image 0 first: construir image build 0" >&2; exit 1; }
}
# A scratch directory, removed at exit along with any runner started as $runner.
work=$(mktemp -d /tmp/construir-bench.XXXXXX)
runner=
trap '[ -z "$runner" ] || kill "$runner" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
now() { date +%s.%N; }
