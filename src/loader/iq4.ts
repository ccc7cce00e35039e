/**
 * 4-bit level groups: the layout the kernels read for ggml's IQ4_NL and IQ4_XS matrices, 5 bits
 * a value where 8-bit groups take 10. Each 4-bit q is an index into 16 levels spaced more
 * closely near zero (ggml's kvalues_iq4nl), not an integer on a grid. A matrix (rows, k) is
 * kept as
 *
 *   values (rows, k / 8) uint32: index j of a row at bits 4 (j % 8) of word j / 8 (the nibbles
 *          of MLC's q4 layout, q4.ts)
 *   scales (rows, k / 32) f32: one scale per group of 32 values
 *
 *   w[r, j] = IQ4_LEVELS[q[r, j]] * scale
 *
 * ggml's scale is IQ4_NL's f16 d, or IQ4_XS's d (sc - 32) with a 6-bit sc: at most 16
 * significant bits, kept in f32 exactly. A level has at most 7, so the product is exact in f32
 * and is ggml's value bit for bit, on the GPU as here.
 */

import { packNibbles } from './q4';

export const IQ4_GROUP = 32;

/** IQ4_NL's and IQ4_XS's 16 levels (ggml's kvalues_iq4nl); the kernels keep them as int8s (iq4_levels.wgsl). */
export const IQ4_LEVELS = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

export interface IQ4Matrix {
  /** (rows, k / 8): the level indices. */
  weights: Uint32Array;
  /** (rows, k / 32): a scale per group. */
  scales: Float32Array;
}

/** A matrix of level indices `q` (0 .. 15) with one f32 scale per group of 32. */
export function packIQ4(q: Uint8Array, scales: Float32Array): IQ4Matrix {
  if (q.length !== IQ4_GROUP * scales.length) {
    throw new RangeError(`iq4: ${q.length} values for ${scales.length} groups of ${IQ4_GROUP}`);
  }
  return { weights: packNibbles(q), scales };
}

/** The f32 values of a level-group matrix: level * scale, exactly. */
export function dequantizeIQ4(matrix: IQ4Matrix, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let j = 0; j < count; j++) {
    const q = (matrix.weights[j >>> 3] >>> (4 * (j & 7))) & 15;
    out[j] = IQ4_LEVELS[q] * matrix.scales[(j / IQ4_GROUP) | 0];
  }
  return out;
}
