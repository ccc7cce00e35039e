/**
 * llama.cpp's i-quants, decoded as ggml's reference `dequantize_row_iq*` (ggml-quants.c) computes
 * them, into gguf-quants.ts's form: an integer (here signed, stored with zero point 128) times
 * a scale per 16 values. Each value is a scale times a small integer, exactly:
 *
 *   IQ4_NL   d f16, 16 bytes of nibbles (value j low, j + 16 high), each an index into 16 int8
 *            levels spaced more closely near zero (ggml's kvalues_iq4nl):  w = d level[q]
 *   IQ4_XS   super-blocks of 256: d f16, the high 2 bits of eight 6-bit scales as a u16, their
 *            low nibbles in 4 bytes (even sub-block low, odd high), then each 32 values'
 *            nibbles as IQ4_NL's:                                   w = (d (sc - 32)) level[q]
 *
 * The 1- to 3-bit types draw groups of 8 (or 4) values at once from a lattice (iq-grids.ts) and
 * give each value a sign; every value of the lattices is a small integer:
 *
 *   IQ2_XXS  d f16, then per 32 values two u32: four lattice rows (a byte each), and four 7-bit
 *            sign indices and a 4-bit scale s:          w = d (0.5 + s) / 4 · row[j] · sign
 *   IQ2_XS   d f16, per 8 values a u16 (9-bit row, 7-bit sign index), then a 4-bit scale per 16
 *   IQ2_S    d f16, per 8 values a row byte with 2 more bits from qh and a byte of signs, a
 *            4-bit scale per 16
 *   IQ3_XXS  d f16, per 4 values a row byte; per 32 values a u32 of four sign indices and a
 *            scale:                                    w = d (0.5 + s) / 2 · row[j] · sign
 *   IQ3_S    d f16, per 4 values a row byte with a ninth bit from qh, sign bytes, a 4-bit scale
 *            per 32:                                    w = d (1 + 2 s) · row[j] · sign
 *   IQ1_S    d f16, per 8 values a row byte with 3 more bits, per 32 values a u16 of those bits,
 *            a 3-bit scale and the sign of a shift δ = ±1/8:  w = d (2 s + 1) (row[j] + δ)
 *   IQ1_M    IQ1_S's rows and shift (per 8 values), a 3-bit scale per 16, and d's f16 bits
 *            spread over the top nibbles of the four u16 that hold the scales
 *
 * A 7-bit sign index i stands for the byte i with an eighth bit that makes the count of set bits
 * even (ggml's ksigns_iq2xs); a set bit j negates value j of its 8.
 *
 * Exactness, as gguf-quants.ts requires: each scale is an f16 times an integer of at most 5
 * bits, over a power of two (16 significant bits at most), and each integer (a level, a lattice
 * value times a sign, or 8 (row + δ) with the scale divided by 8) has at most 8, so their
 * product is exact in f32, as is ggml's.
 */

import type { BlockDecoder, DecodedGroups } from './gguf-quants';
import { f16ToF32, readF16 } from './half';
import { IQ_GRIDS, type PackedGrid } from './iq-grids';
import { IQ4_LEVELS } from './iq4';

const f16 = readF16;
const fr = Math.fround;

/** The 16 values from `o` (a group) scale by `scale`. */
function scaled(out: DecodedGroups, o: number, scale: number): void {
  out.scales[o >> 4] = scale;
  out.mins[o >> 4] = fr(128 * scale);
}

/** Signed value `value` at `o` (zero point 128). */
function put(out: DecodedGroups, o: number, value: number): void {
  out.q[o] = value + 128;
}

/** IQ4_NL, IQ4_XS: 32 values from 16 bytes of nibbles at `qs`, each a level, with scale `d`. */
function levels(v: DataView, qs: number, d: number, out: DecodedGroups, o: number): void {
  scaled(out, o, d);
  scaled(out, o + 16, d);
  for (let j = 0; j < 16; j++) {
    const byte = v.getUint8(qs + j);
    put(out, o + j, IQ4_LEVELS[byte & 0xf]);
    put(out, o + j + 16, IQ4_LEVELS[byte >> 4]);
  }
}

