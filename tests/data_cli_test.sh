#!/bin/sh
# End-to-end check of the data commands through the binary: tessl synth -> shard -> inspect --verify,
# then a flipped byte must make inspect --verify fail naming the shard and record, and --strict must
# turn a skipped input into an error exit. Also runs `tessl bench loader`, `tessl bench shard` and
# `tessl preview`.
set -eu
TESSL="$1"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tessl_data_cli_XXXXXX")
trap 'rm -rf "$DIR"' EXIT

"$TESSL" synth "$DIR/src" --classes 3 --per-class 4 --val-per-class 1 --size 32 --seed 3 --quiet
"$TESSL" shard "$DIR/src" "$DIR/out" --short-side 24 --shard-size 5 --threads 2 --quiet --strict
"$TESSL" inspect "$DIR/out" --verify > "$DIR/inspect.txt"
grep -q "train: 3 shards, 12 records, 3 classes" "$DIR/inspect.txt"
grep -q "val: 1 shards, 3 records, 3 classes" "$DIR/inspect.txt"

# The benchmarks run end to end on these shards (numbers not checked: the machine is shared).
"$TESSL" bench loader --data "$DIR/out" --batch 2 --threads 2 --paired > "$DIR/bench.txt"
grep -q "loader: .* img/s, .* MB/s into device memory" "$DIR/bench.txt"
"$TESSL" bench shard "$DIR/src" --threads 2 > "$DIR/bench.txt"
grep -q "turbojpeg decode .* img/s, .* img per CPU second" "$DIR/bench.txt"
grep -q "shard writing .* img/s per thread, .* img per CPU second" "$DIR/bench.txt"
grep -q "shard writing costs .*x the CPU time of decoding alone.*level 0, uncompressed, compression 1.00:1" "$DIR/bench.txt"
"$TESSL" bench shard "$DIR/src" --threads 2 --level -3 > "$DIR/bench.txt"
grep -q "shard writing costs .*x the CPU time of decoding alone.*level -3, up filter, compression" "$DIR/bench.txt"

# The preview draws a batch of pairs through loader, sampler and GPU augmentation into a PNG.
"$TESSL" preview --data "$DIR/out/train" --rows 2 --size 16 -o "$DIR/preview.png" > "$DIR/preview.txt"
grep -q "wrote .*preview.png: 2 pairs" "$DIR/preview.txt"
grep -q "row 1 t': crop top" "$DIR/preview.txt"
[ "$(head -c 8 "$DIR/preview.png" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ]

# Flip one byte in the middle of the first record of train shard 1 (record data starts at byte 80).
SHARD="$DIR/out/train/shard-00001.tss"
python3 - "$SHARD" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, 'rb').read())
d[100] ^= 0x40
open(p, 'wb').write(d)
PY
if "$TESSL" inspect "$DIR/out" --verify > /dev/null 2> "$DIR/err.txt"; then
    echo "inspect --verify accepted a corrupted shard"; exit 1
fi
grep -q "shard-00001.tss: record 0: checksum mismatch" "$DIR/err.txt"

# A non-image under --strict: reported, and the exit status says so.
echo "not an image" > "$DIR/src/train/disc/zz_text.JPEG"
if "$TESSL" shard "$DIR/src" "$DIR/out2" --quiet --strict 2> /dev/null; then
    echo "--strict accepted a skipped input"; exit 1
fi
grep -q "zz_text.JPEG: not a JPEG or PNG image" "$DIR/out2/report.txt"
echo "data cli: ok"
