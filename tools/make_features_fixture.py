#!/usr/bin/python3
"""Writes the fixtures of tests/test_features.c: narrow torchvision ResNets with random weights and
random BatchNorm parameters and running statistics, random images, and their evaluation-mode outputs.

  tests/fixtures/features_resnet18w8.safetensors  a ResNet-18 of base width 8: its full state dict (with
                                                  num_batches_tracked and an fc layer, which tessl ignores)
  tests/fixtures/features_resnet50w4.safetensors  a ResNet-50 (bottlenecks) of base width 4
  tests/fixtures/features_input.npy               5 x 3 x 40 x 36 images, float32
  tests/fixtures/features_r18_<layer>.npy         the ResNet-18's conv1, layer1, layer3, avgpool outputs
  tests/fixtures/features_r50_avgpool.npy         the ResNet-50's pooled features
"""
import os
import sys

import numpy as np
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_train_fixture import NarrowResNet, write_safetensors  # noqa: E402


def randomise_batchnorm(m):
    """Random statistics and affine parameters, so that loading them is checked (not the defaults)."""
    m.weight.uniform_(0.5, 1.5)
    m.bias.normal_(0.0, 0.2)
    m.running_mean.normal_(0.0, 0.3)
    m.running_var.uniform_(0.5, 2.0)
    m.num_batches_tracked.fill_(7)


def outputs(model, x, layers):
    got = {}
    hooks = [getattr(model, n).register_forward_hook(lambda m, i, o, n=n: got.__setitem__(n, o.detach().clone()))
             for n in layers if n != "avgpool"]
    with torch.no_grad():
        h = torch.flatten(model.avgpool(model.layer4(model.layer3(model.layer2(model.layer1(
            model.maxpool(model.relu(model.bn1(model.conv1(x))))))))), 1)
    for hk in hooks:
        hk.remove()
    got["avgpool"] = h
    return got


def main(out_dir):
    torch.manual_seed(1124)
    x = torch.randn(5, 3, 40, 36)
    np.save(os.path.join(out_dir, "features_input.npy"), x.numpy().astype("<f4"))
    nets = (("r18", "resnet18w8", BasicBlock, [2, 2, 2, 2], 8, ("conv1", "layer1", "layer3", "avgpool")),
            ("r50", "resnet50w4", Bottleneck, [3, 4, 6, 3], 4, ("avgpool",)))
    for short, name, block, layers, width, wanted in nets:
        model = NarrowResNet(width, layers, block, classes=10, bn_init=randomise_batchnorm).eval()
        write_safetensors(os.path.join(out_dir, f"features_{name}.safetensors"), model.state_dict())
        got = outputs(model, x, wanted)
        for layer in wanted:
            np.save(os.path.join(out_dir, f"features_{short}_{layer}.npy"), got[layer].numpy().astype("<f4"))
    print("wrote features fixtures to", out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
