#!/usr/bin/python3
"""Checks that a file written by `tessl export` loads into torchvision (Debian's python3-torchvision):
every trunk tensor is taken, only fc.* is missing, and only the projector / classifier heads are extra.

Usage: tools/check_export.py MODEL.safetensors resnet18|resnet34|resnet50
(The safetensors package is not in Debian; the file is read here by its format: an 8-byte little-endian
header length, a JSON header, then the tensors.)
"""
import json
import struct
import sys

import numpy as np
import torch
import torchvision

DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        arr = np.frombuffer(body[a:b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def main(path, arch):
    sd = load(path)
    model = getattr(torchvision.models, arch)()
    result = model.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    extra = [k for k in result.unexpected_keys if not k.split(".")[0] in ("g_inv", "g_equi", "classifier")]
    print(f"{path}: {len(sd)} tensors; missing (besides fc.*): {missing}; unexpected (besides heads): {extra}")
    if missing or extra:
        sys.exit(1)
    model.eval()
    with torch.no_grad():
        y = model(torch.zeros(1, 3, 64, 64))
    print("forward ok:", tuple(y.shape))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
