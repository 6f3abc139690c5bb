#!/usr/bin/python3
"""Checks `tessl features` against torchvision on a full-width ResNet-50 at 224 x 224: a manual check (it
needs Debian's python3-torch and python3-torchvision, so it is not part of the test suite; the suite's
tests/test_features.c covers narrow ResNets through committed fixtures).

It builds torchvision.models.resnet50() with random weights from --seed, draws random BatchNorm affine
parameters and running statistics (so that loading them is checked, not the 1/0 defaults), writes the
state dict under torchvision's names as safetensors, runs `tessl features` on --n random 224 x 224 inputs
for the layers avgpool and layer3, and compares with torchvision's evaluation-mode outputs.

Usage: tools/check_features_resnet50.py [--tessl build/tessl] [--n 4] [--seed 0] [--keep DIR]
Prints, per layer, the largest absolute error over the largest |torchvision value| and the relative L2
error; exits 1 when either exceeds --tolerance (default 1e-4: fp32 through 53 layers).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_features_fixture import randomise_batchnorm  # noqa: E402
from make_train_fixture import write_safetensors  # noqa: E402

LAYERS = ("avgpool", "layer3")


def torchvision_outputs(model, x):
    got = {}
    hook = model.layer3.register_forward_hook(lambda m, i, o: got.__setitem__("layer3", o.detach().clone()))
    with torch.no_grad():
        model.fc = torch.nn.Identity()
        got["avgpool"] = model(x)
    hook.remove()
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tessl", default="build/tessl")
    ap.add_argument("--n", type=int, default=4, help="images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--keep", help="write the weights, input and outputs here instead of a temporary folder")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = torchvision.models.resnet50()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                randomise_batchnorm(m)
    model.eval()
    x = torch.randn(a.n, 3, 224, 224)

    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
        check(a, model, x, a.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="tessl-r50-") as out:
            check(a, model, x, out)


def check(a, model, x, out):
    want = torchvision_outputs(model, x)
    weights, inp = os.path.join(out, "resnet50.safetensors"), os.path.join(out, "input.npy")
    write_safetensors(weights, {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")})
    np.save(inp, x.numpy())
    worst = 0.0
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}; resnet50, seed {a.seed}, "
          f"{a.n} images of 224 x 224")
    for layer in LAYERS:
        path = os.path.join(out, f"tessl_{layer}.npy")
        # --batch 2: images per device pass; the model's activations for the default batch exceed what
        # lavapipe allows in one allocation at 224 px.
        subprocess.run([a.tessl, "features", "--weights", weights, "--input", inp, "--layer", layer, "-o", path,
                         "--batch", "2"], check=True)
        got = np.load(path).astype(np.float64)
        ref = want[layer].numpy().astype(np.float64).reshape(got.shape)
        err = np.abs(got - ref)
        max_rel = err.max() / np.abs(ref).max()
        l2_rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        worst = max(worst, max_rel, l2_rel)
        print(f"{layer:8s} {tuple(got.shape)}: max |tessl - torchvision| / max |torchvision| = {max_rel:.2e}, "
              f"relative L2 error {l2_rel:.2e} (max |torchvision| {np.abs(ref).max():.3g})")
    ok = worst <= a.tolerance
    print("ok" if ok else f"FAIL: error {worst:.2e} above tolerance {a.tolerance:.0e}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
