#!/usr/bin/python3
"""Writes tests/fixtures/tessl_step.safetensors: one TeSSL training step of a narrow ResNet-18 in PyTorch
(Debian's python3-torch 1.13 / python3-torchvision 0.14), the reference for tests/test_train_step.c.

The model: a ResNet-18 of base width 8 built from torchvision's BasicBlock and ResNet._make_layer (so
state-dict names are torchvision's), projectors g_inv and g_equi (Linear(no bias)-BN1d-ReLU-Linear(no
bias)-BN1d-ReLU-Linear(no bias), 32-32-32), an online classifier Linear(64, 5) on the detached features.
The step runs exactly as the authors' code: four forward passes module(t0), module(p0), module(t1),
module(p1) (so BatchNorm statistics are per quarter), the TeSSL loss, backward, one LARS step written as
facebookresearch/barlowtwins main.py writes it (1-D parameters excluded from weight decay and the trust
ratio, their own learning rate).

BatchNorm gammas and betas are drawn at random (not torchvision's 1/0 and zero-init residual gammas),
so that every gradient is non-zero and the comparison tests something; running statistics too.

Tensors written (all F32 except labels, I64):
  <name>                initial weights and buffers (torchvision names; g_inv., g_equi., classifier.)
  input                 [4N, 3, 32, 32]: t0, p0, t1, p1 stacked in that order
  labels                [4N]: the labels of each quarter's rows (t0/p0 share half 0's, t1/p1 half 1's)
  act.conv1, act.layer1..4, act.h, act.z, act.w   activations of the 4 passes, stacked
  loss.inv, loss.equi, loss.ce, loss.total        scalars (inv and equi unweighted BT values)
  grad.<name>           every gradient
  after.mu.<name>       LARS momentum after the step (a checkpoint's "mu.<name>" would be loaded as state)
  after.<name>          every weight and buffer after the step
  hparams               [lambda, lambd, loss_scale, lr_weights, lr_biases, weight_decay, momentum, eta]
"""
import json
import struct
import sys

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, ResNet

N, RES, WIDTH, CLASSES, PROJ = 4, 32, 8, 5, [32, 32, 32]
LAMBDA, LAMBD, SCALE = 0.2, 0.0051, 1.0
LR_W, LR_B, WD, MOMENTUM, ETA = 0.3, 0.01, 1e-4, 0.9, 0.001


class NarrowResNet(ResNet):
    """torchvision's ResNet with a base width other than 64 (the class hard-codes 64). `classes` adds the
    fc layer a full state dict has (None: Identity); `bn_init`, if given, initialises each BatchNorm2d in
    the same pass over the modules as the convolutions (the order fixes the random draws)."""

    def __init__(self, width, layers, block=BasicBlock, classes=None, bn_init=None):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Identity() if classes is None else nn.Linear(width * 8 * block.expansion, classes)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d) and bn_init:
                    bn_init(m)


def projector(dims, in_dim):
    sizes = [in_dim] + dims
    layers = []
    for i in range(len(sizes) - 2):
        layers += [nn.Linear(sizes[i], sizes[i + 1], bias=False), nn.BatchNorm1d(sizes[i + 1]), nn.ReLU(True)]
    layers.append(nn.Linear(sizes[-2], sizes[-1], bias=False))
    return nn.Sequential(*layers)


