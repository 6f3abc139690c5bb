#!/usr/bin/env bash
# Fault injection through the tessl binary (suite 'faults'; docs/RELIABILITY.md):
#   1. write errors: `tessl shard` and `tessl augment -o` under RLIMIT_FSIZE (`ulimit -f`, with SIGXFSZ
#      ignored so that a write past the limit fails with EFBIG as on a full disk) must exit non-zero with
#      a message naming the file, leave no half-written final file and no temporary, and keep the
#      previous version of the file byte for byte; a rerun without the limit completes.
#   2. crashes: `tessl shard` killed with SIGKILL at random moments (fixed seed), several times over the
#      same output, then rerun: the shards and report must equal an uninterrupted run's byte for byte.
#   3. hostile input to the `tessl augment` loader: an image header claiming 40000 x 40000 pixels is
#      refused before any pixel buffer is allocated (a decompression bomb), naming the file.
# Usage: fault_test.sh PATH/TO/tessl
set -u
tessl=$1
fixtures=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/tessl_faults_XXXXXX")
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/fault_lib.sh"

verifies() {
    "$tessl" inspect "$1" --verify > /dev/null
}

same_tree() { # same_tree A B: the same file names and bytes (the differences are shown when not)
    diff -r "$1" "$2" > "$dir/diff.txt" 2>&1 && return 0
    head -n 5 "$dir/diff.txt" | sed 's/^/     /'
    return 1
}

shard() { # shard SRC OUT [extra args]: the settings every run here uses
    local src=$1 out=$2
    shift 2
    "$tessl" shard "$src" "$out" --shard-size 3 --threads 2 --quiet "$@"
}

"$tessl" synth "$dir/src" --classes 3 --per-class 12 --val-per-class 3 --size 128 --seed 5 --quiet ||
    { echo "FAIL synth"; exit 1; }
shard "$dir/src" "$dir/ref" --short-side 96 || { echo "FAIL reference shard run"; exit 1; }
ref_bytes=$(stat -c %s "$dir/ref/train/shard-00000.tss")

# ---- 1. write errors ------------------------------------------------------------------------------
# A previous run's output (other settings: every shard is rewritten), then a run that cannot write.
shard "$dir/src" "$dir/out" --short-side 64 || fail "first run"
cp -r "$dir/out" "$dir/previous"
limit_kib=$(((ref_bytes + 1023) / 1024 - 1))
with_file_limit "$limit_kib" "$tessl" shard "$dir/src" "$dir/out" --shard-size 3 --threads 2 --quiet \
    --short-side 96 2> "$dir/err.txt"
rc=$?
check "shard: write error exits non-zero" test "$rc" -ne 0
check "shard: message names the file and the reason" \
    grep -qE "out/train/shard-00000.tss.*(File too large|No space)" "$dir/err.txt"
check "shard: previous shards intact, no partial file" same_tree "$dir/previous" "$dir/out"
check "shard: no temporary left behind" no_temporaries "$dir/out"
shard "$dir/src" "$dir/out" --short-side 96
check "shard: rerun without the limit completes" test $? -eq 0
check "shard: rerun equals an uninterrupted run" same_tree "$dir/ref" "$dir/out"

# A fresh output directory: the failed shard does not exist at all afterwards.
with_file_limit "$limit_kib" "$tessl" shard "$dir/src" "$dir/fresh" --shard-size 3 --threads 2 --quiet \
    --short-side 96 2> /dev/null
check "shard: fresh output has no half-written shard" test ! -e "$dir/fresh/train/shard-00000.tss"
check "shard: fresh output has no temporary" no_temporaries "$dir/fresh"

# tessl augment -o: the output is written atomically too (float32 .npy, 64 x 64 x 3 = 48 KiB).
src_png="$fixtures/fixtures/augment_src.png"
"$tessl" augment "$src_png" --params "flip=1" --size 64 -o "$dir/aug.npy" > /dev/null || fail "augment"
cp "$dir/aug.npy" "$dir/aug_previous.npy"
with_file_limit 16 "$tessl" augment "$src_png" --params "gray=1" --size 64 -o "$dir/aug.npy" \
    > /dev/null 2> "$dir/err.txt"
rc=$?
check "augment: write error exits non-zero" test "$rc" -ne 0
check "augment: message names the file" grep -qE "aug.npy.*(File too large|No space)" "$dir/err.txt"
check "augment: previous output intact" cmp -s "$dir/aug.npy" "$dir/aug_previous.npy"
check "augment: no temporary left behind" no_temporaries "$dir"

# ---- 2. SIGKILL at random moments, then resume ---------------------------------------------------
# Five output directories; each sees two runs killed after a random delay (the first may leave shards
# and temporaries, the second resumes from them), then a rerun that must complete and give exactly the
# uninterrupted run's files.
# The shortest of three uninterrupted runs: one slowed by a neighbouring test would draw delays past
# the end of most runs (uncompressed shards take only tens of milliseconds here).
run_ms=0
for t in 1 2 3; do
    start=$(date +%s%N)
    shard "$dir/src" "$dir/timing$t" --short-side 96
    ms=$((($(date +%s%N) - start) / 1000000))
    [ "$run_ms" -eq 0 ] || [ "$ms" -lt "$run_ms" ] && run_ms=$ms
    rm -rf "$dir/timing$t"
done
RANDOM=20261124 # fixed seed: the same kill delays every run (the moments still vary with the load)
interrupted=0
for i in 1 2 3 4 5; do
    for k in 1 2; do
        # The first run may get up to 80% of a full run's time; the second, which resumes from the
        # first's shards, up to 40%, so that most kills land while it still works.
        delay_ms=$((RANDOM % (run_ms * (k == 1 ? 8 : 4) / 10 + 1)))
        # The binary itself in the background (not the shell function: $! would be a subshell, and
        # killing it would leave tessl running on as an orphan).
        delay_s=$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')
        "$tessl" shard "$dir/src" "$dir/killed$i" --shard-size 3 --threads 2 --quiet --short-side 96 \
            2> /dev/null &
        pid=$!
        sleep "$delay_s"
        kill -KILL "$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
        rc=$?
        [ "$rc" -eq 137 ] && interrupted=$((interrupted + 1))
        echo "     directory $i, run $k: SIGKILL after ${delay_ms} ms of a ~${run_ms} ms run (exit $rc)"
    done
    shard "$dir/src" "$dir/killed$i" --short-side 96 2> "$dir/err.txt"
    rc=$?
    [ "$rc" -eq 0 ] || sed 's/^/     /' "$dir/err.txt"
    check "kill $i: rerun completes" test "$rc" -eq 0
    check "kill $i: shards and report equal an uninterrupted run" same_tree "$dir/ref" "$dir/killed$i"
    check "kill $i: inspect --verify passes" verifies "$dir/killed$i"
done
echo "     $interrupted of 10 runs were killed while running"
check "kill: some runs were really interrupted" test "$interrupted" -ge 2

# ---- 3. a decompression bomb given to tessl augment -----------------------------------------------
bomb="$fixtures/fuzz/corpus/image/bomb_40000.png"
"$tessl" augment "$bomb" -o "$dir/bomb.png" > /dev/null 2> "$dir/err.txt"
rc=$?
check "bomb: refused with exit 1" test "$rc" -eq 1
check "bomb: message names the file and the limit" grep -q "bomb_40000.png: PNG header claims 40000x40000" \
    "$dir/err.txt"

echo "$passed passed, $failed failed"
test "$failed" -eq 0
