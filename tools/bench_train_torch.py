#!/usr/bin/python3
"""Times full TeSSL training steps in PyTorch: the baseline of `tessl bench train` (docs/PERFORMANCE.md),
on the CPU by default, on a CUDA GPU with --device cuda (there optionally with --amp and --channels-last).
Debian's python3-torch / python3-torchvision; install with `tools/setup --with-python` (OpenBLAS:
without it the projectors' matrix products use the reference BLAS).

The step is the one tools/make_train_fixture.py writes as the reference of tests/test_train_step.c, at
full size: torchvision's resnet50 (fc removed), projectors g_inv and g_equi (Linear-BN-ReLU-Linear-BN-
ReLU-Linear, no biases, --projector sizes), four forward passes module(t0), module(p0), module(t1),
module(p1) so that BatchNorm statistics are per quarter (docs/METHOD.md), the TeSSL loss (two Barlow
Twins terms with their own BatchNorm1d(affine=False)), backward, and one LARS step with Barlow Twins'
parameter groups. Inputs are random (the augmentations are not timed; tessl bench train does not time
them either). --lambda 0 drops g_equi, as tessl does.

Usage: tools/bench_train_torch.py [--arch resnet50] [--res 224] [--batch 8] [--steps 3] [--warmup 1]
                                  [--threads N] [--projector 8192-8192-8192] [--lambda 0.2] [--memory]
                                  [--device cpu|cuda] [--amp off|fp16|bf16] [--channels-last]
Prints warm-up and timed step times and img/s (4 x batch images per step).

--memory adds one more step, untimed, under torch.profiler with profile_memory=True, and prints the peak
of all tensor memory during it: the bytes of every tensor alive when the step begins (weights, gradients,
LARS momentum, BatchNorm buffers, the input) plus the highest running sum of the CPU allocator's
allocations and frees that the profiler records during the step (activations saved for backward,
temporaries, gradients). That is the counterpart of tessl's peak device memory in use (`tessl bench
train`), which also holds weights, gradients, optimizer state, activations, scratch and the input.
Memory the allocator does not see (OpenBLAS and oneDNN work buffers, the interpreter) is not counted.
On a GPU, --memory prints torch.cuda.max_memory_allocated over the timed steps instead (tensor memory
only; the caching allocator's reserve and cuDNN's workspace outside it are not counted).

--amp runs the forward passes and the loss under torch.autocast (fp16 with a GradScaler, or bf16), the
usual mixed-precision recipe; --channels-last stores the model and the input in NHWC.
"""
import argparse
import os
import time

import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile
import torchvision

from make_train_fixture import LARS, barlow, projector


class Model(nn.Module):
    def __init__(self, arch, dims, equi):
        super().__init__()
        self.backbone = getattr(torchvision.models, arch)()
        feature_dim = self.backbone.fc.in_features
        self.backbone.fc = nn.Identity()
        self.g_inv = projector(dims, feature_dim)
        self.g_equi = projector(dims, feature_dim) if equi else None
        self.bn_inv = nn.BatchNorm1d(dims[-1], affine=False)
        self.bn_equi = nn.BatchNorm1d(dims[-1], affine=False)

    def forward(self, x):
        h = self.backbone(x)
        return self.g_inv(h), self.g_equi(h) if self.g_equi is not None else None


def step(model, opt, x, n, lam, amp=None, scaler=None):
    opt.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        zs, ws = zip(*(model(q) for q in x.split(n)))  # module(t0), module(p0), module(t1), module(p1)
        loss = (1 - lam) * barlow(torch.cat([zs[0], zs[2]]), torch.cat([zs[1], zs[3]]), model.bn_inv)
        if lam > 0:
            loss = loss + lam * barlow(ws[0] - ws[1], ws[2] - ws[3], model.bn_equi)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return loss.item()  # waits for the device


def tensor_bytes(tensors):
    """Bytes of distinct tensor storages among `tensors`."""
    seen = {}
    for t in tensors:
        if t is not None:
            seen[t.storage().data_ptr()] = t.storage().nbytes()
    return sum(seen.values())


def live_bytes(model, opt, x):
    """Bytes of the tensors a step keeps between steps, by kind."""
    params = list(model.parameters())
    return {"weights": tensor_bytes(params), "gradients": tensor_bytes(p.grad for p in params),
            "optimizer state": tensor_bytes(v for st in opt.state.values() for v in st.values()
                                            if torch.is_tensor(v)),
            "BatchNorm buffers": tensor_bytes(model.buffers()), "input": tensor_bytes([x])}


