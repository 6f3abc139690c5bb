#!/usr/bin/env bash
# Data-parallel scaling of `tessl train` (docs/DISTRIBUTED.md): one process against `mpirun -np R` at the
# same global batch (strong scaling) and at R times the batch (weak scaling), on synthetic data.
# Prints the median images/s of the timed steps (the first 2 steps, which compile pipelines, are
# skipped) and the efficiency = throughput(R ranks) / (R x throughput(1 process)).
#   tools/bench_mpi.sh [build/tessl] [R] [extra train options...]
# Defaults: narrow ResNet-18 (width 16) at 64 px, global batch 16 pairs, 12 steps. On one GPU per rank,
# pass --device nothing (each rank takes the GPU of its local rank).
set -euo pipefail
TESSL=${1:-build/tessl}
R=${2:-2}
shift 2 || true
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
"$TESSL" synth "$DIR/src" --classes 4 --per-class 120 --val-per-class 1 --size 80 --seed 1 --quiet
"$TESSL" shard "$DIR/src" "$DIR/shards" --short-side 72 --quiet 2> /dev/null
B=16
args=(train --data "$DIR/shards" --arch resnet18 --width 16 --res 64 --epochs 10 --max-steps 12
    --projector 256-256-256 --warmup-epochs 1 --seed 1 --quiet "$@")
median() { # median img_per_s of steps >= 2
    sed -n 's/.*"step":\([0-9]*\),.*"img_per_s":\([0-9.e+]*\),.*/\1 \2/p' "$1" | awk '$1 >= 2 {print $2}' |
        sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}
"$TESSL" "${args[@]}" --batch $B --out "$DIR/one"
mpirun --oversubscribe --bind-to none -np "$R" "$TESSL" "${args[@]}" --batch $B --out "$DIR/strong"
"$TESSL" "${args[@]}" --batch $((B * R)) --out "$DIR/one_big"
mpirun --oversubscribe --bind-to none -np "$R" "$TESSL" "${args[@]}" --batch $((B * R)) --out "$DIR/weak"
one=$(median "$DIR/one/log.jsonl") strong=$(median "$DIR/strong/log.jsonl")
one_big=$(median "$DIR/one_big/log.jsonl") weak=$(median "$DIR/weak/log.jsonl")
awk -v r="$R" -v b="$B" -v a="$one" -v s="$strong" -v c="$one_big" -v w="$weak" 'BEGIN {
    printf "global batch %d pairs: 1 process %.1f img/s, %d ranks %.1f img/s, efficiency %.2f\n", b, a, r, s, s / (r * a)
    printf "global batch %d pairs: 1 process %.1f img/s, %d ranks %.1f img/s, weak-scaling efficiency %.2f (%d ranks / (%d x 1 process at batch %d)), %.2fx 1 process at batch %d\n",
        b * r, c, r, w, w / (r * a), r, r, b, w / c, b * r }'
