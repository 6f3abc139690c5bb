#!/usr/bin/env bash
# README's main command end to end at its quick size (tessl demo --quick), then the report it writes:
# OUT/report/report.html with both networks' Figure 1 numbers, the loss curves and the preview inline.
set -euo pipefail
TESSL=$1
OUT=$2
fail() { echo "FAIL: $*"; exit 1; }

"$TESSL" demo --quick --out "$OUT" > "$OUT.stdout" || { cat "$OUT.stdout"; fail "demo failed"; }
cat "$OUT.stdout"
R="$OUT/report"
for f in report.html figure1.png figure1.svg loss.png loss.svg; do [ -s "$R/$f" ] || fail "no $R/$f"; done
grep -q "report (open it in a browser): $R/report.html" "$OUT.stdout" || fail "report path not printed"
grep -q "<tr><td>0</td>" "$R/report.html" || fail "no lambda 0 row"
grep -q "<tr><td>0.2</td>" "$R/report.html" || fail "no lambda 0.2 row"
grep -q "data:image/png;base64," "$R/report.html" || fail "preview not embedded"
[ "$(grep -c '<svg' "$R/report.html")" -eq 2 ] || fail "figures not inline"
echo "ok   tessl demo --quick ran and wrote its report"
