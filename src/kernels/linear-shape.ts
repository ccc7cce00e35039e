/**
 * What every linear kernel variant shares: the layer's shape, what becomes of its sums (the
 * output), the variants themselves, and the pieces of WGSL and constants they have in common.
 *
 * Variants (one WGSL file and one TypeScript file each), chosen per device profile by
 * linear-layer.ts, never by the batch:
 *   lanes    linear.wgsl          LANES threads share each weight row; tiles of 1 to 16 tokens
 *   blocked  linear_blocked.wgsl  each thread 4 rows for a tile of 1 to 8 tokens (CPU adapters)
 *   prefill  linear_prefill.wgsl  tiles of rows and tokens staged in workgroup memory
 * Each sums a row in the same order as `lanes` with the same LANES (blocked: one lane), so
 * their bits agree.
 */

import type { Activation } from '../loader/config';
import { isLevelDType, LEVELS, levelWords } from '../loader/iq4';
import { isQuantized, type WeightDType } from '../loader/weights';
import activationCode from './activation.wgsl?raw';
import type { HeadShape } from './attention';
import gateCode from './epilogue_gate.wgsl?raw';
import ropeCode from './epilogue_rope.wgsl?raw';
import iq4LevelsCode from './iq4_levels.wgsl?raw';
import { type KvFormat, kvWriteCode } from './kv-cache';
import normCode from './linear_norm.wgsl?raw';
import quantizedCode from './quantized.wgsl?raw';
import { TREE_POSITION_CODE } from './step';

export interface LinearShape {
  rows: number; // weight rows: output features, or twice the outputs with a pair epilogue
  k: number; // input features: a multiple of 4 (f32), 8 (f16, bf16) or 32 (q4)
  dtype: WeightDType;
}

/**
 * What becomes of y = x W^T + bias: stored; added into y (a fused residual add); or handed, a
 * pair of rows at a time, to an epilogue that takes the place of the next kernel: 'gate'
 * (weights: gate then up, 2f rows) writes act(gate) * up, (tokens, f), act SiLU or GELU;
 * 'rope' (weights: q, k and v heads) writes rotated queries to y, (tokens, nh, hd), and rotated
 * keys and the values into the KV cache at the step's positions; queries read their tables from
 * `queryTable` on (the offset of queries' own tables, scaled by position; 0: the keys' tables);
 * 'activate' stores act(y) (the one in-projection of an MLP without a gate: Phi-1/2's fc1).
 */
export type LinearOutput =
  | { kind: 'store'; part?: RowPart }
  | { kind: 'activate'; activation: Activation }
  | { kind: 'accumulate'; part?: RowPart }
  | { kind: 'gate'; activation: Activation }
  | { kind: 'rope'; heads: HeadShape; kv?: KvFormat; queryTable?: number };

/** activation.wgsl's ACTIVATION for each activation. */
const ACTIVATIONS: Record<Activation, number> = { silu: 0, 'gelu-tanh': 1, gelu: 2 };

/** A matrix's rows split over several buffers: this kernel's rows start at `offset` of `total`. */
export interface RowPart {
  offset: number;
  total: number;
}

/**
 * RMSNorm folded into a layer (linear_norm.wgsl): its token tiles read x, and its prefill kernel
 * reads norm_lanes.wgsl's x * g and scales by each token's inverse RMS. The norm's epsilon.
 */
export interface FoldedNorm {
  eps: number;
}

export type LinearVariant =
  /**
   * linear.wgsl: `lanes` threads a row, `tileN` tokens a workgroup (1 to 16); `norm`: reads x
   * and folds the norm in; `twoRows`: a thread sums two rows for each input chunk it loads (the same
   * bits); `fourRows` (tileN up to 12): four; `unitsInFlight` (quantized): units of each row a
   * lane loads before adding the first, 1, 2 or 4 (the same bits).
   */
  | {
      kind: 'lanes';
      tileN: number;
      lanes: number;
      shuffle: number;
      norm?: FoldedNorm;
      twoRows?: boolean;
      fourRows?: boolean;
      splitGroups?: boolean;
      unitsInFlight?: number;
    }
  /** linear_blocked.wgsl: a thread computes 4 rows for `tileN` tokens (1 to 8), no barrier. */
  | { kind: 'blocked'; tileN: number }
  /**
   * linear_prefill.wgsl: `lanes` threads a row over tiles in workgroup memory (their size from
   * the device). `splitGroups` (both): a lane takes a u32 of a quantized word at a time
   * (quantized.wgsl), which sets the order of a row's sum: a layer's variants agree on it.
   * `norm`: x is a folded norm's x * g (norm_lanes.wgsl), each sum scaled by the token's inv.
   */
  | { kind: 'prefill'; lanes: number; shuffle: number; splitGroups?: boolean; norm?: FoldedNorm };

