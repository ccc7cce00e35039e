/**
 * A linear layer as a model runs it: the pipelines its device profile calls for, one per token
 * tile (1 for decode, then the profile's verify tiles, ascending), and on GPUs the prefill
 * kernel (for quantized weights where the profile says so), with the choice of which one runs a
 * step of n tokens. The choice changes how tokens are shared out among workgroups, never the
 * order of a sum, so any choice gives the same bits.
 *
 * A layer may fold in the RMSNorm of its input (linear_norm.wgsl): its token tiles then read
 * the residual stream itself, and a step that runs its prefill kernel runs norm_lanes.wgsl just
 * before it (one dispatch, as the norm's own would be), so the caller never runs that norm.
 */

import { isQuantized } from '../loader/weights';
import { LinearKernel } from './linear';
import { linearLanes } from './linear-lanes';
import {
  type FoldedNorm,
  type LinearBuffers,
  type LinearOutput,
  type LinearShape,
  type LinearVariant,
  valuesPerUnit,
  valuesPerWord,
} from './linear-shape';
import { NormLanesKernel } from './norm-lanes';
import type { KernelProfile } from './profile';

export class LinearLayer {
  /** For each part of the matrix's rows: one kernel per tile, then the prefill kernel where the profile has it. */
  private readonly parts: LinearKernel[][];
  /** Tokens of each tile: 1, then the profile's tiles. */
  private readonly tiles: number[];
  /** A folded norm's own dispatch before the prefill kernel (where the profile has one). */
  private readonly prefillNorm?: NormLanesKernel;
  /** Whether its steps past the largest tile run the prefill kernel (else tiles of the largest size). */
  private readonly hasPrefill: boolean;
  /**
   * Whether the layer normalises its input itself, reading `norm.x` (the caller then runs no
   * norm before it), or reads `x` as it is.
   */
  readonly foldsNorm: boolean;

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
    /** The RMSNorm of its input, folded in: see `foldsNorm`. */
    norm?: FoldedNorm,
  ) {
    this.tiles = [1, ...profile.tiles];
    const variants = layerVariants(shape, profile, subgroupShuffle, norm);
    if (norm && partRows.length > 1) throw new RangeError('linear: a folded norm needs the matrix in one buffer');
    this.foldsNorm = norm !== undefined;
    const prefill = variants.at(-1);
    this.hasPrefill = prefill?.kind === 'prefill';
    if (norm && prefill?.kind === 'prefill') {
      const chunks = valuesPerUnit(shape.dtype, prefill.splitGroups ?? false) / 4;
      this.prefillNorm = new NormLanesKernel(device, shape.k, norm.eps, prefill.lanes, chunks);
    }
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

  /**
   * A bind group for each part and kernel; `weight` (and `bias`) one buffer per part. With a
   * folded norm (one part), the part's last bind group is the prefill norm's, which writes
   * x * g into `x` and the inverse RMS into `norm.scale`.
   */
  bind(
    buffers: Omit<LinearBuffers, 'weight' | 'bias'> & {
      weight: GPUBuffer | GPUBuffer[];
      bias: GPUBuffer | GPUBuffer[];
    },
  ): GPUBindGroup[][] {
    const pick = (b: GPUBuffer | GPUBuffer[], i: number) => (Array.isArray(b) ? b[i] : b);
    const binds = this.parts.map((kernels, i) =>
      kernels.map((kernel) =>
        kernel.bind({ ...buffers, weight: pick(buffers.weight, i), bias: pick(buffers.bias, i) }),
      ),
    );
    const { norm } = buffers;
    if (this.prefillNorm && norm) {
      const { step, x: out } = buffers;
      binds[0].push(this.prefillNorm.bind({ step, weight: norm.weight, x: norm.x, out, scale: norm.scale }));
    }
    return binds;
  }

  /** Records the layer for a step of `tokens` tokens with `binds` (from `bind`). */
  encode(pass: GPUComputePassEncoder, binds: GPUBindGroup[][], tokens: number): void {
    const prefill = this.hasPrefill && runsPrefill(this.profile, tokens);
    const at = prefill ? this.tiles.length : tileFor(this.tiles, tokens);
    if (prefill && this.prefillNorm) this.prefillNorm.encode(pass, binds[0][at + 1], tokens);
    for (let i = 0; i < this.parts.length; i++) this.parts[i][at].encode(pass, binds[i][at], tokens);
  }
}

/** The variants a profile gives a layer of `shape`: a tile each, then prefill where the profile has it. */
export function layerVariants(
  shape: LinearShape,
  profile: KernelProfile,
  subgroupShuffle: number,
  norm?: FoldedNorm,
): LinearVariant[] {
  const tiles = [1, ...profile.tiles];
  if (profile.rowBlock === 4) {
    if (profile.prefill) throw new RangeError('kernel profile: blocks of 4 rows have no prefill kernel');
    if (norm) throw new RangeError('kernel profile: blocks of 4 rows fold no norm');
    return tiles.map((tileN) => ({ kind: 'blocked', tileN }));
  }
  const lanes = layerLanes(shape, profile);
  const shuffle = profile.subgroups ? subgroupShuffle : 1;
  const quantized = isQuantized(shape.dtype);
  const split = profile.splitGroups && quantized ? { splitGroups: true } : {};
  const inFlight = quantized && profile.unitsInFlight > 1 ? { unitsInFlight: profile.unitsInFlight } : {};
  const variants: LinearVariant[] = tiles.map((tileN) => {
    const twoRows = tileN >= profile.twoRowsFrom;
    const fourRows =
      tileN <= profile.fourRowsTiles && quantized && (shape.rows * lanes) / 4 >= profile.fourRowsMinThreads;
    const rows = fourRows ? { twoRows: true, fourRows } : twoRows ? { twoRows } : {};
    return { kind: 'lanes', tileN, lanes, shuffle, norm, ...rows, ...split, ...inFlight };
  });
  const prefill = profile.prefill && (!quantized || profile.prefillQuantized);
  return prefill ? [...variants, { kind: 'prefill', lanes, shuffle, norm, ...split }] : variants;
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
