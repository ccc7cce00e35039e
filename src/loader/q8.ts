/**
 * 8-bit groups: the layouts the kernels read for ggml's Q8_0 and i-quant matrices, and for
 * those fused with other types (the 4- to 6-bit ones have layouts of their own: q4.ts, q5.ts,
 * q6.ts, iq4.ts), which gguf-quants.ts repacks. A matrix (rows, k) is kept as
 *
 *   values (rows, k / 4) uint32: value j of a row in byte j % 4 of word j / 4
 *   Q8_0: a signed byte;   scales (rows, k / 32) f16, one per group of 32 consecutive values
 *         (ggml's Q8_0 blocks, their bytes and scales apart: 8.5 bits a value)
 *         w[r, j] = q[r, j] * scale[r, j / 32]
 *   Q8:   a signed byte;   scales (rows, k / 16) f32, one per group of 16
 *         w[r, j] = q[r, j] * scale[r, j / 16]
 *   Q8A:  an unsigned byte; (scale, min) f32 pairs (rows, k / 16, 2)
 *         w[r, j] = q[r, j] * scale[r, j / 16] - min[r, j / 16]
 *
 * Q8 holds the types that are a signed integer times a scale (the i-quants, and Q8_0, the
 * K-quants and Q4_0 or Q5_0 fused with them); Q8A every type, with a min (Q2_K, Q4_K, Q5_K,
 * Q4_1, Q5_1 fused with those) or a zero point times the scale. The scales are ggml's f16 scale
 * or its f16 super-block scale times a 6-bit sub-block scale, and q at most 8 bits, so q * scale
 * is exact in f32, and the value ggml's own dequantization gives, bit for bit (a signed type in
 * Q8A: up to the sign of a zero, which q scale - zero scale gives as +0 where ggml's product
 * is -0).
 */

import { widenF16 } from './half';

export const Q8_GROUP = 16;
/** Values a Q8_0 scale covers: ggml's block. */
export const Q8_0_GROUP = 32;

export interface Q8Matrix {
  /** (rows, k / 4) packed bytes: signed in Q8, unsigned in Q8A. */
  weights: Uint32Array;
  /** (rows, k / 16); Q8A: (scale, min) pairs, (rows, k / 16, 2). */
  scales: Float32Array;
}

/** The f32 values of a Q8_0 matrix (`scales` f16 bit patterns): q * scale, exactly. */
export function dequantizeQ8_0(matrix: { weights: Uint32Array; scales: Uint16Array }, count: number): Float32Array {
  const q = new Int8Array(matrix.weights.buffer, matrix.weights.byteOffset, count);
  const scales = widenF16(matrix.scales);
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) out[j] = Math.fround(q[j] * scales[(j / Q8_0_GROUP) | 0]);
  return out;
}

/** The f32 values of a Q8 matrix: q * scale, exactly. */
export function dequantizeQ8(matrix: Q8Matrix, count: number): Float32Array {
  const q = new Int8Array(matrix.weights.buffer, matrix.weights.byteOffset, count);
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) out[j] = Math.fround(q[j] * matrix.scales[(j / Q8_GROUP) | 0]);
  return out;
}

/** The f32 values of a Q8A matrix (`scales` holding the pairs): q * scale - min, one rounding. */
export function dequantizeQ8Affine(matrix: Q8Matrix, count: number): Float32Array {
  const q = new Uint8Array(matrix.weights.buffer, matrix.weights.byteOffset, count);
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) {
    const group = (j / Q8_GROUP) | 0;
    out[j] = Math.fround(q[j] * matrix.scales[2 * group] - matrix.scales[2 * group + 1]);
  }
  return out;
}