export interface LinearBuffers {
  step: GPUBuffer;
  weight: GPUBuffer; // (rows, k)
  bias: GPUBuffer; // (rows)
  x: GPUBuffer; // (tokens, k)
  y: GPUBuffer; // (tokens, rows), or the epilogue's output
  /** The 'rope' epilogue's tables, (positions, hd/2) each, and the KV cache, (capacity, nkv, hd) each */
  rope?: { cos: GPUBuffer; sin: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer };
  /**
   * For a layer that folds its norm: the input before the norm, (tokens, k), which its token
   * tiles read, the norm's weight, (k), and each token's inverse RMS, (tokens), which
   * norm_lanes.wgsl writes beside x * g (into `x`) for the prefill kernel.
   */
  norm?: { x: GPUBuffer; weight: GPUBuffer; scale: GPUBuffer };
}

/**
 * Storage buffers a linear kernel binds: weight, bias, x and y, the rope epilogue's tables and
 * cache, and a folded norm's weight (token tiles) or inverse RMS (prefill).
 */
export function storageBuffers(output: LinearOutput, norm: boolean): number {
  return 4 + (output.kind === 'rope' ? 4 : 0) + (norm ? 1 : 0);
}

/** A variant's pipeline: its code and constants, and how it spreads a step over workgroups. */
export interface KernelPlan {
  label: string;
  code: string;
  constants: Record<string, number | boolean>;
  /** Weight rows a workgroup computes. */
  rowsPerGroup: number;
  /** Tokens a workgroup serves. */
  tileN: number;
}

/**
 * The kernels' FORMAT constant for each weight type (linear.wgsl, quantized.wgsl, embed.wgsl);
 * the other level groups (the lattice types', Q3_K's) share IQ4's, or with a scale a 16 have
 * one of their own, each with its own levels (`formatConstants`).
 */
export const WEIGHT_FORMATS: Record<WeightDType, number> = {
  F32: 0,
  F16: 1,
  BF16: 2,
  Q4F16: 3,
  Q4F32: 4,
  Q4_0: 5,
  Q4_K: 6,
  Q8: 7,
  Q8A: 8,
  Q5_K: 9,
  Q6A: 10,
  Q6_K: 14,
  IQ4: 11,
  IQ3_XXS: 11,
  IQ3_S: 11,
  IQ2_XXS: 11,
  IQ1_S: 11,
  IQ2_XS: 13,
  IQ2_S: 13,
  IQ1_M: 13,
  Q3_K: 13,
  Q8_0: 12,
};

/**
 * The constants that say how a kernel reads weights of `dtype`: FORMAT, and for level groups
 * other than IQ4's their levels (iq4_levels.wgsl; IQ4's are its defaults).
 */
export function formatConstants(dtype: WeightDType): Record<string, number> {
  if (dtype === 'IQ4' || !isLevelDType(dtype)) return { FORMAT: WEIGHT_FORMATS[dtype] };
  const words = levelWords(LEVELS[dtype]);
  return { FORMAT: WEIGHT_FORMATS[dtype], ...Object.fromEntries(words.map((word, i) => [`LEVELS_${i}`, word])) };
}

/** Values in one word (a vec4u) of a weight row: 4 in f32, 8 in f16 or bf16, a group of 32 in q4 to q6, 16 in q8. */
export function valuesPerWord(dtype: WeightDType): number {
  return dtype === 'F32' ? 4 : dtype === 'F16' || dtype === 'BF16' ? 8 : dtype.startsWith('Q8') ? 16 : 32;
}

/**
 * Values in a lane's unit of a weight row (quantized.wgsl): a word, or with `splitGroups` a
 * quantized word's u32 (8 values of a 4- to 6-bit group, 4 of an 8-bit one).
 */
export function valuesPerUnit(dtype: WeightDType, splitGroups: boolean): number {
  return splitGroups && isQuantized(dtype) ? valuesPerWord(dtype) / 4 : valuesPerWord(dtype);
}

/**
 * Bytes the prefill kernel stages beside each quantized weight word: its (scale, min), and for
 * Q5_K, Q6A and Q6_K the bits above its nibbles (8 bytes), for those two and the level groups
 * with a scale a 16 a second pair.
 */
export function scaleBytes(dtype: WeightDType): number {
  if (dtype === 'Q6A' || dtype === 'Q6_K') return 24;
  if (dtype === 'Q5_K' || WEIGHT_FORMATS[dtype] === 13) return 16;
  return isQuantized(dtype) ? 8 : 0;
}

/** The constants every variant takes: the shape, the format, the output, the epilogue's heads. */
export function sharedConstants(shape: LinearShape, output: LinearOutput): Record<string, number | boolean> {
  const { rows, k, dtype } = shape;
  // A Q8_0 word is half a block: its scale covers two.
  const multiple = dtype === 'Q8_0' ? 2 * valuesPerWord(dtype) : valuesPerWord(dtype);
  if (k % multiple !== 0) {
    throw new RangeError(`linear: k = ${k} must be a multiple of ${multiple} for ${dtype} weights`);
  }
  const heads = output.kind === 'rope' ? output.heads : undefined;
  return {
    ROWS: rows,
    K: k,
    ...formatConstants(dtype),
    ACCUMULATE: output.kind === 'accumulate',
    PAIR_SPAN: pairSpan(output, rows),
    ...(heads ? { NH: heads.numHeads, NKV: heads.numKvHeads, HD: heads.headDim } : {}),
    ...(output.kind === 'rope' && output.queryTable ? { QUERY_TABLE: output.queryTable } : {}),
    ...(output.kind === 'gate' || output.kind === 'activate'
      ? { ACTIVATION: ACTIVATIONS[output.activation], ACTIVATE: output.kind === 'activate' }
      : {}),
    ...((output.kind === 'store' || output.kind === 'accumulate') && output.part
      ? { ROW_OFFSET: output.part.offset, Y_ROWS: output.part.total }
      : {}),
  };
}

