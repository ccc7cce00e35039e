/**
 * A linear layer as a model runs it: the pipelines its device profile calls for, one per token
 * tile (1 for decode, then the profile's verify tiles, ascending), and on GPUs the prefill
 * kernel, with the choice of which one runs a step of n tokens. The choice changes how tokens
 * are shared out among workgroups, never the order of a sum, so any choice gives the same bits.
 */

import { isQuantized } from '../loader/weights';
import { LinearKernel } from './linear';
import { linearLanes } from './linear-lanes';
import {
  type LinearBuffers,
  type LinearOutput,
  type LinearShape,
  type LinearVariant,
  type NormPrologue,
  valuesPerUnit,
  valuesPerWord,
} from './linear-shape';
import type { KernelProfile } from './profile';

export class LinearLayer {
  /** For each part of the matrix's rows: one kernel per tile, then the prefill kernel where the profile has it. */
  private readonly parts: LinearKernel[][];
  /** Tokens of each tile: 1, then the profile's tiles. */
  private readonly tiles: number[];

  /**
   * `partRows`: the rows of each buffer the weights are split over (gpu-weights.ts), all in one
   * by default. Lanes follow the whole matrix, so a split changes no bit of any row.
   */
  constructor(
    device: GPUDevice,
    shape: LinearShape,
    output: LinearOutput,
    private readonly profile: KernelProfile,
    subgroupShuffle: number,
    partRows: number[] = [shape.rows],
    /** RMSNorm fused into the token tiles' kernels (not the prefill kernel's): see `readsNorm`. */
    private readonly norm?: NormPrologue,
  ) {
    this.tiles = [1, ...profile.tiles];
    const variants = layerVariants(shape, profile, subgroupShuffle, norm);
    if (norm && partRows.length > 1) throw new RangeError('linear: a norm prologue needs the matrix in one buffer');
    if (partRows.length > 1 && output.kind !== 'store' && output.kind !== 'accumulate') {
      throw new RangeError(`linear: a ${output.kind} epilogue pairs rows across the matrix; it cannot be split`);
    }
    let offset = 0;
    this.parts = partRows.map((rows) => {
      const part = partRows.length > 1 ? { ...output, part: { offset, total: shape.rows } } : output;
      offset += rows;
      return variants.map((variant) => new LinearKernel(device, { ...shape, rows }, part, variant));
    });
  }

  /** A bind group for each part and kernel; `weight` (and `bias`) one buffer per part. */
  bind(
    buffers: Omit<LinearBuffers, 'weight' | 'bias'> & {
      weight: GPUBuffer | GPUBuffer[];
      bias: GPUBuffer | GPUBuffer[];
    },
  ): GPUBindGroup[][] {
    const pick = (b: GPUBuffer | GPUBuffer[], i: number) => (Array.isArray(b) ? b[i] : b);
    return this.parts.map((kernels, i) =>
      kernels.map((kernel) =>
        kernel.bind({ ...buffers, weight: pick(buffers.weight, i), bias: pick(buffers.bias, i) }),
      ),
    );
  }

  /**
   * Whether a step of `tokens` tokens normalises its input itself (a token tile with the norm
   * prologue), reading `norm.x`; if not, the caller runs the norm first, into `x`.
   */
  readsNorm(tokens: number): boolean {
    return this.norm !== undefined && !runsPrefill(this.profile, tokens);
  }

  /** Records the layer for a step of `tokens` tokens with `binds` (from `bind`). */
  encode(pass: GPUComputePassEncoder, binds: GPUBindGroup[][], tokens: number): void {
    const at = runsPrefill(this.profile, tokens) ? this.tiles.length : tileFor(this.tiles, tokens);
    for (let i = 0; i < this.parts.length; i++) this.parts[i][at].encode(pass, binds[i][at], tokens);
  }
}

/** The variants a profile gives a layer of `shape`: a tile each, then prefill where the profile has it. */
export function layerVariants(
  shape: LinearShape,
  profile: KernelProfile,
  subgroupShuffle: number,
  norm?: NormPrologue,
): LinearVariant[] {
  const tiles = [1, ...profile.tiles];
  if (profile.rowBlock === 4) {
    if (profile.prefill) throw new RangeError('kernel profile: blocks of 4 rows have no prefill kernel');
    if (norm) throw new RangeError('kernel profile: blocks of 4 rows have no norm prologue');
    return tiles.map((tileN) => ({ kind: 'blocked', tileN }));
  }
  const lanes = layerLanes(shape, profile);
  const shuffle = profile.subgroups ? subgroupShuffle : 1;
  const quantized = isQuantized(shape.dtype);
  const split = profile.splitGroups && quantized ? { splitGroups: true } : {};
  const variants: LinearVariant[] = tiles.map((tileN) => {
    const twoRows = tileN >= profile.twoRowsFrom;
    const fourRows = tileN === 1 && quantized && (shape.rows * lanes) / 4 >= profile.fourRowsMinThreads;
    const rows = fourRows ? { twoRows: true, fourRows } : twoRows ? { twoRows } : {};
    return { kind: 'lanes', tileN, lanes, shuffle, norm, ...rows, ...split };
  });
  return profile.prefill ? [...variants, { kind: 'prefill', lanes, shuffle, ...split }] : variants;
}

/**
 * Threads a row of a lanes kernel: `linearLanes` over the row's words, where a quantized row
 * counts as the f16 row of its length. A lane's time goes into its input's chunks as much as
 * into its weight's bytes: a q4 word's 32 values take 8 chunks of x (a q8 word's 16, 4) where
 * an f16 word's take 2, so a quantized layer gets the lanes, the threads and the loads in
 * flight of the f16 layer of its shape, but never more lanes than its row has units (words, or
 * with `splitGroups` their u32s).
 */
export function layerLanes(shape: LinearShape, profile: KernelProfile): number {
  const perWord = valuesPerWord(shape.dtype);
  const lanes = linearLanes(shape.k / Math.min(perWord, 8), profile.wordsPerLane, shape.rows, profile.minWorkgroups);
  const units = shape.k / valuesPerUnit(shape.dtype, profile.splitGroups);
  return lanes <= units ? lanes : 2 ** Math.floor(Math.log2(units));
}

/** Whether a step of `tokens` tokens runs the prefill kernel: the profile has it and no tile holds the step. */
export function runsPrefill(profile: KernelProfile, tokens: number): boolean {
  return profile.prefill && tokens > profile.tiles[profile.tiles.length - 1];
}

/**
 * Which of `tiles` (token tiles, ascending; 1 first) runs a step of `tokens` tokens, as an
 * index: as few tiles along z as the largest tile needs, each the smallest tile that gives that
 * many. Up to the largest tile that is the smallest tile holding the step; with tiles up to 6,
 * 9 tokens run two tiles of 5 (10 tokens' work) rather than two of 6 (12).
 */
export function tileFor(tiles: readonly number[], tokens: number): number {
  const largest = tiles[tiles.length - 1];
  const need = Math.ceil(tokens / Math.ceil(tokens / largest));
  let at = 0;
  while (tiles[at] < need) at++;
  return at;
}
