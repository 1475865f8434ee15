#!/usr/bin/env bash
# Extraction: construir's host-side output extraction (`construir extract`, the code the runner
# uses, with its checks and limits) against `tar -xJf`, on the same ~100 MB output archive:
# 2,000 files of 50 KB of base64 text (compresses about 4:1) plus 20 MB of random bytes, packed
# with `tar -cJf` as a job would. Interleaved runs, medians.
#
# Usage: bench/extraction.sh [RUNS=5]     (after `swift build -c release`)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-5}
python3 - "$work/src" <<'PY'
import base64, os, random, sys
root = sys.argv[1]
rng = random.Random(42)
for d in range(20):
    os.makedirs(f"{root}/dir{d:02}", exist_ok=True)
    for f in range(100):
        raw = rng.randbytes(37_500)
        open(f"{root}/dir{d:02}/file{f:03}.txt", "wb").write(base64.b64encode(raw))
open(f"{root}/random.bin", "wb").write(rng.randbytes(20 << 20))
PY
tar -C "$work/src" -cJf "$work/output.tar.xz" .
size=$(du -sb "$work/src" | cut -f1)
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
time_it() { local s; s=$(now); "$@" >/dev/null; awk -v a="$s" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
ours=() theirs=()
for i in $(seq "$runs"); do
    rm -rf "$work/a" "$work/b"; mkdir "$work/b"
    ours+=("$(time_it "$bin" extract --max-bytes 1G "$work/output.tar.xz" "$work/a")")
    theirs+=("$(time_it tar -xJf "$work/output.tar.xz" -C "$work/b")")
done
diff -r "$work/a" "$work/b" >/dev/null || { echo "the two extractions differ" >&2; exit 1; }
mo=$(median "${ours[@]}"); mt=$(median "${theirs[@]}")
echo "archive: $(stat -c %s "$work/output.tar.xz") bytes of tar.xz, $size bytes extracted, 2,001 files"
echo "| extractor | runs (s) | median (s) | × tar |"
echo "|---|---|---:|---:|"
echo "| tar -xJf | ${theirs[*]} | $mt | 1.00 |"
echo "| construir extract | ${ours[*]} | $mo | $(awk -v a="$mo" -v b="$mt" 'BEGIN { printf "%.2f", a / b }') |"
