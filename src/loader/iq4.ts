/**
 * 4-bit level groups: the layout the kernels read for ggml's IQ4_NL and IQ4_XS matrices, for
 * the 1- to 3-bit i-quants, whose values take at most 16 levels, and for Q3_K: 5 bits a value
 * where 8-bit groups take 10 (6 for the types with a scale per 16). Each 4-bit q is an index into
 * 16 levels, not an integer on a grid: IQ4's are spaced more closely near zero (ggml's
 * kvalues_iq4nl); the i-quants' are the values their lattices take, signed (gguf-iquants.ts);
 * Q3_K's its integers -4 .. 3. A matrix (rows, k) is kept as
 *
 *   values (rows, k / 8) uint32: index j of a row at bits 4 (j % 8) of word j / 8 (the nibbles
 *          of MLC's q4 layout, q4.ts)
 *   scales (rows, k / 32) f32: one scale per group of 32 values (IQ4, IQ3_XXS, IQ3_S, IQ2_XXS,
 *          IQ1_S), or (rows, k / 16) for IQ2_XS, IQ2_S, IQ1_M and Q3_K, whose scales cover 16
 *
 *   w[r, j] = LEVELS[dtype][q[r, j]] * scale
 *
 * ggml's scale is IQ4_NL's f16 d, or IQ4_XS's and Q3_K's d (sc - 32) with a 6-bit sc, or an
 * i-quant's f16 d times an integer of at most 5 bits over a power of two: at most 17
 * significant bits, kept in f32 exactly. A level has at most 7, so the product is exact in f32
 * and is ggml's value bit for bit, on the GPU as here.
 */

import { packNibbles } from './q4';

export const IQ4_GROUP = 32;

/** IQ4_NL's and IQ4_XS's 16 levels (ggml's kvalues_iq4nl); the kernels keep them as int8s (iq4_levels.wgsl). */
export const IQ4_LEVELS = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** The layouts of level groups, by whose levels they index: IQ4's, or a type's own. */
export type LevelDType = 'IQ4' | 'IQ3_XXS' | 'IQ3_S' | 'IQ2_XXS' | 'IQ1_S' | 'IQ2_XS' | 'IQ2_S' | 'IQ1_M' | 'Q3_K';

/** A lattice's values (gguf-iquants.ts: IQ1_S's as 8 (row + δ)), each with either sign, ascending; 0 pads to 16. */
const signed = (magnitudes: number[]) => {
  const levels = [...magnitudes.map((m) => -m).reverse(), ...magnitudes];
  return [...levels, ...new Array(16 - levels.length).fill(0)];
};

/** Each level-group layout's 16 levels. */
export const LEVELS: Record<LevelDType, readonly number[]> = {
  IQ4: IQ4_LEVELS,
  IQ3_XXS: signed([4, 12, 20, 28, 36, 44, 52, 62]),
  IQ3_S: signed([1, 3, 5, 7, 9, 11, 13, 15]),
  IQ2_XXS: signed([8, 25, 43]),
  IQ1_S: signed([1, 7, 9]),
  IQ2_XS: signed([8, 25, 43]),
  IQ2_S: signed([8, 25, 43]),
  IQ1_M: signed([1, 7, 9]),
  Q3_K: [-4, -3, -2, -1, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0],
};

/** The level layouts with a scale per 16 values (two a group), as their types have. */
export const SCALES_PER_16: readonly LevelDType[] = ['IQ2_XS', 'IQ2_S', 'IQ1_M', 'Q3_K'];

export const isLevelDType = (dtype: string): dtype is LevelDType => Object.hasOwn(LEVELS, dtype);

/** 16 int8 levels as the kernels take them, four to a u32: level q at byte q % 4 of word q / 4. */
export function levelWords(levels: readonly number[]): number[] {
  return [0, 1, 2, 3].map((w) =>
    levels.slice(4 * w, 4 * w + 4).reduce((word, level, b) => (word | ((level & 0xff) << (8 * b))) >>> 0, 0),
  );
}

export interface IQ4Matrix {
  /** (rows, k / 8): the level indices. */
  weights: Uint32Array;
  /** (rows, k / 32): a scale per group. */
  scales: Float32Array;
}

/** A matrix of level indices `q` (0 .. 15) with one f32 scale per group of 32, or per 16. */
export function packIQ4(q: Uint8Array, scales: Float32Array): IQ4Matrix {
  if (q.length !== IQ4_GROUP * scales.length && q.length !== (IQ4_GROUP / 2) * scales.length) {
    throw new RangeError(`iq4: ${q.length} values for ${scales.length} scales of ${IQ4_GROUP} or ${IQ4_GROUP / 2}`);
  }
  return { weights: packNibbles(q), scales };
}

/** The f32 values of a level-group matrix (a scale per 32 values, or per 16): level * scale, exactly. */
export function dequantizeIQ4(matrix: IQ4Matrix, count: number, levels: readonly number[] = IQ4_LEVELS): Float32Array {
  const out = new Float32Array(count);
  const per = count / matrix.scales.length;
  for (let j = 0; j < count; j++) {
    const q = (matrix.weights[j >>> 3] >>> (4 * (j & 7))) & 15;
    out[j] = levels[q] * matrix.scales[(j / per) | 0];
  }
  return out;
}
