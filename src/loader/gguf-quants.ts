/**
 * llama.cpp's tensor types (ggml's `ggml_type`): how many values a block holds and how many
 * bytes it takes, and the values of the blocks Tandem reads, computed as ggml's reference
 * `dequantize_row_*` (ggml-quants.c) computes them, in f32, operation by operation:
 *
 *   Q4_0  d f16, 16 bytes: value j at the low nibble of byte j, value j + 16 at its high one;
 *         w = (q - 8) d
 *   Q4_1  d, m f16, the nibbles as Q4_0;                     w = q d + m
 *   Q5_0  d f16, qh u32 (the fifth bits), nibbles as Q4_0;   w = (q - 16) d
 *   Q5_1  d, m f16, qh, nibbles;                             w = q d + m
 *   Q8_0  d f16, 32 int8;                                    w = q d
 *   Q4_K  super-blocks of 256: d, dmin f16, 12 bytes of eight 6-bit (scale, min) pairs, 128
 *         bytes of nibbles; each 64 values are 32 low nibbles then 32 high ones of 32 bytes,
 *         the two halves with their own pair:                w = (d sc) q - (dmin m)
 *   Q5_K  Q4_K's layout with 32 bytes of fifth bits (bit 2i and 2i + 1 of byte l for the
 *         i-th 64 values)
 *   Q6_K  128 bytes of low nibbles, 64 of high 2 bits, 16 int8 scales (one per 16 values),
 *         d f16;                                             w = (d sc) (q - 32)
 *
 * Q4_0 and Q4_K also go to the GPU 4-bit: Q4_0's blocks are MLC's 4-bit groups with another
 * nibble order and zero point (`repackQ4_0`), Q4_K's sub-blocks groups with a min (`repackQ4_K`).
 */

import { UnsupportedQuantizationError } from '../errors';
import { f16ToF32, f32ToF16 } from './half';

export interface GgmlType {
  name: string;
  /** Values a block holds (1 for plain floats). */
  blockValues: number;
  /** Bytes a block takes. */
  blockBytes: number;
}

/** Every type of ggml.h by id, so that a file in one Tandem does not read is refused by name. */
export const GGML_TYPES: Record<number, GgmlType> = {};
const define = (id: number, name: string, blockValues: number, blockBytes: number) => {
  GGML_TYPES[id] = { name, blockValues, blockBytes };
};
define(0, 'F32', 1, 4);
define(1, 'F16', 1, 2);
define(2, 'Q4_0', 32, 18);
define(3, 'Q4_1', 32, 20);
define(6, 'Q5_0', 32, 22);
define(7, 'Q5_1', 32, 24);
define(8, 'Q8_0', 32, 34);
define(9, 'Q8_1', 32, 36);
define(10, 'Q2_K', 256, 84);
define(11, 'Q3_K', 256, 110);
define(12, 'Q4_K', 256, 144);
define(13, 'Q5_K', 256, 176);
define(14, 'Q6_K', 256, 210);
define(15, 'Q8_K', 256, 292);
define(16, 'IQ2_XXS', 256, 66);
define(17, 'IQ2_XS', 256, 74);
define(18, 'IQ3_XXS', 256, 98);
define(19, 'IQ1_S', 256, 50);
define(20, 'IQ4_NL', 32, 18);
define(21, 'IQ3_S', 256, 110);
define(22, 'IQ2_S', 256, 82);
define(23, 'IQ4_XS', 256, 136);
define(24, 'I8', 1, 1);
define(25, 'I16', 1, 2);
define(26, 'I32', 1, 4);
define(27, 'I64', 1, 8);
define(28, 'F64', 1, 8);
define(29, 'IQ1_M', 256, 56);
define(30, 'BF16', 1, 2);
define(34, 'TQ1_0', 256, 54);
define(35, 'TQ2_0', 256, 66);
define(39, 'MXFP4', 32, 17);

type Dequantizer = (block: DataView, at: number, out: Float32Array, o: number) => void;

