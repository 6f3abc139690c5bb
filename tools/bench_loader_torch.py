#!/usr/bin/python3
"""The PyTorch baseline for `tessl bench loader`: torchvision ImageFolder + DataLoader with PIL decoding,
RandomResizedCrop(224) and, with --paired, the two-view TeSSL / Barlow Twins augmentation, on the same
synth images, per CPU core. Uses Debian's python3-torch (CPU); never a dependency of tessl.

Usage: tools/bench_loader_torch.py SRC [--workers N] [--batch 64] [--paired] [--min-time 5]
                                   [--tessl build/tessl --shards OUT]

SRC is an ImageFolder tree (`tessl synth` output: SRC/train is used when it exists). --workers 0 runs
everything in this process (one core); N > 0 uses N DataLoader worker processes, each with one torch
thread, so img/s divided by max(N, 1) is the rate per core. With --tessl and --shards (the OUT of
`tessl shard SRC OUT`), `tessl bench loader` runs on the same images with --threads max(N, 1) and both
rates are printed.

What is compared: torch decodes JPEG and augments on the CPU for every epoch; tessl decodes once when
sharding, then streams pre-resized pixels (zstd) into device memory, where augmentation runs as shaders.
The per-core rates show how much CPU each needs per delivered image.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def single_view():
    return transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
                               transforms.ToTensor()])


def tessl_view(blur_p, solarize_p):
    """One view of the Barlow Twins augmentation, which TeSSL's two views follow."""
    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    return transforms.Compose([
        transforms.RandomResizedCrop(224, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.RandomApply([transforms.GaussianBlur(23, sigma=(0.1, 2.0))], p=blur_p),
        transforms.RandomSolarize(128, p=solarize_p),
        transforms.ToTensor(),
        normalize,
    ])


class TwoViews:
    def __init__(self):
        self.first, self.second = tessl_view(1.0, 0.0), tessl_view(0.1, 0.2)

    def __call__(self, image):
        return self.first(image), self.second(image)


def init_worker(_):
    torch.set_num_threads(1)


def bench_torch(src, workers, batch, paired, min_time):
    dataset = datasets.ImageFolder(src, transform=TwoViews() if paired else single_view())
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        worker_init_fn=init_worker if workers > 0 else None,
                        persistent_workers=workers > 0)
    torch.set_num_threads(1)
    images, t0, c0, warm = 0, None, None, 2
    while True:
        for _ in loader:
            if warm > 0:  # first batches: worker start-up
                warm -= 1
                if warm == 0:
                    t0, c0 = time.perf_counter(), time.process_time()
                continue
            images += batch
            if time.perf_counter() - t0 >= min_time:
                # CPU seconds of this process (all its threads); worker processes are not included, so it
                # is the per-core cost only with --workers 0.
                return len(dataset), images, time.perf_counter() - t0, time.process_time() - c0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--paired", action="store_true", help="two TeSSL views per image")
    p.add_argument("--min-time", type=float, default=5.0)
    p.add_argument("--tessl", help="path of the tessl binary, to run tessl bench loader too")
    p.add_argument("--shards", help="the OUT of tessl shard SRC OUT (with --tessl)")
    a = p.parse_args()
    src = os.path.join(a.src, "train") if os.path.isdir(os.path.join(a.src, "train")) else a.src
    cores = max(a.workers, 1)
    n, images, seconds, cpu = bench_torch(src, a.workers, a.batch, a.paired, a.min_time)
    views = "two TeSSL views" if a.paired else "RandomResizedCrop(224)"
    rate = images / seconds
    per_cpu = images / cpu if a.workers == 0 else None
    print(f"torch: {src}, {n} images, batch {a.batch}, {views}, {cores} core(s): {images} source images in "
          f"{seconds:.2f} s: {rate:.1f} img/s, {rate / cores:.1f} img/s per core"
          + (f", {per_cpu:.1f} img per CPU second" if per_cpu else ""))
    if a.tessl and a.shards:
        cmd = [a.tessl, "bench", "loader", "--data", a.shards, "--threads", str(cores), "--batch",
               str(a.batch), "--min-time", str(a.min_time)] + (["--paired"] if a.paired else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        sys.stdout.write(out)
        m = re.search(r"([0-9.]+) img/s per thread", out)
        if m:
            print(f"tessl / torch per core (wall): {float(m.group(1)) / (rate / cores):.1f}x "
                  f"(tessl images are delivered into device memory, not yet augmented)")
        m = re.search(r"([0-9.]+) img per CPU second", out)
        if m and per_cpu:
            print(f"tessl / torch per CPU second: {float(m.group(1)) / per_cpu:.1f}x")


if __name__ == "__main__":
    main()
