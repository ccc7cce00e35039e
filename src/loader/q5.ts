/**
 * 5-bit groups: the layout the kernels read for ggml's Q5_K, Q5_0 and Q5_1 matrices (and 4-bit
 * ones fused with them), 6 bits a value where 8-bit groups would take 12. A matrix (rows, k) is
 * kept as
 *
 *   values (rows, k / 8) uint32: the low 4 bits of value j of a row at bits 4 (j % 8) of word
 *          j / 8 (the nibbles of MLC's q4 layout, q4.ts)
 *   scales (rows, k / 32, 2) uint32: per group of 32 values, its fifth bits (bit j % 32: value
 *          j's) and an f16 (scale, min) pair, the scale in the low half
 *
 *   w[r, j] = q[r, j] * scale - min,   q in 0 .. 31
 *
 * q * scale is exact in f32 (5 bits times an f16's 11), so the GPU and this reference give the
 * same floats: one rounding, of the difference. gguf-quants.ts says which of ggml's values
 * that is exactly (Q5_0, Q5_1) and which it rounds to f16 once (Q5_K's scale and min).
 */

import { widenF16 } from './half';
import { packNibbles } from './q4';

export const Q5_GROUP = 32;

export interface Q5Matrix {
  /** (rows, k / 8): the values' low 4 bits. */
  weights: Uint32Array;
  /** (rows, k / 32, 2): fifth bits, then the (scale, min) f16 pair. */
  scales: Uint32Array;
}

/** A 5-bit matrix of `q` (values 0 .. 31) with a (scale, min) pair of f16 bit patterns per group of 32. */
export function packQ5(q: Uint8Array, pairs: Uint16Array): Q5Matrix {
  if (q.length % Q5_GROUP !== 0) throw new RangeError(`q5: ${q.length} values are not groups of ${Q5_GROUP}`);
  const weights = packNibbles(q);
  const scales = new Uint32Array((2 * q.length) / Q5_GROUP);
  for (let g = 0; g < q.length / Q5_GROUP; g++) {
    let fifths = 0;
    for (let i = 0; i < Q5_GROUP; i++) fifths |= (q[Q5_GROUP * g + i] >> 4) << i;
    scales[2 * g] = fifths >>> 0;
    scales[2 * g + 1] = pairs[2 * g] | (pairs[2 * g + 1] << 16);
  }
  return { weights, scales };
}

/** The f32 values of a 5-bit matrix: q * scale - min, one rounding. */
export function dequantizeQ5(matrix: Q5Matrix, count: number): Float32Array {
  const pairs = widenF16(new Uint16Array(matrix.scales.buffer, matrix.scales.byteOffset, matrix.scales.length * 2));
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) {
    const group = (j / Q5_GROUP) | 0;
    const fifth = (matrix.scales[2 * group] >>> (j % Q5_GROUP)) & 1;
    const q = ((matrix.weights[j >>> 3] >>> (4 * (j & 7))) & 15) | (fifth << 4);
    // The pair of group g is u16s 4g + 2 (scale) and 4g + 3 (min), little-endian.
    out[j] = Math.fround(q * pairs[4 * group + 2] - pairs[4 * group + 3]);
  }
  return out;
}