const f16 = (view: DataView, at: number) => f16ToF32(view.getUint16(at, true));
const fr = Math.fround;

/** The 6-bit (scale, min) pair j of a K-quant's 12 scale bytes at `s` (ggml's get_scale_min_k4). */
function scaleMin(view: DataView, s: number, j: number): [number, number] {
  const q = (i: number) => view.getUint8(s + i);
  if (j < 4) return [q(j) & 63, q(j + 4) & 63];
  return [(q(j + 4) & 0xf) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4)];
}

/**
 * A Q4_K super-block, or a Q5_K one (`fifth`: 32 bytes of fifth bits before the nibbles, bit
 * 2i of byte l for value l of the i-th 64 values' first half, bit 2i + 1 for its second half).
 */
function kQuant(v: DataView, at: number, out: Float32Array, o: number, fifth: boolean): void {
  const d = f16(v, at);
  const dmin = f16(v, at + 2);
  const qs = at + (fifth ? 48 : 16);
  for (let part = 0; part < 4; part++) {
    const [sc1, m1] = scaleMin(v, at + 4, 2 * part);
    const [sc2, m2] = scaleMin(v, at + 4, 2 * part + 1);
    const [d1, min1, d2, min2] = [fr(d * sc1), fr(dmin * m1), fr(d * sc2), fr(dmin * m2)];
    for (let l = 0; l < 32; l++) {
      const byte = v.getUint8(qs + 32 * part + l);
      const high = fifth ? v.getUint8(at + 16 + l) >> (2 * part) : 0;
      out[o + 64 * part + l] = fr(fr(d1 * ((byte & 0xf) | ((high & 1) << 4))) - min1);
      out[o + 64 * part + 32 + l] = fr(fr(d2 * ((byte >> 4) | ((high & 2) << 3))) - min2);
    }
  }
}

