/**
 * The kernels of a Gated DeltaNet layer (Qwen3.5's linear attention; ref/gated-delta.ts is their
 * definition): the causal convolution over q|k|v rows (short_conv.wgsl) and the recurrence with
 * its gated output norm (gated_delta.wgsl). Both keep what a sequence needs of its past in rings
 * indexed by position: the convolution the q|k|v rows of its last positions, the recurrence its
 * state after each of its last `window` positions, so that cutting a sequence back by fewer than
 * `window` positions (rejected drafts) costs nothing.
 */

import type { LinearAttention, ModelConfig } from '../loader/config';
import gatedDeltaCode from './gated_delta.wgsl?raw';
import { ComputeKernel } from './kernel';
import shortConvCode from './short_conv.wgsl?raw';

/** short_conv.wgsl's largest kernel, and gated_delta.wgsl's largest key head (a thread's column of S). */
export const MAX_CONV_TAPS = 8;
export const MAX_KEY_DIM = 128;

/** The q|k|v channels of a layer: the convolution's width. */
export function linearChannels({ keyHeads, keyDim, valueHeads, valueDim }: LinearAttention): number {
  return 2 * keyHeads * keyDim + valueHeads * valueDim;
}

/** Values of one row of a layer's input projection: q|k|v, z, b and a, in that order. */
export function linearProjectionWidth(shape: LinearAttention): number {
  return linearChannels(shape) + shape.valueHeads * shape.valueDim + 2 * shape.valueHeads;
}

/** Positions of q|k|v rows the convolution's ring keeps for a state window of `window` positions. */
export function convRingRows(shape: LinearAttention, window: number): number {
  return window + shape.convKernel - 1;
}

/** Bytes of one Gated DeltaNet layer's rings for a state window of `window` positions: rows, then states (f32). */
export function ringBytes(shape: LinearAttention, window: number): { conv: number; states: number } {
  return {
    conv: convRingRows(shape, window) * linearChannels(shape) * 4,
    states: window * shape.valueHeads * shape.keyDim * shape.valueDim * 4,
  };
}

/**
 * A Gated DeltaNet layer's rings as a sequence holds them, and what a prefix needs of them at its
 * end (the prefix store): the q|k|v rows of its last `tail` positions (the convolution's other
 * taps) and its state after its last position.
 */
export interface RingLayout {
  /** Bytes of the rings: q|k|v rows, then states. */
  conv: number;
  states: number;
  /** Positions the rows' ring holds (position p in slot p mod rows), and bytes a row takes. */
  rows: number;
  rowBytes: number;
  /** Positions the states' ring holds (position p in slot p mod window), and bytes a state takes. */
  window: number;
  stateBytes: number;
  /** Rows a prefix's end keeps: the convolution's taps before the newest. */
  tail: number;
}

export function ringLayout(shape: LinearAttention, window: number): RingLayout {
  const { conv, states } = ringBytes(shape, window);
  return {
    conv,
    states,
    rows: convRingRows(shape, window),
    rowBytes: linearChannels(shape) * 4,
    window,
    stateBytes: states / window,
    tail: shape.convKernel - 1,
  };
}

/** Bytes the end of a prefix keeps of one Gated DeltaNet layer: its last rows, and its state (`RingLayout`). */
export function prefixEndBytes(shape: LinearAttention): number {
  const { rowBytes, stateBytes, tail } = ringLayout(shape, 1);
  return tail * rowBytes + stateBytes;
}

/** Bytes a sequence of `config` holds in rings, whatever its length: every Gated DeltaNet layer's. */
export function recurrentStateBytes(config: ModelConfig, window: number): number {
  const shape = config.linearAttention;
  if (!shape) return 0;
  const { conv, states } = ringBytes(shape, window);
  return config.layers.filter((layer) => layer.linear).length * (conv + states);
}

/** Why a shape cannot run on these kernels, or undefined. */
export function linearShapeProblem(shape: LinearAttention, maxWorkgroup: number): string | undefined {
  const { convKernel, keyDim, valueDim } = shape;
  if (convKernel < 2 || convKernel > MAX_CONV_TAPS)
    return `a convolution of ${convKernel} taps (2 to ${MAX_CONV_TAPS})`;
  if (keyDim > MAX_KEY_DIM) return `key heads of ${keyDim} values (at most ${MAX_KEY_DIM})`;
  if (valueDim & (valueDim - 1) || valueDim > maxWorkgroup) {
    return `value heads of ${valueDim} values (a power of two up to ${maxWorkgroup})`;
  }
  return undefined;
}

/** out = silu(causal conv(q|k|v rows)), the step's rows kept in the ring (short_conv.wgsl). */
export class ShortConvKernel extends ComputeKernel {
  private readonly channels: number;

  constructor(device: GPUDevice, shape: LinearAttention, window: number) {
    const channels = linearChannels(shape);
    super(device, `short conv ${channels}x${shape.convKernel}`, shortConvCode, {
      C: channels,
      K: shape.convKernel,
      RING: convRingRows(shape, window),
      X_STRIDE: linearProjectionWidth(shape),
    });
    this.channels = channels;
  }
  /** `weight` (channels, taps); `x` the projection's rows; `ring` the sequence's rows, (ring rows, channels). */
  bind(b: { step: GPUBuffer; weight: GPUBuffer; x: GPUBuffer; out: GPUBuffer; ring: GPUBuffer }) {
    return this.bindAll([b.step, b.weight, b.x, b.out, b.ring]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup) {
    this.dispatch(pass, bindGroup, Math.ceil(this.channels / 64));
  }
}

/** The gated delta rule and the gated RMSNorm of its output, the states kept in the ring (gated_delta.wgsl). */
export class GatedDeltaKernel extends ComputeKernel {
  private readonly valueHeads: number;

  constructor(device: GPUDevice, shape: LinearAttention, window: number, eps: number) {
    const { keyHeads, valueHeads, keyDim, valueDim } = shape;
    super(device, `gated delta ${valueHeads}x${keyDim}x${valueDim}`, gatedDeltaCode, {
      NK: keyHeads,
      NV: valueHeads,
      DK: keyDim,
      DV: valueDim,
      W: window,
      P: linearProjectionWidth(shape),
      EPS: eps,
      TILED: shape.valueHeadOrder === 'tiled',
    });
    this.valueHeads = valueHeads;
  }
  /**
   * `mixed` the convolution's output; `proj` the projection's rows (z, b, a after q|k|v);
   * `params` -exp(A_log), dt_bias and the norm's weight; `states` the sequence's ring.
   */
  bind(b: {
    step: GPUBuffer;
    mixed: GPUBuffer;
    proj: GPUBuffer;
    params: GPUBuffer;
    states: GPUBuffer;
    out: GPUBuffer;
  }) {
    return this.bindAll([b.step, b.mixed, b.proj, b.params, b.states, b.out]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup) {
    this.dispatch(pass, bindGroup, this.valueHeads);
  }
}
