/**
 * The linear layer on the GPU (linear.wgsl): y = x W^T + bias, optionally added into y
 * (a fused residual add). One pipeline per weight shape, built at load; one bind group per
 * set of buffers, built at load; `encode` only records a dispatch.
 */

import { bindBuffers, computePipeline } from '../gpu/pipelines';
import code from './linear.wgsl?raw';

export const MAX_TILE_N = 16;
const MAX_GRID = 65535;

export interface LinearShape {
  rows: number; // output features
  k: number; // input features, a multiple of 4
  /** Tokens per workgroup: 1 for the decode pipeline, up to 16 for verify and prefill. */
  tileN?: number;
  accumulate?: boolean;
}

/**
 * Threads per row. It depends on k alone (never on the token count), which keeps the
 * summation order, and so every bit of the result, the same for any batch.
 */
export function linearWorkgroupSize(k: number): number {
  const chunksPerThread = 4; // vec4 chunks each thread adds before the tree reduction
  let wg = MAX_TILE_N;
  while (wg < 256 && wg * chunksPerThread * 4 * 2 <= k) wg *= 2;
  return wg;
}

export class LinearKernel {
  readonly pipeline: GPUComputePipeline;
  readonly rows: number;
  readonly k: number;
  readonly tileN: number;
  private readonly gridX: number;

  constructor(
    private readonly device: GPUDevice,
    shape: LinearShape,
  ) {
    const { rows, k, tileN = 1, accumulate = false } = shape;
    if (k % 4 !== 0) throw new RangeError(`linear: k = ${k} must be a multiple of 4`);
    if (tileN < 1 || tileN > MAX_TILE_N) throw new RangeError(`linear: tileN = ${tileN} must be 1..${MAX_TILE_N}`);
    this.rows = rows;
    this.k = k;
    this.tileN = tileN;
    this.gridX = Math.min(rows, MAX_GRID);
    this.pipeline = computePipeline(device, `linear ${rows}x${k}/${tileN}`, code, {
      ROWS: rows,
      K4: k / 4,
      WG: linearWorkgroupSize(k), // >= MAX_TILE_N: the threads that write results cover the tile
      TILE_N: tileN,
      GRID_X: this.gridX,
      ACCUMULATE: accumulate,
    });
  }

  /** Binds step (uniform), weight (rows, k), bias (rows), x (tokens, k), y (tokens, rows). */
  bind(buffers: { step: GPUBuffer; weight: GPUBuffer; bias: GPUBuffer; x: GPUBuffer; y: GPUBuffer }): GPUBindGroup {
    const { step, weight, bias, x, y } = buffers;
    return bindBuffers(this.device, this.pipeline, this.pipeline.label, [step, weight, bias, x, y]);
  }

  /** Records the layer for `tokens` tokens (the same count the step uniform holds). */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(this.gridX, Math.ceil(this.rows / this.gridX), Math.ceil(tokens / this.tileN));
  }
}
