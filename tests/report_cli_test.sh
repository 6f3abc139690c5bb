#!/usr/bin/env bash
# tessl report on small generated inputs: a sweep folder with three analyses (one placed by its
# checkpoint's metadata rather than a "lambda" key), two runs, a preview image, and a tessl-neural
# result. The page must hold the numbers with their CIs and n, the figures must be there (PNG and SVG,
# with one marker per plotted point), the page must be self-contained and deterministic, and bad
# inputs must be refused with a message naming them.
set -euo pipefail
TESSL=$1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A header-only safetensors file whose metadata gives lambda (all tessl report reads of a checkpoint).
checkpoint() {
    local header="{\"__metadata__\":{\"lambda\":\"$2\"}}"
    local n=${#header}
    printf "$(printf '\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00' $((n & 255)) $((n >> 8)))%s" "$header" > "$1"
}
# log.jsonl of ten steps: loss = 10 - step, inv = 2 * loss, equi = 0.5, ce = 2.3 - step / 10.
run() {
    mkdir -p "$1"
    checkpoint "$1/checkpoint.safetensors" "$2"
    for s in 0 1 2 3 4 5 6 7 8 9; do
        echo "{\"step\":$s,\"epoch\":0,\"loss\":$((10 - s)),\"inv\":$((20 - 2 * s)),\"equi\":0.5,\"ce\":$(awk "BEGIN{print 2.3 - $s / 10}")}"
    done > "$1/log.jsonl"
}
n() { echo "{\"mean\": $1, \"ci95\": [$2, $3], \"n\": $4}"; }
# analysis LAMBDA_KEYS BASELINE DECODING PROBE SHARED AUG_CONTENT CROP_PHOTO
analysis() {
    mkdir -p "$1"
    cat > "$1/results.json" << EOF
{
  "format": "tessl-analyze",
  "version": 1,
  "weights_path": "$2",
  "baseline_path": "$3",
  $4
  "sampling": {"images": 16, "augmentations": 8, "splits": 5, "seed": 1, "decoding_train_rows": 32},
  "weights": {
    "decoding.r.mean": $(n "$5" 0.1 0.5 5),
    "bures.shared_augmentation": $(n 0.3 0.25 0.35 8),
    "probe.top1": $(n "$6" 0.2 0.6 64),
    "probe.chance": {"value": 0.1, "classes": 10},
    "probe.converged": true
  },
  "delta": {
    "decoding.r.mean": $(n 0.01 -0.02 0.04 5),
    "bures.shared_augmentation": $(n "$7" -0.0200 -0.0046 8),
    "bures.augmentation_vs_content": $(n "$8" -0.05 0.01 16),
    "bures.crop_vs_photometric": $(n "$9" -0.04 -0.01 16)
  }
}
EOF
}
S="$DIR/sweep"
run "$S/run-lambda0" 0
run "$S/run-lambda0.2" 0.2
checkpoint "$S/ck-lambda0.1.safetensors" 0.1
# lambda 0 carries its own neural score, in the per-benchmark form of the "neural" section.
analysis "$S/analysis-lambda0" "$S/run-lambda0/checkpoint.safetensors" random:1 \
    "\"lambda\": 0, \"neural\": {\"FreemanZiemba2013.V4\": {\"predictivity\": $(n 0.4321 0.41 0.45 10)}}," \
    0.2345 0.4100 0.0210 0.0300 0.0400
analysis "$S/analysis-lambda0.1" "$S/ck-lambda0.1.safetensors" "$S/run-lambda0/checkpoint.safetensors" '' \
    0.2999 0.4200 -0.0111 -0.0222 -0.0333
analysis "$S/analysis-lambda0.2" x "$S/run-lambda0/checkpoint.safetensors" '"lambda": 0.2, "baseline_lambda": 0,' \
    0.3456 0.4300 -0.0123 -0.0250 -0.0280
base64 -d > "$S/preview.png" <<< 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC'
mkdir -p "$DIR/neural"
# As tessl neural writes it: no lambda (it comes from the checkpoint), the benchmark from the responses.
cat > "$DIR/neural/results.json" << EOF
{"format": "tessl-neural", "version": 1, "weights": "$S/run-lambda0.2/checkpoint.safetensors",
 "responses": "/data/brainio/assy_dicarlo_MajajHong2015_public.nc", "region": "IT",
 "ceiling": {"mean": 0.8, "ci95": [0.7, 0.9], "n": 10, "splits": [0.8]},
 "layers": {"layer4": {"feature_dim": 512, "predictivity": {"mean": 0.512, "ci95": [0.49, 0.534], "n": 10,
            "splits": [0.5, 0.52]}, "ceiled": 0.61}},
 "best_layer": "layer4", "predictivity": {"mean": 0.512, "ci95": [0.49, 0.534], "n": 10, "splits": [0.5, 0.52]},
 "ceiled": 0.61}
EOF

"$TESSL" report "$S" "$DIR/neural/results.json" --out "$DIR/out" > "$DIR/stdout" || fail "report failed"
grep -q "wrote $DIR/out/report.html (4 results, 2 runs" "$DIR/stdout" || fail "no summary line: $(cat "$DIR/stdout")"
H="$DIR/out/report.html"
for f in report.html figure1.png figure1.svg loss.png loss.svg; do [ -s "$DIR/out/$f" ] || fail "no $f"; done
for f in figure1.png loss.png; do
    [ "$(head -c 8 "$DIR/out/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$f is not a PNG"
done
echo "ok   report.html, figure1 and loss as PNG and SVG"

want() { grep -qF -- "$1" "$H" || fail "report.html lacks '$1'"; }
want "<td>-0.0123 [-0.0200, -0.0046] n=8</td>"   # lambda 0.2, panel 2 (delta)
want "<td>-0.0111 [-0.0200, -0.0046] n=8</td>"   # lambda 0.1, placed by its checkpoint's metadata
want "<td>0.3456 [0.1000, 0.5000] n=5</td>"      # panel 3 (weights)
want "<td>-0.0280 [-0.0400, -0.0100] n=16</td>"  # panel 5
want "<td>-0.0250 [-0.0500, 0.0100] n=16</td>"   # panel 4
want "<td>0.5120 [0.4900, 0.5340] n=10</td><td>0.6100</td>" # panel 1 from tessl neural, and ceiled
want "<td>0.4321 [0.4100, 0.4500] n=10</td><td>n/a</td>"    # panel 1 from the analysis's neural section
want "<th>1 predictivity: assy_dicarlo_MajajHong2015_public</th><th>ceiled</th>"
want "<th>1 predictivity: FreemanZiemba2013.V4</th>"
want "<td>0 (reference)</td>"
want "<td>0.4100 [0.2000, 0.6000] n=64</td>"     # linear probe
want "<td>8.0000 &rarr; 3.0000</td>"              # total loss: means of the first and the last 5 steps
want "<td>16.0000 &rarr; 6.0000</td>"             # invariant term
want "data:image/png;base64,iVBORw0KGgo"
[ "$(grep -c '<svg' "$H")" -eq 2 ] || fail "expected the two figures inline"
if grep -qiE '<script|src="http|href="http|<link' "$H"; then fail "report.html is not self-contained"; fi
echo "ok   every plotted number with its CI and n, the preview inline, nothing external"

# Figure 1: panel 1 has two benchmarks of one point each, panels 2 to 5 and the probe three points each.
[ "$(grep -c '<circle' "$DIR/out/figure1.svg")" -eq 17 ] || fail "figure1.svg: expected 17 markers"
grep -q "^<svg .*</svg>$" <(tr -d '\n' < "$DIR/out/figure1.svg") || fail "figure1.svg not one <svg> element"
grep -q ">assy_dicarlo_MajajHong2015_public</text>" "$DIR/out/figure1.svg" || fail "no legend for a benchmark"
if ls "$DIR/out" | grep -q tmp; then fail "temporary files left behind"; fi
cp "$H" "$DIR/first.html"
"$TESSL" report "$S" "$DIR/neural/results.json" --out "$DIR/out" > /dev/null
cmp -s "$H" "$DIR/first.html" || fail "two reports of the same inputs differ"
echo "ok   figure markers, atomic and deterministic output"

expect_error() {
    local want=$1
    shift
    if "$TESSL" report "$@" > /dev/null 2> "$DIR/err"; then fail "accepted: $*"; fi
    grep -qF -- "$want" "$DIR/err" || fail "for '$*' expected '$want', got: $(cat "$DIR/err")"
}
expect_error "--out DIR is required" "$S"
expect_error "$DIR/nothing: no such file or folder" "$DIR/nothing" --out "$DIR/o2"
expect_error "both analyse lambda 0.2" "$S" "$S/analysis-lambda0.2" --out "$DIR/o2"
expect_error "both score lambda 0.2 on assy_dicarlo_MajajHong2015_public" "$DIR/neural" "$DIR/neural/results.json" --out "$DIR/o2"
mkdir -p "$DIR/empty"
expect_error "no results.json or log.jsonl" "$DIR/empty" --out "$DIR/o2"
echo '{"format": "other"}' > "$DIR/bad.json"
expect_error "bad.json: \"format\" is not tessl-analyze" "$DIR/bad.json" --out "$DIR/o2"
echo '{"format": "tessl-analyze", "weights_path": "nowhere", "weights": {}}' > "$DIR/nolambda.json"
expect_error "no \"lambda\"" "$DIR/nolambda.json" --out "$DIR/o2"
printf '{"format": "tessl-analyze", "lambda": 0, "weights": {"x": {"mean": 1, "ci95": [0, 2], "n": 3}}' \
    > "$DIR/truncated.json"
expect_error "truncated.json" "$DIR/truncated.json" --out "$DIR/o2"
echo '{"format": "tessl-neural", "lambda": 0.3, "best_layer": "layer4"}' > "$DIR/noscore.json"
expect_error "without \"predictivity\"" "$DIR/noscore.json" --out "$DIR/o2"
mkdir -p "$DIR/nock" && echo '{"step":0,"loss":1}' > "$DIR/nock/log.jsonl"
expect_error "checkpoint" "$DIR/nock" --out "$DIR/o2"
[ ! -e "$DIR/o2/report.html" ] || fail "a refused report wrote report.html"
echo "ok   bad inputs are refused with a message naming them"
echo "report_cli: 4 passed, 0 failed"
