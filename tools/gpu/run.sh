#!/bin/bash
# Runs on a lent GPU machine, from the repository root, with .gl/ carried (tools/gpu/pack.sh made it):
# unpacks the build, then runs the stages named in $STAGES (default: coop gemm train profile torch
# tests augment ops) and prints a short report; longer outputs go to $OUT. Knobs: PAIRS (64), PROJ
# (8192-8192-8192), TORCH_FP16_ONLY, OPS_FILTER, TILES and SLICES (the sweep stage's candidates).
#   coop     the cooperative-matrix GEMM tests (NV and KHR)
#   gemm     tessl bench ops --filter gemm --tensor-cores
#   train    tessl bench train, ResNet-50 at 224 px (TRAIN_FLAGS: more options, e.g. --separate-update)
#   profile  the same with --profile ($OUT/profile.txt)
#   torch    tools/bench_train_torch.py --device cuda: AMP fp16 and bf16 with channels_last, and fp32
#   tests    every Check test program, 6 at a time, validation on ($OUT/tests.log)
#   sweep    conv tiles and BatchNorm lane sizes ($OUT/sweep.txt)
#   augment, loader, ops   the data side and every kernel ($OUT/ops.txt)
#   e2e      tessl train on synthetic shards: 20 steps with a checkpoint, then resumed to 25
set -u
R=$PWD T0=$(date +%s) OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
mkdir -p /tmp/g && tar xJf .gl/bundle.tar.xz -C /tmp/g || exit 1
cp -r /tmp/g/build-gpu "$R/build-gpu"
mkdir -p "$R/build-gpu/tests/cache"
# The tests carry absolute paths of the build machine (fixtures, build tree): make them lead here.
ROOT=$(cat .gl/build_root)
mkdir -p "$(dirname "$ROOT")" && ln -sfn "$R" "$ROOT"
ICD=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
    /etc/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
export VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD VK_LAYER_PATH=/tmp/g/layers XDG_CACHE_HOME=/tmp/xdg
TL="env LD_LIBRARY_PATH=/tmp/g/lib"
TS=$ROOT/build-gpu/tessl
PAIRS=${PAIRS:-64} PROJ=${PROJ:-8192-8192-8192}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
stamp devices
if ! $TL $TS devices; then
    VK_LOADER_DEBUG=error,warn,driver $TL $TS devices 2>&1 | tail -40
    exit 1