class TeSSL(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = NarrowResNet(WIDTH, [2, 2, 2, 2])
        self.g_inv = projector(PROJ, WIDTH * 8)
        self.g_equi = projector(PROJ, WIDTH * 8)
        self.classifier = nn.Linear(WIDTH * 8, CLASSES)
        self.bn_inv = nn.BatchNorm1d(PROJ[-1], affine=False)
        self.bn_equi = nn.BatchNorm1d(PROJ[-1], affine=False)

    def forward(self, x):
        h = self.backbone(x)
        return h, self.g_inv(h), self.g_equi(h), self.classifier(h.detach())


def off_diagonal(c):
    n = c.shape[0]
    return c.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def barlow(z1, z2, bn):
    c = bn(z1).T @ bn(z2) / z1.shape[0]
    return SCALE * ((torch.diagonal(c) - 1).pow(2).sum() + LAMBD * off_diagonal(c).pow(2).sum())


class LARS(torch.optim.Optimizer):
    """facebookresearch/barlowtwins main.py, verbatim in substance."""

    def __init__(self, params, lr, weight_decay=0, momentum=0.9, eta=0.001, weight_decay_filter=False,
                 lars_adaptation_filter=False):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta,
                        weight_decay_filter=weight_decay_filter, lars_adaptation_filter=lars_adaptation_filter)
        super().__init__(params, defaults)

    def exclude_bias_and_norm(self, p):
        return p.ndim == 1

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                dp = p.grad
                if dp is None:
                    continue
                if not g["weight_decay_filter"] or not self.exclude_bias_and_norm(p):
                    dp = dp.add(p, alpha=g["weight_decay"])
                if not g["lars_adaptation_filter"] or not self.exclude_bias_and_norm(p):
                    param_norm = torch.norm(p)
                    update_norm = torch.norm(dp)
                    one = torch.ones_like(param_norm)
                    q = torch.where(param_norm > 0.0,
                                    torch.where(update_norm > 0, (g["eta"] * param_norm / update_norm), one), one)
                    dp = dp.mul(q)
                param_state = self.state[p]
                if "mu" not in param_state:
                    param_state["mu"] = torch.zeros_like(p)
                mu = param_state["mu"]
                mu.mul_(g["momentum"]).add_(dp)
                p.add_(mu, alpha=-g["lr"])


def state_name(name):
    """The fixture's (torchvision-style) name of a model tensor: the trunk without its prefix."""
    return name[len("backbone."):] if name.startswith("backbone.") else name


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main(out_path):
    torch.manual_seed(20261124)
    model = TeSSL()
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model.train()
    out = {}
    params = {state_name(n): t for n, t in model.state_dict().items()
              if not n.startswith("bn_") and not n.endswith("num_batches_tracked")}
    for n, t in params.items():
        out[n] = t.clone()

    x = torch.randn(4 * N, 3, RES, RES)
    y_half = torch.randint(0, CLASSES, (2, N))
    labels = torch.cat([y_half[0], y_half[0], y_half[1], y_half[1]])
    out["input"], out["labels"] = x, labels

    acts = {k: [] for k in ("conv1", "layer1", "layer2", "layer3", "layer4")}
    for k in acts:
        getattr(model.backbone, k).register_forward_hook(lambda m, i, o, k=k: acts[k].append(o.detach().clone()))

    quarters = x.split(N)
    hs, zs, ws, logits = zip(*(model(q) for q in quarters))  # module(t0), module(p0), module(t1), module(p1)
    inv = barlow(torch.cat([zs[0], zs[2]]), torch.cat([zs[1], zs[3]]), model.bn_inv)
    equi = barlow(ws[0] - ws[1], ws[2] - ws[3], model.bn_equi)
    ce = sum(nn.functional.cross_entropy(l, labels[i * N:(i + 1) * N]) for i, l in enumerate(logits)) / 4
    total = (1 - LAMBDA) * inv + LAMBDA * equi + ce
    total.backward()

    for k, v in acts.items():
        out["act." + k] = torch.cat(v)
    out["act.h"], out["act.z"], out["act.w"] = torch.cat(hs), torch.cat(zs), torch.cat(ws)
    for k, v in (("inv", inv), ("equi", equi), ("ce", ce), ("total", total)):
        out["loss." + k] = v.detach().reshape(())

    named = [(state_name(n), p) for n, p in model.named_parameters()]
    for n, p in named:
        out["grad." + n] = p.grad.clone()

    weights = [p for _, p in named if p.ndim != 1]
    biases = [p for _, p in named if p.ndim == 1]
    opt = LARS([{"params": weights}, {"params": biases}], lr=0, weight_decay=WD, momentum=MOMENTUM, eta=ETA,
               weight_decay_filter=True, lars_adaptation_filter=True)
    opt.param_groups[0]["lr"] = LR_W
    opt.param_groups[1]["lr"] = LR_B
    opt.step()
    for n, p in named:
        out["after.mu." + n] = opt.state[p]["mu"].clone()
    for n, t in model.state_dict().items():
        n = state_name(n)
        if n in params:
            out["after." + n] = t.clone()
    out["hparams"] = torch.tensor([LAMBDA, LAMBD, SCALE, LR_W, LR_B, WD, MOMENTUM, ETA], dtype=torch.float32)
    write_safetensors(out_path, out)
    print(f"wrote {out_path}: {len(out)} tensors, loss {total.item():.6f} (inv {inv.item():.6f}, "
          f"equi {equi.item():.6f}, ce {ce.item():.6f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tessl_step.safetensors")
