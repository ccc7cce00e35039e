/**
 * The norm a layer folds in (linear_norm.wgsl), as its own dispatch before the layer's prefill
 * kernel: norm_lanes.wgsl writes x * g and each token's inverse RMS, its sum of squares in the
 * order of the layer's lanes, so that prefill steps give the bits of the layer's token tiles.
 */

import { ComputeKernel } from './kernel';
import code from './norm_lanes.wgsl?raw';

export class NormLanesKernel extends ComputeKernel {
  /**
   * For a layer whose rows take `lanes` threads (a power of two), each adding units of `chunks`
   * 4-value chunks in turn, over inputs of `k` values.
   */
  constructor(device: GPUDevice, k: number, eps: number, lanes: number, chunks: number) {
    if (lanes < 1 || (lanes & (lanes - 1)) !== 0) throw new RangeError(`norm lanes: ${lanes} is not a power of two`);
    if (k % (4 * chunks) !== 0)
      throw new RangeError(`norm lanes: k = ${k} is not a whole number of ${chunks}-chunk units`);
    super(device, `rmsnorm ${k} lanes ${lanes}x${chunks}`, code, { K: k, LANES: lanes, CHUNKS: chunks, EPS: eps });
  }

  /** `out` gets x * weight, (tokens, k); `scale` each token's inverse RMS, (tokens). */
  bind(b: { step: GPUBuffer; weight: GPUBuffer; x: GPUBuffer; out: GPUBuffer; scale: GPUBuffer }): GPUBindGroup {
    return this.bindAll([b.step, b.weight, b.x, b.out, b.scale]);
  }

  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number): void {
    this.dispatch(pass, bindGroup, tokens);
  }
}
