/**
 * Wrappers for the small kernels of the forward pass (the linear layer has its own file).
 * Each is built for one model's shapes at load; `encode(pass, bindGroup, tokens)` records it
 * for a step of `tokens` tokens (the count the step uniform holds).
 */

import type { WeightDType } from '../loader/weights';
import argmaxCode from './argmax.wgsl?raw';
import attentionCode from './attention.wgsl?raw';
import embedCode from './embed.wgsl?raw';
import { ComputeKernel } from './kernel';
import rmsnormCode from './rmsnorm.wgsl?raw';
import ropeCode from './rope.wgsl?raw';
import sampleCode from './sample.wgsl?raw';
import siluGateCode from './silu_gate.wgsl?raw';

const FORMATS: Record<WeightDType, number> = { F32: 0, F16: 1, BF16: 2 };

/** x[n, :] = table[tokens[n], :]. */
export class EmbedKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly d: number,
    dtype: WeightDType,
  ) {
    super(device, `embed ${dtype} ${d}`, embedCode, { D: d, FORMAT: FORMATS[dtype] });
  }
  bind(b: { step: GPUBuffer; table: GPUBuffer; tokens: GPUBuffer; x: GPUBuffer }) {
    return this.bindAll([b.step, b.table, b.tokens, b.x]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.d / 64), tokens);
  }
}

/** out[n, :] = rmsnorm(x[n, :]) * weight. */
export class RmsNormKernel extends ComputeKernel {
  /** `workgroup` threads per token: a power of two (the reduction tree halves it). */
  constructor(device: GPUDevice, d: number, eps: number, workgroup = 64) {
    super(device, `rmsnorm ${d}`, rmsnormCode, { D: d, EPS: eps, WG: workgroup });
  }
  bind(b: { step: GPUBuffer; weight: GPUBuffer; x: GPUBuffer; out: GPUBuffer }) {
    return this.bindAll([b.step, b.weight, b.x, b.out]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, tokens);
  }
}

export interface HeadShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/** RoPE on q and k of the fused q|k|v output; rotated k and v written into the cache. */
export class RopeKernel extends ComputeKernel {
  private readonly pairs: number;
  constructor(device: GPUDevice, heads: HeadShape) {
    super(device, `rope ${heads.numHeads}/${heads.numKvHeads}x${heads.headDim}`, ropeCode, {
      NH: heads.numHeads,
      NKV: heads.numKvHeads,
      HD: heads.headDim,
    });
    this.pairs = ((heads.numHeads + heads.numKvHeads) * heads.headDim) / 2;
  }
  bind(b: {
    step: GPUBuffer;
    qkv: GPUBuffer;
    cos: GPUBuffer;
    sin: GPUBuffer;
    q: GPUBuffer;
    kCache: GPUBuffer;
    vCache: GPUBuffer;
  }) {
    return this.bindAll([b.step, b.qkv, b.cos, b.sin, b.q, b.kCache, b.vCache]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.pairs / 64), tokens);
  }
}

/** Causal grouped-query attention of each new token over the cache. */
export class AttentionKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly heads: HeadShape,
  ) {
    if (heads.headDim % 4 !== 0) throw new RangeError(`attention: head dim ${heads.headDim} is not a multiple of 4`);
    const wg = Math.max(64, 2 ** Math.ceil(Math.log2(heads.headDim)));
    super(device, `attention ${heads.numHeads}/${heads.numKvHeads}x${heads.headDim}`, attentionCode, {
      NH: heads.numHeads,
      NKV: heads.numKvHeads,
      HD: heads.headDim,
      WG: wg,
    });
  }
  bind(b: { step: GPUBuffer; q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer }) {
    return this.bindAll([b.step, b.q, b.kCache, b.vCache, b.out]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, this.heads.numHeads, tokens);
  }
}

/** out[n, i] = silu(gate_up[n, i]) * gate_up[n, F + i]. */
export class SiluGateKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly f: number,
  ) {
    super(device, `silu_gate ${f}`, siluGateCode, { F: f });
  }
  bind(b: { step: GPUBuffer; gateUp: GPUBuffer; out: GPUBuffer }) {
    return this.bindAll([b.step, b.gateUp, b.out]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.f / 64), tokens);
  }
}

/** ids[n] = argmax(logits[n, :]), lowest index among ties. */
export class ArgmaxKernel extends ComputeKernel {
  constructor(device: GPUDevice, vocabSize: number) {
    super(device, `argmax ${vocabSize}`, argmaxCode, { V: vocabSize, WG: 256 });
  }
  bind(b: { step: GPUBuffer; logits: GPUBuffer; ids: GPUBuffer }) {
    return this.bindAll([b.step, b.logits, b.ids]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, tokens);
  }
}

/** ids[n] = a token drawn from softmax(logits[n, :] / T) within top-k / top-p (sample.wgsl). */
export class SampleKernel extends ComputeKernel {
  constructor(device: GPUDevice, vocabSize: number) {
    super(device, `sample ${vocabSize}`, sampleCode, { V: vocabSize, WG: 256 });
  }
  bind(b: { step: GPUBuffer; params: GPUBuffer; logits: GPUBuffer; ids: GPUBuffer }) {
    return this.bindAll([b.step, b.params, b.logits, b.ids]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, tokens);
  }
}

/** The sampling uniform: struct Sampling { temperature: f32, top_p: f32, top_k: u32, seed: u32 }. */
export function writeSamplingParams(
  device: GPUDevice,
  buffer: GPUBuffer,
  params: { temperature: number; topP: number; topK: number },
  seed: number,
  scratch = new ArrayBuffer(16),
): void {
  const view = new DataView(scratch);
  view.setFloat32(0, params.temperature, true);
  view.setFloat32(4, params.topP, true);
  view.setUint32(8, params.topK, true);
  view.setUint32(12, seed >>> 0, true);
  device.queue.writeBuffer(buffer, 0, scratch);
}