/** A lattice unpacked, its values row by row, on first use. */
function lattice(name: string): () => Int8Array {
  let values: Int8Array | undefined;
  return () => {
    if (values) return values;
    const grid = IQ_GRIDS[name] as PackedGrid;
    const bytes = Uint8Array.from(atob(grid.packed), (c) => c.charCodeAt(0));
    const perByte = Math.floor(8 / grid.bits);
    const step = 8 / perByte;
    const unpacked = new Int8Array(grid.rows * grid.width);
    for (let i = 0; i < unpacked.length; i++) {
      const index = (bytes[Math.floor(i / perByte)] >> (step * (i % perByte))) & ((1 << grid.bits) - 1);
      unpacked[i] = grid.levels[index];
    }
    values = unpacked;
    return values;
  };
}
const IQ1_GRID = lattice('IQ1');
const IQ2_XXS_GRID = lattice('IQ2_XXS');
const IQ2_XS_GRID = lattice('IQ2_XS');
const IQ2_S_GRID = lattice('IQ2_S');
const IQ3_XXS_GRID = lattice('IQ3_XXS');
const IQ3_S_GRID = lattice('IQ3_S');

/** The sign byte of 7-bit index i: i, and bit 7 set where i has an odd count of set bits. */
function signByte(index: number): number {
  let parity = 0;
  for (let b = index; b > 0; b >>= 1) parity ^= b & 1;
  return index | (parity << 7);
}

/** Lattice row `row` of `grid` (rows of `width` values) to `o`, value j negated where `signs` has bit j set. */
function signedRow(grid: Int8Array, width: number, row: number, signs: number, out: DecodedGroups, o: number) {
  for (let j = 0; j < width; j++) put(out, o + j, (signs >> j) & 1 ? -grid[row * width + j] : grid[row * width + j]);
}

/** ggml's IQ2 scale: d (0.5 + s) / 4. */
const iq2Scale = (d: number, s: number) => fr(fr(d * (0.5 + s)) * 0.25);

/** IQ2_XS, IQ2_S: the 16 groups' scales, 4-bit s each from the 8 bytes at `at` (even group low). */
function iq2Scales(v: DataView, at: number, d: number, out: DecodedGroups, o: number): void {
  for (let g = 0; g < 16; g++) scaled(out, o + 16 * g, iq2Scale(d, (v.getUint8(at + (g >> 1)) >> (4 * (g & 1))) & 15));
}

/** IQ1_S, IQ1_M: 8 values of row `row` shifted by ±1/8 (`negative`), as 8 (row + δ) with the scale `dl` / 8. */
function shiftedRow(row: number, negative: boolean, out: DecodedGroups, o: number): void {
  const grid = IQ1_GRID();
  for (let j = 0; j < 8; j++) put(out, o + j, 8 * grid[row * 8 + j] + (negative ? -1 : 1));
}