const DEQUANTIZE: Record<string, Dequantizer> = {
  Q4_0(v, at, out, o) {
    const d = f16(v, at);
    for (let j = 0; j < 16; j++) {
      const byte = v.getUint8(at + 2 + j);
      out[o + j] = fr(((byte & 0xf) - 8) * d);
      out[o + j + 16] = fr(((byte >> 4) - 8) * d);
    }
  },
  Q4_1(v, at, out, o) {
    const d = f16(v, at);
    const m = f16(v, at + 2);
    for (let j = 0; j < 16; j++) {
      const byte = v.getUint8(at + 4 + j);
      out[o + j] = fr(fr((byte & 0xf) * d) + m);
      out[o + j + 16] = fr(fr((byte >> 4) * d) + m);
    }
  },
  Q5_0(v, at, out, o) {
    const d = f16(v, at);
    const qh = v.getUint32(at + 2, true);
    for (let j = 0; j < 16; j++) {
      const byte = v.getUint8(at + 6 + j);
      const high0 = ((qh >>> j) << 4) & 0x10;
      const high1 = (qh >>> (j + 12)) & 0x10;
      out[o + j] = fr((((byte & 0xf) | high0) - 16) * d);
      out[o + j + 16] = fr((((byte >> 4) | high1) - 16) * d);
    }
  },
  Q5_1(v, at, out, o) {
    const d = f16(v, at);
    const m = f16(v, at + 2);
    const qh = v.getUint32(at + 4, true);
    for (let j = 0; j < 16; j++) {
      const byte = v.getUint8(at + 8 + j);
      const high0 = ((qh >>> j) << 4) & 0x10;
      const high1 = (qh >>> (j + 12)) & 0x10;
      out[o + j] = fr(fr(((byte & 0xf) | high0) * d) + m);
      out[o + j + 16] = fr(fr(((byte >> 4) | high1) * d) + m);
    }
  },
  Q8_0(v, at, out, o) {
    const d = f16(v, at);
    for (let j = 0; j < 32; j++) out[o + j] = fr(v.getInt8(at + 2 + j) * d);
  },
  Q4_K: (v, at, out, o) => kQuant(v, at, out, o, false),
  Q5_K: (v, at, out, o) => kQuant(v, at, out, o, true),
  Q6_K(v, at, out, o) {
    const d = f16(v, at + 208);
    for (let half = 0; half < 2; half++) {
      const ql = at + 64 * half;
      const qh = at + 128 + 32 * half;
      const sc = at + 192 + 8 * half;
      const y = o + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const low0 = v.getUint8(ql + l);
        const low32 = v.getUint8(ql + l + 32);
        const high = v.getUint8(qh + l);
        const q1 = ((low0 & 0xf) | ((high & 3) << 4)) - 32;
        const q2 = ((low32 & 0xf) | (((high >> 2) & 3) << 4)) - 32;
        const q3 = ((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32;
        const q4 = ((low32 >> 4) | (((high >> 6) & 3) << 4)) - 32;
        out[y + l] = fr(fr(d * v.getInt8(sc + is)) * q1);
        out[y + l + 32] = fr(fr(d * v.getInt8(sc + is + 2)) * q2);
        out[y + l + 64] = fr(fr(d * v.getInt8(sc + is + 4)) * q3);
        out[y + l + 96] = fr(fr(d * v.getInt8(sc + is + 6)) * q4);
      }
    }
  },
};

/** The types `dequantize` reads. */
export const DEQUANTIZED_TYPES = Object.keys(DEQUANTIZE);

/** Whether values of `type` are plain floats, which stay as they are stored. */
export const isFloatType = (type: GgmlType) => type.name === 'F32' || type.name === 'F16' || type.name === 'BF16';

/** The f32 values of `count` values of a block type stored in `bytes`. */
export function dequantize(type: GgmlType, bytes: Uint8Array, count: number, what: string): Float32Array {
  const blockValues = DEQUANTIZE[type.name];
  if (!blockValues) {
    throw new UnsupportedQuantizationError(
      `${what} is ${type.name}, a type Tandem does not read. Use a file in one of ${DEQUANTIZED_TYPES.join(', ')} ` +
        '(Q4_K_M, Q5_K_M, Q6_K, Q8_0 and Q4_0 files are), F16, BF16 or F32.',
    );
  }
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block < count / type.blockValues; block++) {
    blockValues(view, block * type.blockBytes, out, block * type.blockValues);
  }
  return out;
}

/**
 * ggml's Q4_0 blocks (`count` values) in the layout of MLC's 4-bit groups (q4.ts), which
 * Tandem's kernels read: a block's 32 values are one group, value j of it at bits 4 (j % 8)
 * of word j / 8, and its f16 scale is the group's. Only the nibbles move: (q - 8) d, exactly.
 */
export function repackQ4_0(bytes: Uint8Array, count: number): { weights: Uint32Array; scales: Uint16Array } {
  const blocks = count / 32;
  const weights = new Uint32Array(count / 8);
  const scales = new Uint16Array(blocks);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const at = b * 18;
    scales[b] = view.getUint16(at, true);
    for (let j = 0; j < 16; j++) {
      const byte = bytes[at + 2 + j];
      weights[4 * b + (j >> 3)] |= (byte & 0xf) << (4 * (j & 7)); // value j
      weights[4 * b + 2 + (j >> 3)] |= (byte >> 4) << (4 * (j & 7)); // value j + 16
    }
  }
  return { weights, scales };
}

/**
 * ggml's Q4_K super-blocks (`count` values) as 4-bit groups of 32 in MLC's layout, each with an
 * f16 (scale, min) pair (q4.ts, FORMAT 6): a super-block's eight sub-blocks are the groups,
 * scale = d sc and min = dmin m rounded to f16 once (a relative change of at most 2^-11; ggml
 * keeps them in f32), the nibbles reordered.
 */
