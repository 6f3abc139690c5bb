#!/usr/bin/env bash
# tessl train end to end on tiny data (narrow ResNet-18 at 32 px): the log and checkpoint are written, a
# run stopped and resumed equals an uninterrupted one byte for byte (for each optimizer), a resume with
# other settings or another optimizer is refused, the log has gradient norms, SIGKILL at any moment
# loses nothing, Ctrl-C saves a checkpoint, and a diverging run stops naming the step.
set -euo pipefail
TESSL=$1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$TESSL" synth "$DIR/src" --classes 3 --per-class 8 --val-per-class 1 --size 40 --seed 3 --quiet
"$TESSL" shard "$DIR/src" "$DIR/shards" --short-side 36 --quiet
train() {
    "$TESSL" train --data "$DIR/shards" --arch resnet18 --width 4 --res 32 --batch 2 --epochs 4 \
        --projector 16-16-16 --classifier --warmup-epochs 1 --seed 5 --quiet "$@"
}

train --out "$DIR/a" --max-steps 8
[ "$(wc -l < "$DIR/a/log.jsonl")" -eq 8 ] || fail "expected 8 log lines"
grep -q '"step":7,"epoch":1,"loss":' "$DIR/a/log.jsonl" || fail "log lacks step 7"
echo "ok   train writes a log line per step and a checkpoint"

train --out "$DIR/b" --max-steps 3
train --out "$DIR/b" --max-steps 8 --resume
cmp "$DIR/a/checkpoint.safetensors" "$DIR/b/checkpoint.safetensors" || fail "resumed run differs from uninterrupted"
diff <(cut -d, -f1-6 "$DIR/a/log.jsonl") <(cut -d, -f1-6 "$DIR/b/log.jsonl") || fail "resumed losses differ"
echo "ok   resume equals the uninterrupted run (checkpoint byte for byte, every loss)"

# The same for the other optimisers, whose state (SGD's momentum, AdamW's two moments and its step count
# in the bias correction) must survive the checkpoint too.
for opt in sgd adamw; do
    train --out "$DIR/$opt-a" --max-steps 6 --optimizer $opt
    train --out "$DIR/$opt-b" --max-steps 3 --optimizer $opt
    train --out "$DIR/$opt-b" --max-steps 6 --optimizer $opt --resume
    cmp "$DIR/$opt-a/checkpoint.safetensors" "$DIR/$opt-b/checkpoint.safetensors" || fail "$opt: resumed run differs"
    diff <(cut -d, -f1-6 "$DIR/$opt-a/log.jsonl") <(cut -d, -f1-6 "$DIR/$opt-b/log.jsonl") || fail "$opt: losses differ"
done
grep -qa '"nu.conv1.weight"' "$DIR/adamw-a/checkpoint.safetensors" || fail "AdamW checkpoint lacks its second moments"
grep -qa '"optimizer":"adamw"' "$DIR/adamw-a/checkpoint.safetensors" || fail "AdamW checkpoint does not name its optimizer"
if train --out "$DIR/adamw-b" --max-steps 7 --resume 2> "$DIR/err"; then fail "resume with another optimizer"; fi
grep -q "holds the state of optimizer adamw; this run asks for --optimizer lars" "$DIR/err" \
    || { cat "$DIR/err"; fail "unclear optimizer mismatch message"; }
echo "ok   sgd and adamw: resume equals the uninterrupted run; another optimizer is refused"

# Every log line carries the gradient norms (global and per stage) and memory in use.
for key in '"grad_norm":' '"grad_norms":{"stem":' '"layer4":' '"g_inv":' '"g_equi":' '"classifier":' \
    '"vk_in_use_mib":' '"host_rss_mib":'; do
    [ "$(grep -c "$key" "$DIR/a/log.jsonl")" -eq 8 ] || fail "log lines lack $key"
done
if grep -q '"grad_norm":0,' "$DIR/a/log.jsonl"; then fail "a zero gradient norm was logged"; fi
echo "ok   the log has gradient norms per step and stage, and memory in use"

# A kill after a step is logged but before it is checkpointed: the log holds a step (and a half line)
# that the checkpoint does not; resuming must drop them, so each step is logged once.
printf '{"step":8,"epoch":1,"loss":1}\n{"step":9,"ep' >> "$DIR/b/log.jsonl"
train --out "$DIR/b" --max-steps 9 --resume
steps=$(sed 's/^{"step":\([0-9]*\),.*/\1/' "$DIR/b/log.jsonl" | tr '\n' ' ')
[ "$steps" = "0 1 2 3 4 5 6 7 8 " ] || fail "log after resume holds steps: $steps"
grep -q '"step":8,"epoch":1,"loss":1}' "$DIR/b/log.jsonl" && fail "the uncheckpointed step's line was kept"
echo "ok   resume drops log lines of steps the checkpoint does not hold"

