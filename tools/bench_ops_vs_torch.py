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
    skip = {"op", "seconds", "gflops", "gbs", "reps"}
    for r in rows:
        shape = " ".join(f"{k}={v}" for k, v in r.items() if k not in skip)
        builder = BUILDERS.get(r["op"])
        if builder is None:
            print(f"| {r['op']} | {shape} | {r['seconds'] * 1e3:.3f} | (no PyTorch replay) | | {r['gflops']:.2f} |")
            continue
        with torch.no_grad():
            t = best_time(builder(r), args.min_time)
        print(f"| {r['op']} | {shape} | {r['seconds'] * 1e3:.3f} | {t * 1e3:.3f} | {t / r['seconds']:.2f} "
              f"| {r['gflops']:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