export function repackQ4_K(bytes: Uint8Array, count: number): { weights: Uint32Array; scales: Uint16Array } {
  const weights = new Uint32Array(count / 8);
  const scales = new Uint16Array((count / 32) * 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / 256; b++) {
    const at = b * 144;
    const d = f16(view, at);
    const dmin = f16(view, at + 2);
    for (let g = 0; g < 8; g++) {
      const [sc, m] = scaleMin(view, at + 4, g);
      scales[2 * (8 * b + g)] = f32ToF16(fr(d * sc));
      scales[2 * (8 * b + g) + 1] = f32ToF16(fr(dmin * m));
    }
    for (let part = 0; part < 4; part++) {
      for (let l = 0; l < 32; l++) {
        const byte = bytes[at + 16 + 32 * part + l];
        const low = 256 * b + 64 * part + l; // value index of the low nibble; the high one's is 32 on
        weights[low >>> 3] |= (byte & 0xf) << (4 * (low & 7));
        weights[(low + 32) >>> 3] |= (byte >> 4) << (4 * (low & 7));
      }
    }
  }
  return { weights, scales };
}

/** The ggml types `repackQ8` takes: a signed integer times a scale per 16 or 32 values. */
export const Q8_TYPES = ['Q8_0', 'Q6_K', 'Q5_0', 'Q4_0'];

/**
 * ggml blocks of one of Q8_TYPES (`count` values) as 8-bit groups of 16 with f32 scales (q8.ts,
 * FORMAT 7), exactly: each value's integer and scale as ggml's dequantization forms them
 * (Q6_K: d sc, an f16 times a signed 8-bit sub-block scale, per 16 values).
 */
export function repackQ8(
  type: string,
  bytes: Uint8Array,
  count: number,
): { weights: Uint32Array; scales: Float32Array } {
  const q = new Int8Array(count);
  const scales = new Float32Array(count / 16);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === 'Q6_K') {
    for (let b = 0; b < count / 256; b++) {
      const at = b * 210;
      const d = f16(view, at + 208);
      // Sub-block scale s covers values 16 s .. 16 s + 15 of the super-block (see DEQUANTIZE.Q6_K).
      for (let s = 0; s < 16; s++) scales[16 * b + s] = fr(d * view.getInt8(at + 192 + s));
      for (let half = 0; half < 2; half++) {
        const ql = at + 64 * half;
        const qh = at + 128 + 32 * half;
        const y = 256 * b + 128 * half;
        for (let l = 0; l < 32; l++) {
          const low0 = bytes[ql + l];
          const low32 = bytes[ql + l + 32];
          const high = bytes[qh + l];
          q[y + l] = ((low0 & 0xf) | ((high & 3) << 4)) - 32;
          q[y + l + 32] = ((low32 & 0xf) | (((high >> 2) & 3) << 4)) - 32;
          q[y + l + 64] = ((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32;
          q[y + l + 96] = ((low32 >> 4) | (((high >> 6) & 3) << 4)) - 32;
        }
      }
    }
  } else {
    const blockBytes = { Q8_0: 34, Q5_0: 22, Q4_0: 18 }[type];
    if (blockBytes === undefined) throw new RangeError(`repackQ8: ${type} is not one of ${Q8_TYPES.join(', ')}`);
    for (let b = 0; b < count / 32; b++) {
      const at = b * blockBytes;
      scales[2 * b] = scales[2 * b + 1] = f16(view, at);
      const y = 32 * b;
      if (type === 'Q8_0') {
        for (let j = 0; j < 32; j++) q[y + j] = view.getInt8(at + 2 + j);
      } else if (type === 'Q5_0') {
        const qh = view.getUint32(at + 2, true);
        for (let j = 0; j < 16; j++) {
          const byte = bytes[at + 6 + j];
          q[y + j] = ((byte & 0xf) | (((qh >>> j) << 4) & 0x10)) - 16;
          q[y + j + 16] = ((byte >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16;
        }
      } else {
        for (let j = 0; j < 16; j++) {
          const byte = bytes[at + 2 + j];
          q[y + j] = (byte & 0xf) - 8;
          q[y + j + 16] = (byte >> 4) - 8;
        }
      }
    }
  }
  return { weights: new Uint32Array(q.buffer), scales };
}