def peak_memory(model, opt, x, n, lam):
    """Peak tensor bytes during one step; the bytes alive when it begins, by kind; the rise to the peak;
    and the profiler's net change against the change in live tensors (equal when no free was missed).
    The gradients are freed (set to None, as the step's own zero_grad does) before the profiler starts:
    it cannot see frees of blocks allocated before it started."""
    opt.zero_grad(set_to_none=True)
    before = live_bytes(model, opt, x)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(model, opt, x, n, lam)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_us())  # stable: equal times keep the recorded order
    now = high = 0
    for e in events:
        now += e.nbytes()
        high = max(high, now)
    after = sum(live_bytes(model, opt, x).values())
    return sum(before.values()) + high, before, high, (now, after - sum(before.values()))


def blas_library():
    """The BLAS shared object this process has mapped (after a matrix product)."""
    torch.randn(64, 64) @ torch.randn(64, 64)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower()}
    return ", ".join(sorted(os.path.basename(p) for p in libs)) or "none found"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8, help="pairs per step (4 x batch images)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--projector", default="8192-8192-8192")
    ap.add_argument("--lambda", dest="lam", type=float, default=0.2)
    ap.add_argument("--memory", action="store_true", help="one more step under the memory profiler")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--amp", default="off", choices=["off", "fp16", "bf16"])
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    cuda = a.device == "cuda"
    if a.amp != "off" and not cuda:
        ap.error("--amp needs --device cuda")
    amp = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}[a.amp]
    if cuda:
        torch.backends.cudnn.benchmark = True
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dims = [int(d) for d in a.projector.split("-")]
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = Model(a.arch, dims, a.lam > 0).train().to(a.device, memory_format=fmt)
    params = [p for p in model.parameters()]
    weights = [p for p in params if p.ndim != 1]
    biases = [p for p in params if p.ndim == 1]
    opt = LARS([{"params": weights, "lr": 0.2 * 2 * a.batch / 256},
                {"params": biases, "lr": 0.0048 * 2 * a.batch / 256}], lr=0, weight_decay=1e-6,
               weight_decay_filter=True, lars_adaptation_filter=True)
    scaler = torch.cuda.amp.GradScaler() if amp == torch.float16 else None
    x = torch.randn(4 * a.batch, 3, a.res, a.res).to(a.device, memory_format=fmt)
    where = (f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
             f"amp {a.amp}, channels_last {a.channels_last}") if cuda else f"BLAS {blas_library()}"
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()}, "
          f"{where}")
    print(f"{a.arch} at {a.res} px, {a.batch} pairs ({4 * a.batch} images) per step, projector {a.projector}, "
          f"lambda {a.lam}")
    for i in range(a.warmup):
        t0 = time.perf_counter()
        loss = step(model, opt, x, a.batch, a.lam, amp, scaler)
        print(f"warm-up step {i}: {time.perf_counter() - t0:.3f} s (loss {loss:.4f})", flush=True)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(a.steps):
        t1 = time.perf_counter()
        loss = step(model, opt, x, a.batch, a.lam, amp, scaler)
        print(f"step {i}: {time.perf_counter() - t1:.3f} s (loss {loss:.4f})", flush=True)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"torch: {4 * a.batch * a.steps / elapsed:.2f} img/s ({elapsed / a.steps:.3f} s per step, "
          f"{a.steps} steps after {a.warmup} warm-up); {4 * a.batch * a.steps / cpu:.2f} images per CPU second")
    if a.memory and cuda:
        peak = torch.cuda.max_memory_allocated()
        print(f"torch peak CUDA tensor memory: {peak / (1 << 20):.1f} MiB "
              f"({peak / (1 << 20) / (4 * a.batch):.1f} MiB per image)")
    elif a.memory:
        peak, live, high, (net, grown) = peak_memory(model, opt, x, a.batch, a.lam)
        mib = 1 << 20
        print(f"torch peak tensor memory: {peak / mib:.1f} MiB ({peak / mib / (4 * a.batch):.1f} MiB per image): "
              + ", ".join(f"{k} {v / mib:.1f}" for k, v in live.items())
              + f" alive at the start, {high / mib:.1f} more at the step's peak (allocations minus frees over "
              f"the step {net / mib:.1f} MiB, live tensors grew by {grown / mib:.1f} MiB)")


if __name__ == "__main__":
    main()
