#!/bin/bash
# Compare `construir package` with `git archive REV | xz -6` on a real repository.
#   bench/package.sh [REPOSITORY] [CONSTRUIR]
# REPOSITORY (default /opt/swift-packages/apple/swift-nio.git) is cloned into a temporary
# directory; a `construir` script is committed there (with a fixed identity and date), since
# `construir package` refuses a repository without one; both tools then package that commit.
# CONSTRUIR is the binary (default .build/release/construir). RUNS (default 3) runs of each
# tool are interleaved; the table gives the median wall time, the xz stream's size (without
# the job file's zero padding) and the ratios to git archive | xz -6.
set -euo pipefail
source=${1:-/opt/swift-packages/apple/swift-nio.git}
construir=$(realpath "${2:-.build/release/construir}")
runs=${RUNS:-3}
[ -x "$construir" ] || { echo "no construir binary at $construir (swift build -c release)" >&2; exit 1; }

work=$(mktemp -d /tmp/construir-bench-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
git clone -q "$source" "$work/repo"
cd "$work/repo"
printf '#!/bin/bash\nswift build\n' > construir
chmod +x construir
git add construir
GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000" \
    git -c user.name=bench -c user.email=bench@example.com commit -q -m "add construir script"
rev=$(git rev-parse HEAD)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Length of the first xz stream of a (possibly zero-padded) file.
stream_size() { xz --robot -lv "$1" | awk -F '\t' '$1 == "stream" { print $6; exit }'; }

base_times=() ours_times=() one_times=()
for _ in $(seq "$runs"); do
    t0=$(now); git archive "$rev" | xz -6 > "$work/base.tar.xz"; t1=$(now)
    base_times+=("$(elapsed "$t0" "$t1")")
    t0=$(now); "$construir" package --rev "$rev" --threads 2 -o "$work/ours.tar.xz" 2>/dev/null >/dev/null; t1=$(now)
    ours_times+=("$(elapsed "$t0" "$t1")")
    t0=$(now); "$construir" package --rev "$rev" --threads 1 -o "$work/ours-1.tar.xz" 2>/dev/null >/dev/null; t1=$(now)
    one_times+=("$(elapsed "$t0" "$t1")")
done
cmp -s "$work/ours.tar.xz" "$work/ours-1.tar.xz" || { echo "2 threads and 1 thread gave different bytes" >&2; exit 1; }

base_s=$(median "${base_times[@]}") ours_s=$(median "${ours_times[@]}") one_s=$(median "${one_times[@]}")
base_b=$(stat -c %s "$work/base.tar.xz") ours_b=$(stream_size "$work/ours.tar.xz")
blocks=$(xz --robot -lv "$work/ours.tar.xz" | awk -F '\t' '$1 == "totals" { print $3 }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "Repository: $source at $rev ($(git ls-files | wc -l) files, $(git archive "$rev" | wc -c) tar bytes)"
echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(xz --version | head -1); $(git --version)"
echo "Runs: $runs each, interleaved; construir's xz stream has $blocks blocks and is identical with 1 and 2 threads."
echo
echo "| tool | seconds (median of $runs) | bytes | speed vs git archive \| xz -6 | size vs git archive \| xz -6 |"
echo "|---|---:|---:|---:|---:|"
echo "| \`git archive REV \| xz -6\` | $base_s | $base_b | 1.00× | 1.000 |"
echo "| \`construir package --threads 2\` | $ours_s | $ours_b | $(ratio "$base_s" "$ours_s")× | $(awk -v a="$ours_b" -v b="$base_b" 'BEGIN { printf "%.3f", a / b }') |"
echo "| \`construir package --threads 1\` | $one_s | $ours_b | $(ratio "$base_s" "$one_s")× | $(awk -v a="$ours_b" -v b="$base_b" 'BEGIN { printf "%.3f", a / b }') |"