export const IQ_DECODERS: Record<string, BlockDecoder> = {
  IQ4_NL: (v, at, out, o) => levels(v, at + 2, f16(v, at), out, o),
  IQ4_XS(v, at, out, o) {
    const d = f16(v, at);
    const high = v.getUint16(at + 2, true);
    for (let sub = 0; sub < 8; sub++) {
      const low = (v.getUint8(at + 4 + (sub >> 1)) >> (4 * (sub & 1))) & 0xf;
      const scale = low | (((high >> (2 * sub)) & 3) << 4);
      levels(v, at + 8 + 16 * sub, fr(d * (scale - 32)), out, o + 32 * sub);
    }
  },
  IQ2_XXS(v, at, out, o) {
    const d = f16(v, at);
    const grid = IQ2_XXS_GRID();
    for (let ib = 0; ib < 8; ib++) {
      const rows = at + 2 + 8 * ib;
      const aux = v.getUint32(rows + 4, true);
      const scale = iq2Scale(d, aux >>> 28);
      scaled(out, o + 32 * ib, scale);
      scaled(out, o + 32 * ib + 16, scale);
      for (let l = 0; l < 4; l++) {
        const signs = signByte((aux >>> (7 * l)) & 127);
        signedRow(grid, 8, v.getUint8(rows + l), signs, out, o + 32 * ib + 8 * l);
      }
    }
  },
  IQ2_XS(v, at, out, o) {
    iq2Scales(v, at + 66, f16(v, at), out, o);
    const grid = IQ2_XS_GRID();
    for (let i = 0; i < 32; i++) {
      const word = v.getUint16(at + 2 + 2 * i, true);
      signedRow(grid, 8, word & 511, signByte(word >> 9), out, o + 8 * i);
    }
  },
  IQ2_S(v, at, out, o) {
    iq2Scales(v, at + 74, f16(v, at), out, o);
    const grid = IQ2_S_GRID();
    for (let i = 0; i < 32; i++) {
      const row = v.getUint8(at + 2 + i) | (((v.getUint8(at + 66 + (i >> 2)) >> (2 * (i & 3))) & 3) << 8);
      signedRow(grid, 8, row, v.getUint8(at + 34 + i), out, o + 8 * i);
    }
  },
  IQ3_XXS(v, at, out, o) {
    const d = f16(v, at);
    const grid = IQ3_XXS_GRID();
    for (let ib = 0; ib < 8; ib++) {
      const aux = v.getUint32(at + 66 + 4 * ib, true);
      const scale = fr(fr(d * (0.5 + (aux >>> 28))) * 0.5);
      scaled(out, o + 32 * ib, scale);
      scaled(out, o + 32 * ib + 16, scale);
      for (let l = 0; l < 4; l++) {
        const signs = signByte((aux >>> (7 * l)) & 127);
        const y = o + 32 * ib + 8 * l;
        signedRow(grid, 4, v.getUint8(at + 2 + 8 * ib + 2 * l), signs, out, y);
        signedRow(grid, 4, v.getUint8(at + 2 + 8 * ib + 2 * l + 1), signs >> 4, out, y + 4);
      }
    }
  },
  IQ3_S(v, at, out, o) {
    const d = f16(v, at);
    const grid = IQ3_S_GRID();
    for (let ib = 0; ib < 8; ib++) {
      const scale = fr(d * (1 + 2 * ((v.getUint8(at + 106 + (ib >> 1)) >> (4 * (ib & 1))) & 15)));
      scaled(out, o + 32 * ib, scale);
      scaled(out, o + 32 * ib + 16, scale);
    }
    for (let k = 0; k < 64; k++) {
      const row = v.getUint8(at + 2 + k) | (((v.getUint8(at + 66 + (k >> 3)) >> (k & 7)) & 1) << 8);
      const signs = v.getUint8(at + 74 + (k >> 1)) >> (4 * (k & 1));
      signedRow(grid, 4, row, signs, out, o + 4 * k);
    }
  },
  IQ1_S(v, at, out, o) {
    const d = f16(v, at);
    for (let ib = 0; ib < 8; ib++) {
      const high = v.getUint16(at + 34 + 2 * ib, true);
      const scale = fr(d * (2 * ((high >> 12) & 7) + 1)) / 8;
      scaled(out, o + 32 * ib, scale);
      scaled(out, o + 32 * ib + 16, scale);
      for (let l = 0; l < 4; l++) {
        const row = v.getUint8(at + 2 + 4 * ib + l) | (((high >> (3 * l)) & 7) << 8);
        shiftedRow(row, (high & 0x8000) !== 0, out, o + 32 * ib + 8 * l);
      }
    }
  },
  IQ1_M(v, at, out, o) {
    const word = (i: number) => v.getUint16(at + 48 + 2 * i, true);
    const bits = ((word(0) >> 12) & 0xf) | ((word(1) >> 8) & 0xf0) | ((word(2) >> 4) & 0xf00) | (word(3) & 0xf000);
    const d = f16ToF32(bits);
    for (let g = 0; g < 16; g++) scaled(out, o + 16 * g, fr(d * (2 * ((word(g >> 2) >> (3 * (g & 3))) & 7) + 1)) / 8);
    for (let k = 0; k < 32; k++) {
      const nibble = (v.getUint8(at + 32 + (k >> 1)) >> (4 * (k & 1))) & 0xf;
      shiftedRow(v.getUint8(at + k) | ((nibble & 7) << 8), (nibble & 8) !== 0, out, o + 8 * k);
    }
  },
};

/** The i-quants, all signed: q - 128 is ggml's integer. */
export const IQ_TYPES = Object.keys(IQ_DECODERS);
