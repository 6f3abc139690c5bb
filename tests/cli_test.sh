#!/usr/bin/env bash
# Black-box tests of the tessl command line: help for every command, clear errors on bad input,
# `devices` and `selftest` on the real device. Usage: cli_test.sh PATH/TO/tessl
set -u
tessl=$1
passed=0
failed=0
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# expect NAME WANT_EXIT PATTERN_IN_OUTPUT -- ARGS...
expect() {
    local name=$1 want=$2 pattern=$3
    shift 4
    "$tessl" "$@" >"$out" 2>"$err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; cat "$out" "$err"; failed=$((failed + 1)); return
    fi
    if ! grep -qE -- "$pattern" "$out" "$err"; then
        echo "FAIL $name: output lacks /$pattern/"; cat "$out" "$err"; failed=$((failed + 1)); return
    fi
    echo "ok   $name"
    passed=$((passed + 1))
}

expect "top-level help" 0 "usage: tessl" -- --help
expect "version" 0 "^tessl [0-9]" -- --version
expect "no command" 2 "usage: tessl" --
expect "unknown command" 2 "'frobnicate' is not a tessl command" -- frobnicate
expect "option before command" 2 "unknown option '--bogus'" -- --bogus
for cmd in $("$tessl" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1}'); do
    expect "$cmd --help" 0 "usage: tessl $cmd" -- "$cmd" --help
    expect "help $cmd" 0 "usage: tessl $cmd" -- help "$cmd"
    expect "$cmd rejects unknown flag" 2 "tessl $cmd: unknown option '--no-such-flag'" -- "$cmd" --no-such-flag
done
expect "devices lists a usable device" 0 "device 0: .*" -- devices
expect "devices shows subgroup size" 0 "subgroup size: +[0-9]+" -- devices
expect "selftest passes" 0 "all kernels agree with the CPU" -- selftest --mib 4
expect "selftest bad size" 2 "--mib must be between 1 and 4096" -- selftest --mib 0
expect "bad device index" 1 "device 42 requested" -- selftest --device 42
fixtures=$(dirname "$0")/fixtures
features_out=$(mktemp --suffix=.npy)
expect "features avgpool" 0 "wrote .*avgpool output, shape 5 x 64$" -- features \
    --weights "$fixtures/features_resnet18w8.safetensors" --input "$fixtures/features_input.npy" -o "$features_out"
expect "features layer2 in chunks" 0 "layer2 output, shape 5 x 16 x 5 x 5$" -- features --layer layer2 --batch 3 \
    --weights "$fixtures/features_resnet18w8.safetensors" --input "$fixtures/features_input.npy" -o "$features_out"
expect "features needs its files" 2 "--weights, --input and -o are required" -- features --layer avgpool
expect "features bad layer" 2 "unknown layer 'fc'" -- features --layer fc \
    --weights "$fixtures/features_resnet18w8.safetensors" --input "$fixtures/features_input.npy" -o "$features_out"
expect "features input not npy" 1 "not a .npy file" -- features \
    --weights "$fixtures/features_resnet18w8.safetensors" --input "$fixtures/tessl_step.safetensors" -o "$features_out"
rm -f "$features_out"
# bench train on a tiny network: img/s, and with --profile a per-kernel table that names the kernels (a
# CPU driver runs most convolutions as im2col and GEMMs, a GPU one as conv2d_forward).
tiny_train=(bench train --arch resnet18 --width 4 --res 32 --batch 2 --projector 16-16-16 --steps 1 --warmup 1)
expect "bench train reports img/s" 0 "^tessl: [0-9.]+ img/s" -- "${tiny_train[@]}"
expect "bench train --profile names kernels" 0 "^conv2d_(forward(_cpu)?|im2col) +[0-9]+ " -- "${tiny_train[@]}" --profile --optimizer adamw
expect "bench train bad optimizer" 2 "unknown optimizer 'adam' \\(expected lars, sgd or adamw\\)" -- \
    "${tiny_train[@]}" --optimizer adam
TESSL_DEVICE=zz expect "bad TESSL_DEVICE" 2 "TESSL_DEVICE='zz' is not a device index" -- selftest

# augment: one image through the GPU chain; errors name the bad key or value.
src="${TESSL_FIXTURES:-$(dirname "$0")/fixtures}/augment_src.png"
tmpdir=$(mktemp -d)
trap 'rm -f "$out" "$err"; rm -rf "$tmpdir"' EXIT
params='crop=3,5,20,30 flip=1 brightness=1.2 contrast=0.8 saturation=1.1 hue=-0.05 order=2,0,3,1 gray=0 blur=1.3 solarize=1'
expect "augment to npy" 0 "wrote .*a.npy" -- augment "$src" --params "$params" --size 17 -o "$tmpdir/a.npy"
if [ -f "$tmpdir/a.npy" ] && [ "$(stat -c %s "$tmpdir/a.npy")" -eq $((128 + 17 * 17 * 3 * 4)) ]; then
    echo "ok   augment npy size"; passed=$((passed + 1))
else
    echo "FAIL augment npy size"; failed=$((failed + 1))
fi
expect "augment to png" 0 "wrote .*b.png" -- augment "$src" --params "gray=1 blur=0.5" --size 9 -o "$tmpdir/b.png"
expect "augment unknown key" 2 "unknown key 'brightnes'" -- augment "$src" --params "brightnes=1" -o "$tmpdir/c.png"
expect "augment bad order" 2 "order='1,1,2,3' must be a permutation" -- augment "$src" --params "order=1,1,2,3" -o "$tmpdir/c.png"
expect "augment bad value" 2 "hue='x' is not a number" -- augment "$src" --params "hue=x" -o "$tmpdir/c.png"
expect "augment crop outside" 2 "crop=0,0,100,3 leaves the" -- augment "$src" --params "crop=0,0,100,3" -o "$tmpdir/c.png"
expect "augment not key=value" 2 "'flip' is not key=value" -- augment "$src" --params "flip" -o "$tmpdir/c.png"
expect "augment output type" 2 "must end in .png or .npy" -- augment "$src" -o "$tmpdir/c.jpg"
expect "augment missing input" 1 "no-such.png" -- augment "$tmpdir/no-such.png" -o "$tmpdir/c.png"

# docs/CLI.md is generated from these help texts; it must match the binary.
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/tools/gen_cli_doc.sh" "$tessl" "$out.md" > /dev/null
if diff -q "$out.md" "$here/docs/CLI.md" > /dev/null; then
    echo "ok   docs/CLI.md matches the binary's help"
    passed=$((passed + 1))
else
    echo "FAIL docs/CLI.md is out of date: run tools/gen_cli_doc.sh"
    failed=$((failed + 1))
fi
rm -f "$out.md"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
