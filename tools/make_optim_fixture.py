#!/usr/bin/python3
"""Writes tests/fixtures/optim_steps.safetensors: three steps of torch.optim.AdamW and torch.optim.SGD
(momentum, weight decay) on a few small tensors, with the parameter groups tessl uses for every optimiser
(Barlow Twins' exclusions: weights get lr_weights and weight decay, 1-D tensors lr_biases and none), the
reference for tests/test_optim.c (fixture_steps_match_torch). Debian's python3-torch (1.13).

Tensors written (all F32):
  p.<k>                 initial parameter k (k = 0..3: a 7x3x3x3 conv weight, a 13-value bias, a 5x11
                        linear weight, a 300-value BatchNorm gamma)
  g.<s>.<k>             the gradient of parameter k at step s (s = 0, 1, 2)
  adamw.p.<k>, adamw.m.<k>, adamw.v.<k>   AdamW's parameter, exp_avg and exp_avg_sq after 3 steps
  sgd.p.<k>, sgd.mu.<k>                   SGD's parameter and momentum buffer after 3 steps
  hparams               F64 [lr_weights, lr_biases, weight_decay, beta1, beta2, eps, momentum] (double, as
                        torch's Python floats: 1 - beta2 of a float32 beta2 is off by 1.3e-5 relative)
"""
import sys

import torch

from make_train_fixture import write_safetensors

SHAPES = [(7, 3, 3, 3), (13,), (5, 11), (300,)]
LR_W, LR_B, WD, BETA1, BETA2, EPS, MOMENTUM = 0.05, 0.02, 0.1, 0.9, 0.999, 1e-8, 0.9
STEPS = 3


def run(make_optimizer, params, grads):
    ps = [p.clone().requires_grad_(True) for p in params]
    weights = [p for p in ps if p.ndim != 1]
    biases = [p for p in ps if p.ndim == 1]
    opt = make_optimizer([{"params": weights, "lr": LR_W, "weight_decay": WD},
                          {"params": biases, "lr": LR_B, "weight_decay": 0.0}])
    for s in range(STEPS):
        for p, g in zip(ps, grads[s]):
            p.grad = g.clone()
        opt.step()
    return ps, opt


def main(out_path):
    torch.manual_seed(20261125)
    params = [torch.rand(s) * 2 - 1 for s in SHAPES]
    grads = [[(torch.rand(s) * 2 - 1) * 0.1 for s in SHAPES] for _ in range(STEPS)]
    out = {}
    for k, p in enumerate(params):
        out[f"p.{k}"] = p
    for s in range(STEPS):
        for k, g in enumerate(grads[s]):
            out[f"g.{s}.{k}"] = g
    ps, opt = run(lambda groups: torch.optim.AdamW(groups, betas=(BETA1, BETA2), eps=EPS), params, grads)
    for k, p in enumerate(ps):
        out[f"adamw.p.{k}"] = p.detach().clone()
        out[f"adamw.m.{k}"] = opt.state[p]["exp_avg"].clone()
        out[f"adamw.v.{k}"] = opt.state[p]["exp_avg_sq"].clone()
    ps, opt = run(lambda groups: torch.optim.SGD(groups, lr=LR_W, momentum=MOMENTUM), params, grads)
    for k, p in enumerate(ps):
        out[f"sgd.p.{k}"] = p.detach().clone()
        out[f"sgd.mu.{k}"] = opt.state[p]["momentum_buffer"].clone()
    out["hparams"] = torch.tensor([LR_W, LR_B, WD, BETA1, BETA2, EPS, MOMENTUM], dtype=torch.float64)
    write_safetensors(out_path, out)
    print(f"wrote {out_path}: {len(out)} tensors")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/optim_steps.safetensors")
