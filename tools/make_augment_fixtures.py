#!/usr/bin/python3
"""Writes tests/fixtures/augment_fixtures.bin: small random images, parameter sets, and what torchvision's
functional ops (on float64 tensors in [0, 1]) make of them, for test_augment's comparison of tessl's GPU
chain with torchvision. Also writes tests/fixtures/augment_src.png for the CLI test.

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14); never needed to build or test tessl.
The output is deterministic (fixed seed), so re-running it rewrites the same bytes.

Format (little-endian):
  b"TSLAUGF1", u32 n_images, then per image: u32 width, u32 height, width*height*3 bytes RGB8 HWC padded
  with zeros to a multiple of 4;
  u32 n_cases, then per case: u32 image, u32 size, u32 bicubic, u32 top, left, height, width (source
  pixels), u32 flip, u32 jitter, u32 order[4], f32 brightness, contrast, saturation, hue, f32 sigma (0: no
  blur), u32 gray, u32 solarize, then f32 expected[3 * size * size] (CHW, in [0, 1], before
  normalisation).
"""
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode

SOLARIZE_THRESHOLD = np.float32(128 / 255)  # the float32 value tessl uses


def chain(img_u8, c):
    """tessl's chain in torchvision: resized_crop (antialias, clamped as a uint8 store would), hflip,
    jitter in order, grayscale, gaussian_blur (kernel 2*ceil(3 sigma)+1), solarize."""
    x = torch.from_numpy(img_u8.copy()).permute(2, 0, 1).double() / 255
    interp = InterpolationMode.BICUBIC if c["bicubic"] else InterpolationMode.BILINEAR
    x = F.resized_crop(x, c["top"], c["left"], c["height"], c["width"], [c["size"], c["size"]],
                       interpolation=interp, antialias=True).clamp(0, 1)
    if c["flip"]:
        x = F.hflip(x)
    if c["jitter"]:
        ops = [lambda t: F.adjust_brightness(t, c["factors"][0]),
               lambda t: F.adjust_contrast(t, c["factors"][1]),
               lambda t: F.adjust_saturation(t, c["factors"][2]),
               lambda t: F.adjust_hue(t, c["factors"][3])]
        for op in c["order"]:
            x = ops[op](x)
    if c["gray"]:
        x = F.rgb_to_grayscale(x, num_output_channels=3)
    if c["sigma"] > 0:
        k = 2 * math.ceil(3 * c["sigma"]) + 1
        x = F.gaussian_blur(x, [k, k], [c["sigma"], c["sigma"]])
    if c["solarize"]:
        x = F.solarize(x, float(SOLARIZE_THRESHOLD))
    return x.numpy().astype(np.float32)


def random_case(rng, image_index, w, h):
    ch = int(rng.integers(1, h + 1))
    cw = int(rng.integers(1, w + 1))
    f32 = lambda v: float(np.float32(v))
    return {
        "image": image_index, "size": int(rng.choice([7, 11, 16])), "bicubic": int(rng.integers(0, 2)),
        "top": int(rng.integers(0, h - ch + 1)), "left": int(rng.integers(0, w - cw + 1)),
        "height": ch, "width": cw, "flip": int(rng.integers(0, 2)), "jitter": int(rng.random() < 0.8),
        "order": [int(v) for v in rng.permutation(4)],
        "factors": [f32(rng.uniform(0.6, 1.4)), f32(rng.uniform(0.6, 1.4)), f32(rng.uniform(0.8, 1.2)),
                    f32(rng.uniform(-0.1, 0.1))],
        "sigma": f32(rng.uniform(0.1, 2.0)) if rng.random() < 0.6 else 0.0,
        "gray": int(rng.random() < 0.3), "solarize": int(rng.random() < 0.4),
    }


def main():
    root = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    rng = np.random.default_rng(20261124)
    sizes = [(13, 7), (41, 29), (24, 32), (6, 50)]
    images = []
    for w, h in sizes:
        # Smooth gradients plus noise: saturated and dull pixels, so every op has something to do.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0.5 * np.sin(xx + yy)], -1)
        img = np.clip(base * 255 + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
        images.append(img)
    cases = [random_case(rng, i % len(sizes), *sizes[i % len(sizes)]) for i in range(12)]

    out = bytearray(b"TSLAUGF1")
    out += struct.pack("<I", len(images))
    for img in images:
        h, w, _ = img.shape
        data = img.tobytes()
        out += struct.pack("<II", w, h) + data + b"\0" * (-len(data) % 4)
    out += struct.pack("<I", len(cases))
    for c in cases:
        out += struct.pack("<7I", c["image"], c["size"], c["bicubic"], c["top"], c["left"], c["height"],
                           c["width"])
        out += struct.pack("<2I4I", c["flip"], c["jitter"], *c["order"])
        out += struct.pack("<5f", *c["factors"], c["sigma"])
        out += struct.pack("<2I", c["gray"], c["solarize"])
        out += chain(images[c["image"]], c).astype("<f4").tobytes()
    (root / "augment_fixtures.bin").write_bytes(bytes(out))
    Image.fromarray(images[1]).save(root / "augment_src.png")
    print(f"wrote {len(images)} images and {len(cases)} cases to {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
