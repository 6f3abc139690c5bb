#!/usr/bin/env bash
# tessl sweep end to end on tiny data: two lambdas trained from one seed for two steps, analysed (the
# reference against a random initialisation, the other against the reference) and reported; then the
# same checkpoints taken with --weights-list (nothing trained), scored by tessl neural too; and bad
# arguments refused.
set -euo pipefail
TESSL=$1
PLANT=$2
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$TESSL" synth "$DIR/src" --classes 3 --per-class 8 --val-per-class 4 --size 40 --seed 3 --quiet
"$TESSL" shard "$DIR/src" "$DIR/shards" --short-side 36 --quiet > /dev/null
small=(--images 8 --augmentations 4 --splits 2 --probe-images 24 --seed 5)
"$TESSL" sweep --data "$DIR/shards" --out "$DIR/s" --lambdas 0.2,0 "${small[@]}" -- --arch resnet18 \
    --width 4 --res 32 --batch 2 --epochs 1 --projector 16-16-16 --warmup-epochs 1 --max-steps 2 --quiet \
    > "$DIR/out" 2> "$DIR/err" || { cat "$DIR/err"; fail "sweep failed"; }
for f in run-lambda0/log.jsonl run-lambda0.2/checkpoint.safetensors analysis-lambda0/results.json \
    analysis-lambda0.2/results.json report/report.html report/figure1.png report/loss.svg; do
    [ -s "$DIR/s/$f" ] || fail "no $f"
done
grep -q '"baseline_path": "random:5"' "$DIR/s/analysis-lambda0/results.json" || fail "reference baseline"
grep -q '"lambda": 0,' "$DIR/s/analysis-lambda0/results.json" || fail "lambda of the reference"
grep -q '"lambda": 0.2,' "$DIR/s/analysis-lambda0.2/results.json" || fail "lambda in results.json"
grep -q '"baseline_lambda": 0,' "$DIR/s/analysis-lambda0.2/results.json" || fail "baseline_lambda"
grep -q "report (open it in a browser): $DIR/s/report/report.html" "$DIR/out" || fail "report path not printed"
# The page holds lambda 0.2's paired delta of panel 2 exactly as results.json gives it (4 decimals).
delta=$(sed -n '/^  "delta": {/,/^  }/p' "$DIR/s/analysis-lambda0.2/results.json" |
    grep '"bures.shared_augmentation"' | sed 's/.*"mean": \([^,]*\), "ci95": \[\([^,]*\), \([^]]*\)\], "n": \([0-9]*\).*/\1 \2 \3 \4/')
cell=$(echo "$delta" | awk '{printf "<td>%.4f [%.4f, %.4f] n=%d</td>", $1, $2, $3, $4}')
grep -qF -- "$cell" "$DIR/s/report/report.html" || fail "report.html lacks $cell"
[ "$(grep -c '<circle' "$DIR/s/report/figure1.svg")" -eq 10 ] || fail "figure1.svg: expected 2 points x 5 panels"
echo "ok   sweep trains, analyses against the reference and reports"

# Stimuli and responses for panel 1: 60 drawn images, random responses (the scores' values are not the
# point here; tests/neural_cli_test.sh checks them).
"$TESSL" synth "$DIR/stimsrc" --classes 3 --per-class 20 --val-per-class 0 --size 32 --seed 4 --quiet
mkdir "$DIR/stim"
echo "stimulus_id,filename" > "$DIR/stim/stimuli.csv"
for f in "$DIR"/stimsrc/train/*/*.JPEG; do
    id=$(basename "$f" .JPEG)
    cp "$f" "$DIR/stim/$id.jpg"
    echo "$id,$id.jpg" >> "$DIR/stim/stimuli.csv"
done
"$PLANT" random 60 2 6 "$DIR/responses.npy"
"$TESSL" sweep --data "$DIR/shards" --out "$DIR/w" "${small[@]}" \
    --weights-list "$DIR/s/run-lambda0/checkpoint.safetensors,$DIR/s/run-lambda0.2/checkpoint.safetensors" \
    --stimuli "$DIR/stim" --responses "$DIR/responses.npy" --neural-size 32 \
    > "$DIR/out" 2> "$DIR/err" || { cat "$DIR/err"; fail "sweep --weights-list failed"; }
for l in 0 0.2; do
    grep -q '"predictivity": {"mean": ' "$DIR/w/neural-lambda$l/results.json" || fail "no neural score for $l"
done
[ "$(grep -c '<circle' "$DIR/w/report/figure1.svg")" -eq 12 ] ||
    fail "figure1.svg: expected 2 points x 5 panels plus 2 predictivity points"
if grep -q "tessl train" "$DIR/err"; then fail "--weights-list trained"; fi
[ -s "$DIR/w/report/loss.png" ] || fail "the given runs' logs were not reported"
block() { sed -n '/^  "delta": {/,/^  }/p' "$1"; }
diff <(block "$DIR/s/analysis-lambda0.2/results.json") <(block "$DIR/w/analysis-lambda0.2/results.json") \
    > /dev/null || fail "the same checkpoints analysed twice differ"
echo "ok   --weights-list takes checkpoints (lambdas from their metadata), same numbers"

expect_error() {
    local want=$1
    shift
    if "$TESSL" sweep --data "$DIR/shards" --out "$DIR/x" "$@" > /dev/null 2> "$DIR/err"; then
        fail "accepted: $*"
    fi
    grep -qF -- "$want" "$DIR/err" || fail "for '$*' expected '$want', got: $(cat "$DIR/err")"
}
expect_error "--lambda is set by the sweep" -- --lambda 0.5
expect_error "lambda 0 is listed twice" --lambdas 0,0.0
expect_error "'x' is not a number" --lambdas 0,x
expect_error "1 lambdas for 2 --weights-list files" --lambdas 0 --weights-list a,b
expect_error "nowhere: cannot open" --weights-list nowhere
expect_error "--stimuli and --responses go together" --stimuli "$DIR/stim"
[ ! -e "$DIR/x" ] || fail "a refused sweep created its folder"
echo "ok   bad arguments are refused"
echo "sweep_cli: 3 passed, 0 failed"
