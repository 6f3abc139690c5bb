#!/usr/bin/env bash
# tessl neural end to end on tiny synthetic data, a width-4 ResNet-18 with random weights at 32 px:
# responses planted as a linear function of the network's layer4 features plus trial noise must be
# predicted well (> 0.8) with a high ceiling; the same responses with stimuli shuffled must score near 0
# (|r| < 0.25: about 3 standard deviations of a mean over 10 splits of r on 15 test stimuli);
# --sweep scores five layers and picks one carrying the planted signal; a BrainIO netCDF fixture runs end
# to end (region IT, repetitions -> ceiling, object labels -> stratified splits); bad inputs are refused.
set -euo pipefail
TESSL=$1
PLANT=$2
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
number='-?[0-9][0-9.e+-]*'

"$TESSL" synth "$DIR/src" --classes 3 --per-class 50 --val-per-class 1 --size 40 --seed 3 --quiet
mkdir "$DIR/stim"
echo "stimulus_id,object_name,filename" > "$DIR/stim/stimuli.csv"
for f in "$DIR"/src/train/*/*.JPEG; do
    id=$(basename "$f" .JPEG)
    cls=$(basename "$(dirname "$f")")
    cp "$f" "$DIR/stim/$id.jpg"
    echo "$id,$cls,$id.jpg" >> "$DIR/stim/stimuli.csv"
done
n=$(($(wc -l < "$DIR/stim/stimuli.csv") - 1))
[ "$n" -eq 150 ] || fail "expected 150 stimuli, got $n"

neural() {
    "$TESSL" neural --weights random:3 --arch resnet18 --width 4 --size 32 --stimuli "$DIR/stim" --batch 16 "$@"
}
# Features of the network as tessl neural computes them (any responses will do for this run).
"$PLANT" random "$n" 4 1 "$DIR/noise.npy"
neural --responses "$DIR/noise.npy" --out "$DIR/f" --save-features > /dev/null
[ -s "$DIR/f/features_layer4.npy" ] || fail "no features_layer4.npy"
"$PLANT" plant "$DIR/f/features_layer4.npy" 20 4 0.5 7 "$DIR/planted.npy" "$DIR/shuffled.npy"

neural --responses "$DIR/planted.npy" --out "$DIR/p" > "$DIR/out"
J="$DIR/p/results.json"
grep -q '"format": "tessl-neural"' "$J" || fail "format"
grep -q '"data": {"stimuli": 150, "neuroids": 20, "trials": 4, "object_labels": 3}' "$J" || fail "data sizes"
grep -q '"stratified": true' "$J" || fail "not stratified"
score() { # KEY FILE: the mean of "KEY": {"mean": X
    grep -oE "\"$1\": \{\"mean\": $number" "$2" | head -1 | grep -oE -- "$number\$"
}
p=$(score predictivity "$J")
c=$(score ceiling "$J")
awk -v p="$p" -v c="$c" 'BEGIN { exit !(p > 0.8 && p <= 1 && c > 0.9 && c <= 1) }' ||
    fail "planted responses: predictivity $p (want > 0.8), ceiling $c (want > 0.9)"
grep -qE "\"predictivity\": \{\"mean\": $number, \"ci95\": \[$number, $number\], \"n\": 10, \"splits\": \[" "$J" ||
    fail "predictivity lacks its CI, n or splits"
grep -qE "\"ceiled\": $number" "$J" || fail "no ceiled score"
if grep -qE 'nan|inf' "$J"; then fail "non-finite number"; fi
grep -q "wrote .*results.json" "$DIR/out" || fail "no summary"
echo "ok   planted responses: predictivity $p, ceiling $c"

neural --responses "$DIR/shuffled.npy" --out "$DIR/s" > /dev/null
s=$(score predictivity "$DIR/s/results.json")
awk -v s="$s" 'BEGIN { exit !(s < 0.25 && s > -0.25) }' || fail "shuffled responses score $s (want |s| < 0.25)"
echo "ok   shuffled responses: predictivity $s"

neural --responses "$DIR/planted.npy" --out "$DIR/w" --sweep > "$DIR/out"
best=$(grep -oE '"best_layer": "[a-z0-9]+"' "$DIR/w/results.json" | grep -oE '[a-z0-9]+"$' | tr -d '"')
for l in layer1 layer2 layer3 layer4 avgpool; do
    grep -q "\"$l\": {\"feature_dim\": " "$DIR/w/results.json" || fail "sweep lacks $l"
done
# At 32 px layer4 is 1x1, so avgpool carries the same features.
[ "$best" = layer4 ] || [ "$best" = avgpool ] || fail "sweep picked $best"
echo "ok   sweep: five layers scored, best $best"

# BrainIO netCDF: the fixture's stimuli get images under their ids.
mkdir "$DIR/nc"
files=("$DIR"/stim/*.jpg)
for s in $(seq 0 11); do
    x=$(printf 'x%.0s' $(seq 1 $((s % 3))))
    [ $((s % 3)) -eq 0 ] && x=""
    cp "${files[$s]}" "$(printf '%s/nc/img%02d_%s.jpg' "$DIR" "$s" "$x")"
done
neural --responses "$TESSL_FIXTURES/neural/assembly.nc" --stimuli "$DIR/nc" --components 5 --out "$DIR/n" \
    > /dev/null
N="$DIR/n/results.json"
grep -q '"data": {"stimuli": 12, "neuroids": 3, "trials": 3, "object_labels": 3}' "$N" || fail "netCDF sizes"
grep -qE "\"ceiling\": \{\"mean\": $number, \"ci95\": \[$number, $number\], \"n\": 10" "$N" || fail "netCDF ceiling"
grep -q '"region": "IT"' "$N" || fail "region"
echo "ok   BrainIO assembly: IT neuroids, repetitions and labels used"

if neural --responses "$DIR/planted.npy" --stimulus-list "$DIR/missing.csv" --out "$DIR/e" 2> "$DIR/err"; then
    fail "a missing stimulus list was accepted"
fi
grep -q "missing.csv" "$DIR/err" || fail "unclear missing-list message: $(cat "$DIR/err")"
rm "$DIR/stim/$(basename "${files[5]}")"
if neural --responses "$DIR/planted.npy" --out "$DIR/e" 2> "$DIR/err"; then fail "a missing image was accepted"; fi
grep -q "no file .*$(basename "${files[5]}")" "$DIR/err" || fail "unclear missing-image message: $(cat "$DIR/err")"
if neural --responses "$DIR/stim/stimuli.csv" --out "$DIR/e" 2> "$DIR/err"; then fail "CSV responses accepted"; fi
grep -q "neither a .npy file nor a netCDF" "$DIR/err" || fail "unclear format message: $(cat "$DIR/err")"
if "$TESSL" neural --weights random:1 --stimuli "$DIR/stim" 2> "$DIR/err"; then fail "missing options accepted"; fi
grep -q "are required" "$DIR/err" || fail "unclear missing-option message"
[ ! -e "$DIR/e/results.json" ] || fail "a failed run left results.json"
echo "ok   bad inputs are refused with messages naming the file"
echo "neural_cli: 5 passed, 0 failed"
