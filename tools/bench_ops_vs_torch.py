#!/usr/bin/python3
"""Runs `tessl bench ops` and the same cases in PyTorch (Debian's python3-torch, CPU) in one run on this
machine, and prints a markdown table of times and ratios for docs/PERFORMANCE.md.

Usage: tools/bench_ops_vs_torch.py [--tessl build/tessl] [--batch 32] [--res 224] [--threads N]
                                   [--filter TEXT] [--min-time 0.3]

The ratio is torch time / tessl time: above 1, tessl is faster. PyTorch uses the same number of threads
as lavapipe has cores (--threads, default: all cores), fp32, contiguous NCHW.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def best_time(fn, min_time):
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    reps = max(1, min(1 << 16, int(min_time / once)))
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        elapsed = (time.perf_counter() - t0) / reps
        best = elapsed if best is None or elapsed < best else best
    return best


def rand(*shape):
    return torch.rand(*shape) * 2 - 1


# One builder per tessl op name: returns a closure that runs one iteration in PyTorch.
def build_axpy_f32(r):
    x, y = rand(r["n"]), rand(r["n"])
    return lambda: y.add_(x, alpha=0.5)


def build_copy_u32(r):
    x, y = rand(r["n"]), rand(r["n"])
    return lambda: y.copy_(x)


def build_reduce_sum_f32(r):
    x = rand(r["n"])
    return lambda: x.sum()


def conv_setup(r):
    x = rand(r["n"], r["c_in"], r["h"], r["w"])
    w = rand(r["c_out"], r["c_in"], r["k"], r["k"])
    y = F.conv2d(x, w, stride=r["stride"], padding=r["pad"])
    return x, w, torch.rand_like(y)


def conv_backward(r, mask):
    x, w, dy = conv_setup(r)
    s, p = [r["stride"]] * 2, [r["pad"]] * 2
    return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, s, p, [1, 1], False, [0, 0], 1, mask)


def build_conv2d_forward(r):
    x, w, _ = conv_setup(r)
    return lambda: F.conv2d(x, w, stride=r["stride"], padding=r["pad"])


def build_conv2d_backward_data(r):
    return conv_backward(r, [True, False, False])


def build_conv2d_backward_weights(r):
    return conv_backward(r, [False, True, False])


def bn_setup(r):
    x = rand(r["n"], r["c"], r["h"], r["w"])
    return x, torch.ones(r["c"]), torch.zeros(r["c"]), torch.zeros(r["c"]), torch.ones(r["c"])


def build_batchnorm_train_forward(r):
    x, g, b, rm, rv = bn_setup(r)
    return lambda: F.batch_norm(x, rm, rv, g, b, training=True, momentum=0.1, eps=1e-5)


def build_batchnorm_backward(r):
    x, g, b, rm, rv = bn_setup(r)
    _, save_mean, save_invstd = torch.ops.aten.native_batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5)[:3]
    dy = torch.rand_like(x)
    return lambda: torch.ops.aten.native_batch_norm_backward(dy, x, g, rm, rv, save_mean, save_invstd, True, 1e-5,
                                                             [True, True, True])


def build_relu_forward(r):
    x = rand(r["n"], r["c"], r["h"], r["w"])
    return lambda: torch.relu(x)


def build_add_relu(r):
    a, b = rand(r["n"], r["c"], r["h"], r["w"]), rand(r["n"], r["c"], r["h"], r["w"])
    return lambda: torch.add(a, b).relu_()


def build_maxpool_forward(r):
    x = rand(r["n"], r["c"], r["h"], r["w"])
    return lambda: F.max_pool2d(x, 3, 2, 1, return_indices=True)


def build_maxpool_backward(r):
    x = rand(r["n"], r["c"], r["h"], r["w"])
    y, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    dy = torch.rand_like(y)
    return lambda: torch.ops.aten.max_pool2d_with_indices_backward(dy, x, [3, 3], [2, 2], [1, 1], [1, 1], False, idx)


def build_avgpool_forward(r):
    x = rand(r["n"], r["c"], r["h"], r["w"])
    return lambda: x.mean((2, 3))


def build_gemm_f32(r):
    a, b, c = rand(r["m"], r["k"]), rand(r["k"], r["n"]), rand(r["m"], r["n"])
    return lambda: torch.mm(a, b, out=c)


def build_linear_forward(r):
    x, w = rand(r["n"], r["in"]), rand(r["out"], r["in"])
    return lambda: F.linear(x, w)


def build_linear_backward(r):
    x, w, dy = rand(r["n"], r["in"]), rand(r["out"], r["in"]), rand(r["n"], r["out"])
    return lambda: (dy @ w, dy.t() @ x)


def barlow_setup(r):
    return rand(r["n"], r["d"]), rand(r["n"], r["d"]), 0.0051


def build_barlow_forward(r):
    za, zb, lambd = barlow_setup(r)

    def run():
        c = za.t() @ zb / r["n"]
        diag = torch.diagonal(c)
        return (diag - 1).pow(2).sum() + lambd * (c.pow(2).sum() - diag.pow(2).sum())
    return run


def build_barlow_backward(r):
    za, zb, lambd = barlow_setup(r)
    c = za.t() @ zb / r["n"]

    def run():
        dc = 2 * lambd * c
        dc.diagonal().copy_(2 * (torch.diagonal(c) - 1))
        return zb @ dc.t() / r["n"], za @ dc / r["n"]
    return run


def build_cross_entropy_forward_backward(r):
    logits = rand(r["n"], r["classes"]).requires_grad_()
    labels = torch.randint(0, r["classes"], (r["n"],))
    return lambda: torch.autograd.grad(F.cross_entropy(logits, labels), logits)


BUILDERS = {name[len("build_"):]: fn for name, fn in globals().items() if name.startswith("build_")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tessl", default="build/tessl")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--filter", default=None)
    ap.add_argument("--min-time", type=float, default=0.3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cmd = [args.tessl, "bench", "ops", "--json", "--batch", str(args.batch), "--res", str(args.res),
           "--min-time", str(args.min_time)]
    if args.filter:
        cmd += ["--filter", args.filter]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"ResNet-50 shapes at {args.res}x{args.res}, batch {args.batch}; torch {torch.__version__}, "
          f"{args.threads} threads\n")
    print("| op | shape | tessl ms | torch ms | ratio (torch/tessl) | tessl GFLOP/s |")
    print("|---|---|---:|---:|---:|---:|")
    skip = {"op", "seconds", "cpu_seconds", "gflops", "gbs", "reps"}
    totals = {"tessl": 0.0, "torch": 0.0}
    for r in rows:
        shape = " ".join(f"{k}={v}" for k, v in r.items() if k not in skip)
        builder = BUILDERS.get(r["op"])
        if builder is None:
            print(f"| {r['op']} | {shape} | {r['seconds'] * 1e3:.3f} | (no PyTorch replay) | | {r['gflops']:.2f} |")
            continue
        with torch.enable_grad() if "cross_entropy" in r["op"] else torch.no_grad():
            t = best_time(builder(r), args.min_time)
        print(f"| {r['op']} | {shape} | {r['seconds'] * 1e3:.3f} | {t * 1e3:.3f} | {t / r['seconds']:.2f} "
              f"| {r['gflops']:.2f} |")
        sys.stdout.flush()
        if r["op"].startswith("conv2d"):  # each distinct convolution weighted by its use in the network
            totals["tessl"] += r["seconds"] * r["count"]
            totals["torch"] += t * r["count"]
    if totals["tessl"] > 0:
        print(f"\nAll of ResNet-50's convolutions, forward + both backward passes, weighted by use: tessl "
              f"{totals['tessl']:.2f} s, torch {totals['torch']:.2f} s, ratio {totals['torch'] / totals['tessl']:.3f}")


if __name__ == "__main__":
    main()
