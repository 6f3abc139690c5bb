#!/usr/bin/env bash
# tessl analyze end to end on tiny data: a few training steps of a width-4 ResNet-18 at 32 px against a
# random-init baseline; results.json has every measurement for both networks and their deltas, each with
# a finite mean, a finite 95% CI and its n; a checkpoint and its export give the same numbers.
set -euo pipefail
TESSL=$1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$TESSL" synth "$DIR/src" --classes 3 --per-class 8 --val-per-class 4 --size 40 --seed 3 --quiet
"$TESSL" shard "$DIR/src" "$DIR/shards" --short-side 36 --quiet > /dev/null
"$TESSL" train --data "$DIR/shards" --arch resnet18 --width 4 --res 32 --batch 2 --epochs 1 \
    --projector 16-16-16 --warmup-epochs 1 --seed 5 --quiet --out "$DIR/run" --max-steps 3
analyze() {
    "$TESSL" analyze --data "$DIR/shards" --images 8 --augmentations 4 --splits 2 --probe-images 24 \
        --batch 16 --seed 7 "$@"
}

analyze --weights "$DIR/run/checkpoint.safetensors" --baseline random:1 --out "$DIR/a" > "$DIR/out"
J="$DIR/a/results.json"
[ -s "$J" ] || fail "no results.json"
grep -q "wrote .*results.json" "$DIR/out" || fail "no summary"
grep -q '"format": "tessl-analyze"' "$J" || fail "format"
names="bures.shared_augmentation bures.augmentation_vs_content bures.crop_vs_photometric
       factorization.augmentation_vs_content probe.top1 decoding.r.mean decoding.r2.mean"
for p in crop_top crop_left crop_height crop_width flip brightness contrast saturation hue gray blur_sigma \
    solarize; do names="$names decoding.r.$p decoding.r2.$p"; done
number='-?[0-9][0-9.e+-]*'
for name in $names; do
    c=$(grep -cE "^    \"$name\": \{\"mean\": $number, \"ci95\": \[$number, $number\], \"n\": [1-9][0-9]*\}" "$J")
    [ "$c" -eq 3 ] || fail "$name: expected finite mean, CI and n in weights, baseline and delta ($c found)"
    grep -q "^  $name " "$DIR/out" || fail "$name not in the printed summary"
done
[ "$(grep -c '"n": ' "$J")" -eq 93 ] || fail "expected 31 measurements x 3 blocks"
grep -q '"probe.chance": {"value": 0.333333333, "classes": 3}' "$J" || fail "chance level"
grep -q '"sampling": {"images": 8, "augmentations": 4, "splits": 2, "seed": 7' "$J" || fail "sampling"
grep -q '"bures.shared_augmentation": {"mean": [^,]*, "ci95": [^]]*\], "n": 4}' "$J" || fail "pairs n"
grep -q '"probe.top1": {"mean": [^,]*, "ci95": [^]]*\], "n": 12}' "$J" || fail "probe n (12 val images)"
if grep -qE 'null|nan|inf' "$J"; then fail "non-finite number"; fi
grep -q "^<svg .*</svg>" <(tr -d '\n' < "$DIR/a/summary.svg") || fail "no summary.svg"
[ "$(grep -c "<circle" "$DIR/a/summary.svg")" -eq 12 ] || fail "summary.svg: expected 6 panels x 2 networks"
[ "$(head -c 8 "$DIR/a/summary.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "no summary.png"
echo "ok   results.json: every measurement of both networks and the deltas, finite, with CI and n"

"$TESSL" export "$DIR/run/checkpoint.safetensors" -o "$DIR/model.safetensors" > /dev/null
analyze --weights "$DIR/model.safetensors" --out "$DIR/b" > /dev/null
analyze --weights "$DIR/run/checkpoint.safetensors" --out "$DIR/c" > /dev/null
diff <(grep '^    "' "$DIR/b/results.json") <(grep '^    "' "$DIR/c/results.json") > /dev/null ||
    fail "export and checkpoint give different numbers"
block() { sed -n '/^  "weights": {/,/^  }/p' "$1" | grep '^    "'; }
diff <(block "$DIR/a/results.json") <(block "$DIR/c/results.json") > /dev/null || fail "not deterministic"
echo "ok   an export gives the checkpoint's numbers; one seed gives one result"

if "$TESSL" analyze --weights random:1 --data "$DIR/shards" 2> "$DIR/err"; then fail "no --out accepted"; fi
grep -q "are required" "$DIR/err" || fail "unclear missing-option message"
if analyze --weights "$DIR/src" --out "$DIR/d" 2> "$DIR/err"; then fail "folder as weights accepted"; fi
echo "ok   bad arguments are refused"
echo "analyze_cli: 3 passed, 0 failed"
