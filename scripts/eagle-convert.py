#!/usr/bin/env python3
"""Converts a published EAGLE head's pytorch_model.bin into model.safetensors, which Tandem
reads (it never unpickles files), in the same folder beside config.json:

    python3 scripts/eagle-convert.py path/to/EAGLE3-LLaMA3.1-Instruct-8B
    python3 scripts/eagle-convert.py path/to/EAGLE-LLaMA3-Instruct-8B      # EAGLE-1 heads alike

Tensors keep their names, shapes and dtypes (d2t stays int64, t2d bool); nothing is computed.
Needs PyTorch (Debian: apt-get install python3-torch).
"""

import json
import struct
import sys
from pathlib import Path

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
          torch.bool: "BOOL"}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(state):
        tensor = state[name].contiguous()
        if tensor.dtype not in DTYPES:
            sys.exit(f"{name}: dtype {tensor.dtype} has no safetensors name here")
        data = (tensor.view(torch.int16) if tensor.dtype == torch.bfloat16 else tensor).numpy().tobytes()
        header[name] = {"dtype": DTYPES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(folder / "model.safetensors", "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)
    print(f"{folder / 'model.safetensors'}: {len(state)} tensors, {offset} bytes")


if __name__ == "__main__":
    main()