# SIGKILL at seeded random moments (start-up, mid-step, mid-checkpoint), resuming after each, then to
# the end: the checkpoint and every logged loss must equal an uninterrupted run's (48 steps, ~5 s).
long_args=(train --data "$DIR/shards" --arch resnet18 --width 4 --res 32 --batch 2 --epochs 8
    --projector 16-16-16 --classifier --warmup-epochs 1 --seed 5 --quiet --checkpoint-every 1)
"$TESSL" "${long_args[@]}" --out "$DIR/u"
RANDOM=11
killed=0
for attempt in 1 2 3 4; do
    resume=()
    [ -s "$DIR/k/checkpoint.safetensors" ] && resume=(--resume)
    # exec: $! must be tessl itself, not a subshell whose kill would leave tessl running.
    (exec "$TESSL" "${long_args[@]}" --out "$DIR/k" "${resume[@]}" 2> /dev/null) &
    pid=$!
    d=$((RANDOM % 20 + 3))
    sleep "$((d / 10)).$((d % 10))"
    kill -9 $pid 2> /dev/null || true
    status=0
    wait $pid || status=$?
    [ $status -eq 137 ] && killed=$((killed + 1))
done
[ $killed -ge 2 ] || fail "only $killed of 4 runs were killed mid-run"
resume=()
[ -s "$DIR/k/checkpoint.safetensors" ] && resume=(--resume)
"$TESSL" "${long_args[@]}" --out "$DIR/k" "${resume[@]}"
cmp "$DIR/u/checkpoint.safetensors" "$DIR/k/checkpoint.safetensors" || fail "killed-and-resumed run differs"
diff <(cut -d, -f1-6 "$DIR/u/log.jsonl") <(cut -d, -f1-6 "$DIR/k/log.jsonl") || fail "killed run's log differs"
if ls "$DIR/k" | grep -q "\.tmp\."; then fail "temporaries left behind: $(ls "$DIR/k")"; fi
echo "ok   SIGKILL at random moments ($killed kills) then resume equals the uninterrupted run"

"$TESSL" export "$DIR/a/checkpoint.safetensors" -o "$DIR/model.safetensors" > "$DIR/out"
grep -q "wrote .*model.safetensors: [0-9]* tensors" "$DIR/out" || fail "export"
grep -qa '"layer4.1.bn2.num_batches_tracked"' "$DIR/model.safetensors" || fail "export lacks num_batches_tracked"
if grep -qa '"mu\.' "$DIR/model.safetensors"; then fail "export kept optimiser state"; fi
if "$TESSL" export "$DIR/model.safetensors" -o "$DIR/x.safetensors" 2> "$DIR/err"; then fail "export of export"; fi
grep -q "not a tessl checkpoint" "$DIR/err" || fail "unclear export error"
echo "ok   export keeps weights and statistics under torchvision names, drops optimiser state"

if train --out "$DIR/b" --max-steps 9 --resume --lambda 0.5 2> "$DIR/err"; then fail "resume with other lambda"; fi
grep -q "was trained with lambda=0.2; this run asks for lambda=0.5" "$DIR/err" || fail "unclear mismatch message"
echo "ok   resume with other settings is refused naming the setting"

# The binary itself in the background (not the shell function), so that $! is tessl's PID.
"$TESSL" train --data "$DIR/shards" --arch resnet18 --width 4 --res 32 --batch 2 --epochs 100 \
    --projector 16-16-16 --seed 5 --quiet --out "$DIR/c" --checkpoint-every 0 2> "$DIR/err" &
pid=$!
for _ in $(seq 1 300); do [ -s "$DIR/c/log.jsonl" ] && break; sleep 0.1; done
kill -INT $pid
if wait $pid; then fail "interrupted run exited 0"; fi
grep -q "interrupted after step [0-9]*; saved .*checkpoint.safetensors (continue with --resume)" "$DIR/err" \
    || fail "no interruption message"
[ -s "$DIR/c/checkpoint.safetensors" ] || fail "no checkpoint after Ctrl-C"
echo "ok   Ctrl-C saves a checkpoint and says how to continue"

if train --out "$DIR/d" --max-steps 6 --lr 1e30 --lr-biases 1e30 2> "$DIR/err"; then fail "diverging run exited 0"; fi
grep -qi "step [0-9]" "$DIR/err" && grep -qiE "non-finite|NaN|Inf" "$DIR/err" || { cat "$DIR/err"; fail "no step/term"; }
echo "ok   a diverging run stops naming the step and the term"

if "$TESSL" train --data "$DIR/shards" --out "$DIR/e" --arch resnet99 2> "$DIR/err"; then fail "bad arch"; fi
grep -q "unknown architecture 'resnet99'" "$DIR/err" || fail "unclear architecture message"
echo "train_cli: 10 passed, 0 failed"
