#!/usr/bin/env python3
"""Writes src/loader/iq-grids.ts: the lattices of llama.cpp's 1- to 3-bit IQ types (ggml-common.h's
iq1s_grid, iq2xxs_grid, iq2xs_grid, iq2s_grid, iq3xxs_grid, iq3s_grid), taken from gguf-py, which
holds each as ggml does, packed:

    python3 -m venv /tmp/gguf && /tmp/gguf/bin/pip install gguf numpy
    /tmp/gguf/bin/python scripts/iq_grids.py

Each grid is rows of 4 or 8 values, each value one of a few levels (`grid_map`); the file keeps
gguf-py's packing, the index of each value's level in `bits` bits, `8 // bits` of them to a
byte from its lowest bits up, as base64.
"""

import base64
from pathlib import Path

import gguf.quants as q

OUT = Path(__file__).resolve().parent.parent / "src" / "loader" / "iq-grids.ts"
GRIDS = [("IQ1", q.IQ1_S), ("IQ2_XXS", q.IQ2_XXS), ("IQ2_XS", q.IQ2_XS), ("IQ2_S", q.IQ2_S),
         ("IQ3_XXS", q.IQ3_XXS), ("IQ3_S", q.IQ3_S)]


def main():
    lines = [
        "/**",
        " * The lattices of llama.cpp's 1- to 3-bit IQ types (ggml-common.h's iq*_grid), packed: written by",
        " * scripts/iq_grids.py from gguf-py, do not edit. Each: `rows` rows of `width` values, each value",
        " * a level of `levels`, its index in `bits` bits, 8 / bits (rounded down) to a byte from the",
        " * lowest bits up (base64). gguf-quants.ts unpacks them.",
        " */",
        "",
        "export interface PackedGrid {",
        "  rows: number;",
        "  width: number;",
        "  levels: number[];",
        "  bits: number;",
        "  packed: string;",
        "}",
        "",
        "export const IQ_GRIDS: Record<string, PackedGrid> = {",
    ]
    for name, cls in GRIDS:
        packed = bytes.fromhex(cls.grid_hex.decode())
        bits = (len(cls.grid_map) - 1).bit_length()
        rows, width = cls.grid_shape
        assert len(packed) * (8 // bits) == rows * width, name
        lines.append(f"  {name}: {{")
        lines.append(f"    rows: {rows},")
        lines.append(f"    width: {width},")
        lines.append(f"    levels: [{', '.join(str(int(v)) for v in cls.grid_map)}],")
        lines.append(f"    bits: {bits},")
        text = base64.b64encode(packed).decode()
        chunks = [text[i:i + 96] for i in range(0, len(text), 96)]
        lines.append("    packed:")
        lines.extend(f"      '{c}'{' +' if i < len(chunks) - 1 else ','}" for i, c in enumerate(chunks))
        lines.append("  },")
    lines.append("};")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
