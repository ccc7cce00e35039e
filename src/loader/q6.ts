/**
 * 6-bit groups: the layouts the kernels read for ggml's K-quants. Q6A holds the K-quants where
 * they share a matrix (Q6_K, Q5_K, Q4_K, Q3_K, Q2_K, and the 4- and 5-bit types fused with
 * them) or stand alone as Q2_K does: 8 bits a value where 8-bit groups take 10 or 12. A matrix
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

import { f16ToF32, widenF16 } from './half';
import { packNibbles } from './q4';

export const Q6_GROUP = 32;

export interface Q6Matrix {
  /** (rows, k / 8): the values' low 4 bits. */
  weights: Uint32Array;
  /** (rows, k / 32, 4): high bits of values 0-15 and 16-31, then two (scale, min) f16 pairs (Q6_K: 3, then d and two int8s). */
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

/**
 * ggml's Q6_K alone, exactly (the layout named Q6_K): the same nibbles, and three u32s a group
 * of 32: the high 2 bits of its values 0-15 and of 16-31 (as above), then the block's f16 d in
 * the low half and the two halves' int8 scales above it (bits 16-23: values 0-15, 24-31: 16-31).
 *
 *   w[r, j] = q scale - 32 scale,   scale = d sc,   q in 0 .. 63
 *
 * 7 bits a value where the pairs above take 8, and no rounding: d sc needs at most 18 bits (an
 * f16's 11 times an int8's 7), q scale at most 24, so both products are exact in f32 and their
 * difference is ggml's (q - 32) d sc, itself exact (up to the sign of a zero).
 */
export const Q6_K_EXTRAS = 3;

/** A Q6_K matrix of `q` (values 0 .. 63), `d` (f16 bit patterns, one per group of 32: its block's) and `sc` (one per 16). */
export function packQ6_K(q: Uint8Array, d: Uint16Array, sc: Int8Array): Q6Matrix {
  if (q.length % Q6_GROUP !== 0) throw new RangeError(`q6: ${q.length} values are not groups of ${Q6_GROUP}`);
  const weights = packNibbles(q);
  const scales = new Uint32Array((Q6_K_EXTRAS * q.length) / Q6_GROUP);
  for (let group = 0; group < q.length / Q6_GROUP; group++) {
    for (let half = 0; half < 2; half++) {
      let high = 0;
      for (let i = 0; i < 16; i++) high |= (q[Q6_GROUP * group + 16 * half + i] >> 4) << (2 * i);
      scales[Q6_K_EXTRAS * group + half] = high >>> 0;
    }
    const scaleBits = (half: number) => sc[2 * group + half] & 0xff;
    scales[Q6_K_EXTRAS * group + 2] = (d[group] | (scaleBits(0) << 16) | (scaleBits(1) << 24)) >>> 0;
  }
  return { weights, scales };
}

/** The f32 values of a Q6_K matrix: q scale - 32 scale with scale = d sc, all exact. */
export function dequantizeQ6_K(matrix: Q6Matrix, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) {
    const group = (j / Q6_GROUP) | 0;
    const upper = (j % Q6_GROUP) >> 4; // values 16-31
    const high = (matrix.scales[Q6_K_EXTRAS * group + upper] >>> (2 * (j % 16))) & 3;
    const q = ((matrix.weights[j >>> 3] >>> (4 * (j & 7))) & 15) | (high << 4);
    const packed = matrix.scales[Q6_K_EXTRAS * group + 2];
    const scale = Math.fround(f16ToF32(packed & 0xffff) * ((packed << (8 - 8 * upper)) >> 24)); // the int8, sign kept
    out[j] = Math.fround(q * scale - 32 * scale);
  }
  return out;
}
