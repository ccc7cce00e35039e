/**
 * The linear layer on the GPU: y = x W^T + bias, optionally added into y (a fused residual
 * add), for f32, f16 or bf16 weights. GPUs run linear.wgsl (lanes of a workgroup share each
 * row, and end their reduction with subgroup shuffles where the device has them); CPU adapters
 * run linear_blocked.wgsl (each thread a block of 4 rows). One pipeline per weight shape and
 * format, built at load; bind groups built at load; `encode` only records a dispatch.
 */

import type { WeightDType } from '../loader/weights';
import { ComputeKernel } from './kernel';
import code from './linear.wgsl?raw';
import blockedCode from './linear_blocked.wgsl?raw';

export const MAX_TILE_N = 16;
const MAX_GRID = 65535;
const FORMATS: Record<WeightDType, number> = { F32: 0, F16: 1, BF16: 2 };

export interface LinearShape {
  rows: number; // output features
  k: number; // input features: a multiple of 4 (f32) or 8 (f16, bf16)
  dtype?: WeightDType;
  /** Tokens per workgroup: 1 for the decode pipeline; 4, 8, 12 or 16 for verify and prefill. */
  tileN?: number;
  accumulate?: boolean;
  /** At least this many words per lane before lanes are added (see KernelProfile). */
  wordsPerLane?: number;
  /** More lanes until the layer spans this many workgroups (see KernelProfile). */
  minWorkgroups?: number;
  /** Rows a thread computes: 1 (lanes share rows, linear.wgsl) or 4 (linear_blocked.wgsl; tileN 1 or 4). */
  rowBlock?: 1 | 4;
  /** Lanes that may reduce by subgroup shuffles: `Gpu.subgroupShuffle`, or 1 for none. */
  shuffle?: number;
}

// linear.wgsl ends its reduction tree with `lane_shuffle_xor` when SHUFFLE > 1.
const WITH_SUBGROUPS = (code: string) =>
  `enable subgroups;\n${code}\nfn lane_shuffle_xor(v: f32, mask: u32) -> f32 { return subgroupShuffleXor(v, mask); }\n`;
const WITHOUT_SUBGROUPS = (code: string) =>
  `${code}\n// Never called: SHUFFLE is 1 without subgroups.\nfn lane_shuffle_xor(v: f32, mask: u32) -> f32 { return v; }\n`;

const WORKGROUP = 64;
const BLOCKED_WORKGROUP = 32; // threads, 4 rows each: 128 rows a workgroup

/**
 * Threads per row: enough that each adds at least `wordsPerLane` words of the row, and more
 * (while each still gets two words) until the layer spans `minWorkgroups` workgroups, so that
 * a small layer still fills a GPU. Lanes depend on the layer's shape and the device's profile
 * alone (never on the token count), which keeps the summation order, and so every bit of the
 * result, the same for any batch.
 */
export function linearLanes(words: number, wordsPerLane: number, rows = 0, minWorkgroups = 0): number {
  let lanes = 1;
  while (lanes < WORKGROUP && lanes * wordsPerLane * 2 <= words) lanes *= 2;
  while (lanes < WORKGROUP && lanes * 2 * 2 <= words && (rows * lanes) / WORKGROUP < minWorkgroups) lanes *= 2;
  return lanes;
}

export class LinearKernel extends ComputeKernel {
  readonly rows: number;
  readonly k: number;
  readonly tileN: number;
  private readonly gridX: number;
  private readonly gridY: number;

  constructor(device: GPUDevice, shape: LinearShape) {
    const { rows, k, dtype = 'F32', tileN = 1, accumulate = false, wordsPerLane = 16, minWorkgroups = 0 } = shape;
    const blocked = shape.rowBlock === 4;
    const shuffle = shape.shuffle ?? 1;
    if (shuffle < 1 || (shuffle & (shuffle - 1)) !== 0) {
      throw new RangeError(`linear: shuffle = ${shuffle} must be a power of two`);
    }
    const valuesPerWord = dtype === 'F32' ? 4 : 8;
    if (k % valuesPerWord !== 0) {
      throw new RangeError(`linear: k = ${k} must be a multiple of ${valuesPerWord} for ${dtype} weights`);
    }
    if (!(tileN === 1 || (tileN % 4 === 0 && tileN <= MAX_TILE_N))) {
      throw new RangeError(`linear: tileN = ${tileN} must be 1, 4, 8, 12 or ${MAX_TILE_N}`);
    }
    if (blocked && tileN > 4) throw new RangeError(`linear: blocks of 4 rows take tileN 1 or 4, not ${tileN}`);
    const lanes = blocked ? 1 : linearLanes(k / valuesPerWord, wordsPerLane, rows, minWorkgroups);
    const rowsPerGroup = blocked ? BLOCKED_WORKGROUP * 4 : WORKGROUP / lanes;
    const groups = Math.ceil(rows / rowsPerGroup); // workgroups along the rows
    const gridX = Math.min(groups, MAX_GRID);
    const source = blocked ? blockedCode : shuffle > 1 ? WITH_SUBGROUPS(code) : WITHOUT_SUBGROUPS(code);
    const variant = blocked ? ' blocked' : shuffle > 1 ? ` shuffle ${shuffle}` : '';
    super(device, `linear ${dtype} ${rows}x${k}/${tileN}${variant}`, source, {
      ROWS: rows,
      K: k,
      FORMAT: FORMATS[dtype],
      TILE_N: tileN,
      GRID_X: gridX,
      ACCUMULATE: accumulate,
      ...(blocked ? { WG: BLOCKED_WORKGROUP } : { WG: WORKGROUP, LANES: lanes, SHUFFLE: shuffle }),
    });
    this.rows = rows;
    this.k = k;
    this.tileN = tileN;
    this.gridX = gridX;
    this.gridY = Math.ceil(groups / gridX);
  }

  /** Binds step (uniform), weight (rows, k), bias (rows), x (tokens, k), y (tokens, rows). */
  bind(b: { step: GPUBuffer; weight: GPUBuffer; bias: GPUBuffer; x: GPUBuffer; y: GPUBuffer }): GPUBindGroup {
    return this.bindAll([b.step, b.weight, b.bias, b.x, b.y]);
  }

  /** Records the layer for `tokens` tokens (the same count the step uniform holds). */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number): void {
    this.dispatch(pass, bindGroup, this.gridX, this.gridY, Math.ceil(tokens / this.tileN));
  }
}