fi
quarter_sums() { # per-op sums of ms x count over the ResNet-50 shapes of a `bench ops` table
    awk -v t="$1" '/^conv2d_/{c=1; if (match($2,/count=[0-9]+/)) c=substr($2,RSTART+6,RLENGTH-6); s[$1]+=$3*c}
        END{for (o in s) printf "  %s %s %.2f ms per quarter-step\n", t, o, s[o]}' "$2" | sort
}
for stage in ${STAGES:-coop gemm train profile torch tests augment ops}; do
    case $stage in
    coop)
        stamp gemm_coopmat test
        (cd build-gpu/tests && XDG_CACHE_HOME=$R/build-gpu/tests/cache TESSL_VALIDATION=1 \
            TESSL_FIXTURES=$R/tests/fixtures timeout 90 $TL ./test_gemm_coopmat 2>&1 | grep -v ': seed' | tail -30)
        ;;
    gemm)
        stamp bench ops gemm tensor cores
        timeout 90 $TL $TS bench ops --filter gemm --tensor-cores --min-time 0.1 2>&1 | tail -30
        ;;
    train)
        stamp tessl bench train 224 px, $PAIRS pairs
        timeout 150 $TL $TS bench train --arch resnet50 --res 224 --batch $PAIRS --projector $PROJ --warmup 1 \
            --steps 3 ${TRAIN_FLAGS:-} 2>&1 | tail -40
        ;;
    profile)
        stamp tessl bench train --profile
        timeout 90 $TL $TS bench train --arch resnet50 --res 224 --batch $PAIRS --projector $PROJ --warmup 1 \
            --steps 1 --profile >"$OUT/profile.txt" 2>&1
        head -c 6000 "$OUT/profile.txt"
        ;;
    torch)
        if [ -n "${TORCH_FP16_ONLY:-}" ]; then set -- "--amp fp16 --channels-last"; else
            set -- "--amp fp16 --channels-last" "--amp bf16 --channels-last" ""; fi
        for amp in "$@"; do
            stamp torch $amp
            PYTHONUNBUFFERED=1 timeout 75 python3 tools/bench_train_torch.py --device cuda $amp --res 224 \
                --batch $PAIRS --projector $PROJ --warmup 3 --steps 10 --memory 2>&1 | grep -v "^step \|^warm" | tail -8
        done
        ;;
    tests)
        stamp tests
        export ROOT
        ls build-gpu/tests/test_* | grep -v -E 'coopmat$' | xargs -P 6 -I{} sh -c 'n=$(basename {});
            (cd build-gpu/tests && XDG_CACHE_HOME=$ROOT/build-gpu/tests/cache TESSL_VALIDATION=1 \
             TESSL_FIXTURES=$ROOT/tests/fixtures timeout 200 env LD_LIBRARY_PATH=/tmp/g/lib \
             $ROOT/build-gpu/tests/$n > /tmp/$n.log 2>&1; echo "$n rc $?" >> /tmp/$n.log)'
        for f in /tmp/test_*.log; do echo "--- $f"; cat "$f"; done >"$OUT/tests.log"
        grep -h -E "rc [1-9]" /tmp/test_*.log
        grep -h -E ":[EF]:" /tmp/test_*.log | head -30
        ;;
    sweep)
        stamp sweep
        for t in ${TILES:-0x0,0x0,0x0 8x8,8x8,8x8 16x8,16x8,16x8 8x4,8x4,16x4 16x4,16x4,16x4 4x8,4x8,4x8}; do
            timeout 90 $TL $TS bench ops --filter conv2d --res 224 --batch $PAIRS --min-time 0.03 --conv-tiles $t \
                >/tmp/sw.txt 2>&1
            echo "tiles $t rc $?" | tee -a "$OUT/sweep.txt"
            cat /tmp/sw.txt >>"$OUT/sweep.txt"
            quarter_sums "$t" /tmp/sw.txt
        done
        for b in ${SLICES:-0 2048 1024 512 256}; do
            timeout 60 $TL $TS bench ops --filter batchnorm --res 224 --batch $PAIRS --min-time 0.03 --bn-slice $b \
                >/tmp/sw.txt 2>&1
            echo "bn-slice $b rc $?" | tee -a "$OUT/sweep.txt"
            cat /tmp/sw.txt >>"$OUT/sweep.txt"
            awk -v b=$b '/^batchnorm/{s[$1]+=$3} END{for (o in s) printf "  slice %s %s %.2f ms\n", b, o, s[o]}' /tmp/sw.txt
        done
        ;;
    augment)
        stamp bench augment
        timeout 40 $TL $TS bench augment --res 224 --batch $PAIRS 2>&1 | tail -8
        ;;
    loader)
        stamp loader
        $TL $TS synth /tmp/syn --classes 10 --per-class 300 --val-per-class 1 --size 256 --quiet &&
            $TL $TS shard /tmp/syn /tmp/shards --level -3 >/dev/null &&
            timeout 60 $TL $TS bench loader --data /tmp/shards/train --paired --batch 128 --min-time 3 2>&1 | tail -6
        ;;
    e2e)
        stamp tessl train end to end: synthetic shards, 20 steps, checkpoint, resume to 25
        $TL $TS synth /tmp/syn --classes 10 --per-class 300 --val-per-class 1 --size 256 --quiet &&
            $TL $TS shard /tmp/syn /tmp/shards --level -3 >/dev/null &&
            timeout 120 $TL $TS train --data /tmp/shards --out /tmp/run --batch $PAIRS --max-steps 20 \
                --checkpoint-every 10 --quiet &&
            timeout 60 $TL $TS train --data /tmp/shards --out /tmp/run --batch $PAIRS --max-steps 25 --resume --quiet
        echo "train rc $?"
        wc -l /tmp/run/log.jsonl
        tail -2 /tmp/run/log.jsonl | cut -c1-400
        ls -la /tmp/run
        ;;
    ops)
        stamp bench ops
        timeout 120 $TL $TS bench ops --res 224 --batch $PAIRS --min-time 0.05 ${OPS_FILTER:+--filter $OPS_FILTER} \
            >"$OUT/ops.txt" 2>&1
        quarter_sums "" "$OUT/ops.txt"
        ;;
    *) echo "unknown stage $stage" ;;
    esac
done
stamp end
