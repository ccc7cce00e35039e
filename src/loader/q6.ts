/**
 * 6-bit groups: the layout the kernels read for ggml's K-quants (Q6_K, and Q5_K, Q4_K, Q3_K,
 * Q2_K where they share a matrix with it or stand alone as Q3_K and Q2_K do) and the 4- and
 * 5-bit types fused with them: 8 bits a value where 8-bit groups take 10 or 12. A matrix
 * (rows, k) is kept as
 *
 *   values (rows, k / 8) uint32: the low 4 bits of value j of a row at bits 4 (j % 8) of word
 *          j / 8 (the nibbles of MLC's q4 layout, q4.ts)
 *   scales (rows, k / 32, 4) uint32: per group of 32 values, the high 2 bits of its values 0-15
 *          (value j's at bits 2 j) and of 16-31, then an f16 (scale, min) pair for each half
 *          (the scale in the low half of its u32)
 *
 *   w[r, j] = q[r, j] * scale - min,   q in 0 .. 63
 *
 * A pair per 16 values, as ggml's K-quants have a scale per 16 (Q6_K, Q3_K, Q2_K) or per 32
 * (Q4_K, Q5_K). q * scale is exact in f32 (6 bits times an f16's 11), so the GPU and this
 * reference give the same floats: one rounding, of the difference. gguf-quants.ts says which of
 * ggml's values that is exactly and which it rounds to f16 once.
 */

import { widenF16 } from './half';
import { packNibbles } from './q4';

export const Q6_GROUP = 32;

export interface Q6Matrix {
  /** (rows, k / 8): the values' low 4 bits. */
  weights: Uint32Array;
  /** (rows, k / 32, 4): high bits of values 0-15 and 16-31, then two (scale, min) f16 pairs. */
  scales: Uint32Array;
}

/** A 6-bit matrix of `q` (values 0 .. 63) with a (scale, min) pair of f16 bit patterns per 16 values. */
export function packQ6(q: Uint8Array, pairs: Uint16Array): Q6Matrix {
  if (q.length % Q6_GROUP !== 0) throw new RangeError(`q6: ${q.length} values are not groups of ${Q6_GROUP}`);
  const weights = packNibbles(q);
  const scales = new Uint32Array((4 * q.length) / Q6_GROUP);
  for (let half = 0; half < (2 * q.length) / Q6_GROUP; half++) {
    let high = 0;
    for (let i = 0; i < 16; i++) high |= (q[16 * half + i] >> 4) << (2 * i);
    const group = half >> 1;
    scales[4 * group + (half & 1)] = high >>> 0;
    scales[4 * group + 2 + (half & 1)] = pairs[2 * half] | (pairs[2 * half + 1] << 16);
  }
  return { weights, scales };
}

/** The f32 values of a 6-bit matrix: q * scale - min, one rounding. */
export function dequantizeQ6(matrix: Q6Matrix, count: number): Float32Array {
  const halves = widenF16(new Uint16Array(matrix.scales.buffer, matrix.scales.byteOffset, matrix.scales.length * 2));
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) {
    const group = (j / Q6_GROUP) | 0;
    const upper = (j % Q6_GROUP) >> 4; // values 16-31
    const high = (matrix.scales[4 * group + upper] >>> (2 * (j % 16))) & 3;
    const q = ((matrix.weights[j >>> 3] >>> (4 * (j & 7))) & 15) | (high << 4);
    // Group g's pair for its half u is the u32 4g + 2 + u: u16s 8g + 4 + 2u (scale) and 8g + 5 + 2u (min).
    out[j] = Math.fround(q * halves[8 * group + 4 + 2 * upper] - halves[8 * group + 5 + 2 * upper]);
  }
  return out;
}
