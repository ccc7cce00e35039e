/**
 * 8-bit groups: the layout the kernels read for ggml's Q8_0, Q5_0 and Q6_K matrices (and a
 * Q4_0 one fused with them), which are all a signed integer times a scale per group of 16 or
 * 32 values (gguf-quants.ts repacks them). A matrix (rows, k) is kept as
 *
 *   values (rows, k / 4) uint32: value j of a row in byte j % 4 of word j / 4, a signed byte
 *   scales (rows, k / 16) f32: one per group of 16 consecutive values
 *
 *   w[r, j] = q[r, j] * scale[r, j / 16]
 *
 * The scales are ggml's f16 scale (Q8_0, Q5_0, Q4_0) or its f16 super-block scale times a
 * 6-bit sub-block scale (Q6_K), and q at most 8 bits, so the product is exact in f32 and equals
 * ggml's own dequantization bit for bit.
 */

export const Q8_GROUP = 16;

export interface Q8Matrix {
  /** (rows, k / 4) packed signed bytes. */
  weights: Uint32Array;
  /** (rows, k / 16). */
  scales: Float32Array;
}

/** The f32 values of an 8-bit matrix: q * scale, exactly. */
export function dequantizeQ8(matrix: Q8Matrix, count: number): Float32Array {
  const q = new Int8Array(matrix.weights.buffer, matrix.weights.byteOffset, count);
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) out[j] = Math.fround(q[j] * matrix.scales[(j / Q8_GROUP) | 0]);
  return out;
}