/**
 * The kernel's code followed by the quantized groups' functions and its output's epilogue (every
 * variant calls `store_pair` when PAIR_SPAN > 0).
 */
export function linearCode(code: string, output: LinearOutput): string {
  const epilogue =
    output.kind === 'gate'
      ? gateCode
      : output.kind === 'rope'
        ? `${ropeCode}${kvWriteCode(output.kv ?? 'f32', 7)}${TREE_POSITION_CODE}`
        : '// Never called: PAIR_SPAN is 0.\nfn store_pair(j: u32, n: u32, a: f32, b: f32) {}\n';
  return `${code}\n${quantizedCode}\n${iq4LevelsCode}\n${activationCode}\n${epilogue}`;
}

/**
 * linear.wgsl reads its input through `normed` and scales its sums by `norm_scale`: with a
 * folded norm linear_norm.wgsl, its weight bound after every other buffer, else the identity.
 */
export function withNorm(code: string, output: LinearOutput, norm: FoldedNorm | undefined): string {
  if (!norm) {
    return `${code}
// No folded norm: the input is read, and the sums stored, as they are.
fn norm_gain(c: u32) -> vec4f { return vec4f(1.0); }
fn normed(v: vec4f, j: u32, gain: vec4f) -> vec4f { return v; }
fn norm_finish(t: u32, lane: u32) {}
fn norm_scale(total: f32, j: u32) -> f32 { return total; }
`;
  }
  return `${code}
${normCode.replace('NORM_BINDING', String(storageBuffers(output, true)))}`;
}

/**
 * linear_prefill.wgsl scales its sums by `norm_scale`: with a folded norm by each token's inverse
 * RMS, bound after every other buffer, else not at all.
 */
export function withNormScale(code: string, output: LinearOutput, norm: FoldedNorm | undefined): string {
  if (!norm) return `${code}\nfn norm_scale(total: f32, n: u32) -> f32 { return total; }\n`;
  return `${code}
// A folded norm: token n's inverse RMS (norm_lanes.wgsl).
@group(0) @binding(${storageBuffers(output, true)}) var<storage, read> norm_inv: array<f32>;
fn norm_scale(total: f32, n: u32) -> f32 { return total * norm_inv[n]; }
`;
}

/** The constants of a folded norm (none without one). */
export function normConstants(norm: FoldedNorm | undefined): Record<string, number> {
  return norm ? { NORM_EPS: norm.eps } : {};
}

/** linear.wgsl and linear_prefill.wgsl end their reduction tree with `lane_shuffle_xor` when SHUFFLE > 1. */
export function withShuffle(code: string, shuffle: number): string {
  if (shuffle < 1 || (shuffle & (shuffle - 1)) !== 0) {
    throw new RangeError(`linear: shuffle = ${shuffle} must be a power of two`);
  }
  return shuffle > 1
    ? `enable subgroups;\n${code}\nfn lane_shuffle_xor(v: f32, mask: u32) -> f32 { return subgroupShuffleXor(v, mask); }\n`
    : `${code}\n// Never called: SHUFFLE is 1 without subgroups.\nfn lane_shuffle_xor(v: f32, mask: u32) -> f32 { return v; }\n`;
}

/** A label naming the layer, its tile and variant, and its output: "linear F16 2048x576/5 shuffle 32 rope". */
export function planLabel(shape: LinearShape, tileN: number, variant: string, output: LinearOutput): string {
  const out =
    output.kind === 'gate'
      ? ` ${output.activation}-gate`
      : output.kind === 'activate'
        ? ` ${output.activation}`
        : output.kind === 'rope'
          ? ` rope ${output.kv ?? 'f32'}`
          : '';
  return `linear ${shape.dtype} ${shape.rows}x${shape.k}/${tileN}${variant ? ` ${variant}` : ''}${out}`;
}

/** How far apart an epilogue's paired rows are (PAIR_SPAN in the WGSL; 0 without pairs), after checking the shape. */
function pairSpan(output: LinearOutput, rows: number): number {
  if (output.kind === 'gate') {
    if (rows % 2 !== 0) throw new RangeError(`linear: the gate needs gate and up rows, an even count, not ${rows}`);
    return rows / 2;
  }
  if (output.kind === 'rope') {
    const { numHeads, numKvHeads, headDim } = output.heads;
    if (rows !== (numHeads + 2 * numKvHeads) * headDim || headDim % 2 !== 0) {
      throw new RangeError(
        `linear: rope needs (${numHeads} + 2 x ${numKvHeads}) heads of an even ${headDim} rows, not ${rows}`,
      );
    }
    return headDim / 2;
  }
  return 0;
}
