#!/usr/bin/env bash
# Faults during `tessl train` (suite 'faults'; docs/RELIABILITY.md), on a tiny network (narrow
# ResNet-18 at 32 px, 16 steps):
#   1. a write error (RLIMIT_FSIZE with SIGXFSZ ignored, as a full disk) while checkpointing: exit
#      non-zero naming the file, the previous checkpoint byte for byte intact, no temporary; resuming
#      without the limit ends equal to an uninterrupted run;
#   2. VK_ERROR_DEVICE_LOST injected (TESSL_FAULT=device-lost:submit=N) at several moments: a message
#      saying the device was lost and which checkpoint survives, that checkpoint intact; resuming ends
#      equal to an uninterrupted run;
#   3. device memory exhausted (TESSL_FAULT=device-oom:block=1; this tiny run needs one block): a
#      message naming the allocation that failed, exit 1, no crash (the sanitizer build runs this too).
# Usage: train_fault_test.sh PATH/TO/tessl
set -u
tessl=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/tessl_train_faults_XXXXXX")
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/fault_lib.sh"
same_losses() { diff <(cut -d, -f1-6 "$1/log.jsonl") <(cut -d, -f1-6 "$2/log.jsonl") > /dev/null; }

"$tessl" synth "$dir/src" --classes 3 --per-class 8 --val-per-class 1 --size 40 --seed 3 --quiet &&
    "$tessl" shard "$dir/src" "$dir/shards" --short-side 36 --quiet || { echo "FAIL data"; exit 1; }
train() { # OUT [extra args]
    local out=$1
    shift
    "$tessl" train --data "$dir/shards" --arch resnet18 --width 4 --res 32 --batch 2 --epochs 2 \
        --projector 16-16-16 --classifier --warmup-epochs 1 --seed 5 --quiet --checkpoint-every 4 \
        --out "$out" "$@"
}
train "$dir/ref" || { echo "FAIL uninterrupted run"; exit 1; }
ends_like_reference() { # OUT: the final checkpoint byte for byte and every logged loss
    cmp -s "$dir/ref/checkpoint.safetensors" "$1/checkpoint.safetensors" && same_losses "$dir/ref" "$1"
}

# ---- 1. a write error while checkpointing ----------------------------------------------------------
train "$dir/w" --max-steps 4 || fail "write error: first 4 steps"
cp "$dir/w/checkpoint.safetensors" "$dir/w-step4.safetensors"
limit_kib=$(($(stat -c %s "$dir/ref/checkpoint.safetensors") / 1024 - 1))
with_file_limit "$limit_kib" "$tessl" train --data "$dir/shards" --arch resnet18 --width 4 --res 32 \
    --batch 2 --epochs 2 --projector 16-16-16 --classifier --warmup-epochs 1 --seed 5 --quiet \
    --checkpoint-every 4 --out "$dir/w" --resume 2> "$dir/err.txt"
rc=$?
check "write error: exits non-zero" test $rc -ne 0
check "write error: message names the checkpoint and the reason" \
    grep -qE "w/checkpoint.safetensors.*(File too large|No space)" "$dir/err.txt"
check "write error: message says which checkpoint survives" \
    grep -q "is intact at step 4: continue with --resume" "$dir/err.txt"
check "write error: previous checkpoint byte for byte intact" \
    cmp -s "$dir/w-step4.safetensors" "$dir/w/checkpoint.safetensors"
check "write error: no temporary left behind" no_temporaries "$dir/w"
train "$dir/w" --resume
check "write error: resume without the limit ends equal to an uninterrupted run" ends_like_reference "$dir/w"

# ---- 2. the device is lost -------------------------------------------------------------------------
# Submission ordinals spread over the run: set-up, a step before the first checkpoint, inside the first
# checkpoint's downloads, a step after it, inside the second checkpoint (a run makes ~5 submissions a
# step and ~200 a checkpoint). Which phase an ordinal hits may drift as the code changes, so each case
# checks what must hold wherever it lands, and the end checks that both kinds of ending were seen.
with_checkpoint=0
without_checkpoint=0
for at in 3 140 250 360 500; do
    run="$dir/lost$at"
    TESSL_FAULT=device-lost:submit=$at train "$run" 2> "$dir/err.txt"
    rc=$?
    check "device lost at submission $at: exits 1" test $rc -eq 1
    check "device lost at submission $at: message says so" grep -q "device lost" "$dir/err.txt"
    if [ -f "$run/checkpoint.safetensors" ]; then
        with_checkpoint=$((with_checkpoint + 1))
        steps=$(sed -n 's/.*is intact at step \([0-9]*\): continue with --resume.*/\1/p' "$dir/err.txt")
        check "device lost at submission $at: message names the surviving checkpoint" test -n "$steps"
        check "device lost at submission $at: surviving checkpoint loads" \
            "$tessl" export "$run/checkpoint.safetensors" -o "$dir/export.safetensors"
        train "$run" --resume
    else
        if [ -s "$run/log.jsonl" ]; then # training had started
            without_checkpoint=$((without_checkpoint + 1))
            check "device lost at submission $at: message says no checkpoint exists yet" \
                grep -q "no checkpoint was saved yet" "$dir/err.txt"
        fi
        train "$run"
    fi
    check "device lost at submission $at: no temporary left behind" no_temporaries "$run"
    check "device lost at submission $at: rerun ends equal to an uninterrupted run" ends_like_reference "$run"
done
check "device lost: some cases left a checkpoint ($with_checkpoint), some lost training before one" \
    test $with_checkpoint -ge 1 -a $without_checkpoint -ge 1

# ---- 3. device memory runs out -----------------------------------------------------------------
for block in 1; do
    TESSL_FAULT=device-oom:block=$block train "$dir/oom$block" 2> "$dir/err.txt"
    rc=$?
    check "device OOM at block $block: exits 1" test $rc -eq 1
    check "device OOM at block $block: message names the allocation" \
        grep -qE "allocating '[^']+' \([0-9.]+ MiB of device memory\).*no memory left" "$dir/err.txt"
done
TESSL_FAULT=device-lost:submit=x train "$dir/malformed" 2> "$dir/err.txt"
check "a malformed TESSL_FAULT is refused naming it" grep -q "TESSL_FAULT='device-lost:submit=x'" "$dir/err.txt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
