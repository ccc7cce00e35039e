/**
 * MLC's 4-bit group quantization (q4f16_1, q4f32_1; mlc-llm's GroupQuantize with group size
 * 32, int4 values in uint32 storage, "NK" layout): a weight matrix (rows, k) is kept as
 *
 *   q_weight (rows, k / 8) uint32: value j of a row at bits 4 (j % 8) .. of word j / 8, low first
 *   q_scale  (rows, k / 32) f16 or f32: one scale per group of 32 consecutive values
 *
 *   w[r, j] = (q[r, j] - 7) * scale[r, j / 32],   q in 0 .. 14
 *
 * Quantizing (as mlc-llm does): scale = max |w| of the group / 7, in the scale's precision;
 * q = clamp(round(w / scale + 7), 0, 14). (q - 7) * scale is exact in f32: a 4-bit integer
 * times an 11- or 24-bit mantissa, so the GPU and this reference dequantize to the same floats.
 */

import { f16ToF32, f32ToF16, widenF16 } from './half';

export const Q4_GROUP = 32;
const MAX_INT = 7;

export type Q4Scales = 'F16' | 'F32';

export interface Q4Matrix {
  /** (rows, k / 8) packed 4-bit values. */
  weights: Uint32Array;
  /** (rows, k / 32): f16 bit patterns or f32 values. */
  scales: Uint16Array | Float32Array;
}

/**
 * The low 4 bits of each of `q`, eight to a u32, value j at bits 4 (j % 8) of word j / 8: this
 * layout's words, which the 5- and 6-bit layouts (q5.ts, q6.ts) share for their low bits.
 */
export function packNibbles(q: Uint8Array): Uint32Array {
  const words = new Uint32Array(q.length / 8);
  for (let w = 0, j = 0; w < words.length; w++, j += 8) {
    words[w] =
      (q[j] & 15) |
      ((q[j + 1] & 15) << 4) |
      ((q[j + 2] & 15) << 8) |
      ((q[j + 3] & 15) << 12) |
      ((q[j + 4] & 15) << 16) |
      ((q[j + 5] & 15) << 20) |
      ((q[j + 6] & 15) << 24) |
      ((q[j + 7] & 15) << 28);
  }
  return words;
}

/** Quantizes a (rows, k) row-major matrix as mlc-llm's group quantizer does. */
export function quantizeQ4(values: Float32Array, rows: number, k: number, scaleType: Q4Scales): Q4Matrix {
  if (k % Q4_GROUP !== 0) throw new RangeError(`q4: k = ${k} must be a multiple of ${Q4_GROUP}`);
  const groups = (rows * k) / Q4_GROUP;
  const weights = new Uint32Array((rows * k) / 8);
  const scales = scaleType === 'F16' ? new Uint16Array(groups) : new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    let maxAbs = 0;
    for (let i = 0; i < Q4_GROUP; i++) maxAbs = Math.max(maxAbs, Math.abs(values[g * Q4_GROUP + i]));
    // The scale in its own precision: f16 rounds max|w| to f16, then divides in f16.
    let scale: number;
    if (scaleType === 'F16') {
      const bits = f32ToF16(Math.fround(f16ToF32(f32ToF16(maxAbs)) / MAX_INT));
      (scales as Uint16Array)[g] = bits;
      scale = f16ToF32(bits);
    } else {
      scale = Math.fround(Math.fround(maxAbs) / MAX_INT);
      (scales as Float32Array)[g] = scale;
    }
    for (let i = 0; i < Q4_GROUP; i++) {
      const j = g * Q4_GROUP + i;
      const q = scale === 0 ? MAX_INT : Math.min(2 * MAX_INT, Math.max(0, roundHalfEven(values[j] / scale + MAX_INT)));
      weights[j >>> 3] |= q << (4 * (j & 7));
    }
  }
  return { weights, scales };
}

/**
 * The f32 values of a q4 matrix: (q - zero) * scale, exactly. MLC's zero is 7; ggml's Q4_0,
 * repacked into this layout (gguf-quants.ts), has 8.
 */
export function dequantizeQ4(matrix: Q4Matrix, rows: number, k: number, zero = MAX_INT): Float32Array {
  const scales = matrix.scales instanceof Uint16Array ? widenF16(matrix.scales) : matrix.scales;
  const out = new Float32Array(rows * k);
  for (let j = 0; j < out.length; j++) {
    const q = (matrix.weights[j >>> 3] >>> (4 * (j & 7))) & 15;
    out[j] = (q - zero) * scales[(j / Q4_GROUP) | 0];
  }
  return out;
}

/**
 * The f32 values of 4-bit groups with an f16 (scale, min) pair each (ggml's Q4_K repacked,
 * gguf-quants.ts): q * scale - min, where q * scale is exact (15 bits), so it is one rounding.
 */
export function dequantizeQ4Affine(matrix: Q4Matrix, rows: number, k: number): Float32Array {
  const pairs = widenF16(matrix.scales as Uint16Array);
  const out = new Float32Array(rows * k);
  for (let j = 0; j < out.length; j++) {
    const q = (matrix.weights[j >>> 3] >>> (4 * (j & 7))) & 15;
    const group = (j / Q4_GROUP) | 0;
    out[j] = Math.fround(q * pairs[2 * group] - pairs[2 * group + 1]);
  }
  return out;
}

/** Round half to even, as TVM's `round` (and NumPy's) does. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
