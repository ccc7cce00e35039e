/**
 * What a (target, draft) pair's speculative steps on the GPU share, whichever rule decides them:
 * the list of drafts the draft writes and the verify pass reads, the verdict's readback, the
 * greedy acceptance kernel, the step recorded ahead (gpu-step-ahead.ts), and the limits of a
 * step. Made once per pair, at load (prepareDeviceSteps).
 */

import { createStorage, createUniform } from '../gpu/buffers';
import { ACCEPT_GREEDY_PARAMS_BYTES, AcceptGreedyKernel } from '../kernels/accept-greedy';
import type { AheadPass, GpuModel } from './gpu-model';
import type { GpuSequence } from './gpu-sequence';

/** The most drafts one device step takes. */
export const MAX_DEVICE_DRAFTS = 16;
/** The most tokens its list holds: the chain, then a tree's leaves. */
export const MAX_DEVICE_LIST = 2 * MAX_DEVICE_DRAFTS;
/** What the acceptance kernels write before the drafts: accepted, next, the accepted leaf (u32 each). */
export const VERDICT_WORDS = 3;
/** A sampled step's readback starts with the verdict (accepted, next, leaf) and the drafts (a tree's leaves after the chain), u32 each. */
export const RESULT_BYTES = (VERDICT_WORDS + MAX_DEVICE_LIST) * 4;

/** A greedy device step's verdict, as the CPU reads it back. */
export interface DeviceStep {
  /** The drafts the target accepted, in order (a tree's: a prefix of the chain, and perhaps a leaf). */
  accepted: number[];
  /** The target's own token after them. */
  next: number;
  /** Drafts proposed (accepted or not): a tree's chain. */
  drafted: number;
}

/**
 * A device step's drafts, and the next step's, which it records ahead while the GPU runs it:
 * the lengths are decided a step ahead (speculative/draft-length.ts), so that a step recorded
 * ahead serves the step it was recorded for whatever the verdicts between.
 */
export interface StepLengths {
  k: number;
  next: number;
  /** Of a tree step (an EAGLE head's): the leaves of each rank in the next step (none by default). */
  nextLeaves?: number;
}

/** What a (target, draft) pair's device steps reuse: made on the first step. */
export interface StepBuffers {
  drafts: GPUBuffer; // (MAX_DEVICE_LIST) u32: the chain, then a tree's leaves, rank by rank
  result: GPUBuffer; // the verdict (VERDICT_WORDS), then the drafts: u32
  readback: GPUBuffer;
  params: GPUBuffer;
  accept: AcceptGreedyKernel;
  bind: GPUBindGroup;
  /** The pair's next step, recorded while the GPU ran the one before (profile.recordAhead). */
  next?: NextStep;
  /** Steps taken so far from passes recorded ahead, and steps recorded ahead (tests count them). */
  stepsAhead: number;
  recordedAhead: number;
  /** The acceptance kernel's uniform as last written (k is never 0: zeros until the first step); nothing allocated a step. */
  paramsWords: Uint32Array<ArrayBuffer>;
}

/**
 * A device step of k drafts recorded ahead, for a context of any length up to
 * `maxContext`: the draft's passes (a draft model's first over the context's last two tokens,
 * the one before the newest again, so that the pass has the same shape whatever the last step
 * accepted; an EAGLE head's catch-up over the pairs of the verify pass before it, k' + 1 after
 * a step of k' drafts, gpu-eagle-step.ts: what is
 * computed again comes out bit for bit as before, the kernels being batch-invariant), then the
 * target's verify pass over the newest token and the drafts, and the acceptance kernel (greedy,
 * or the sampled rule with the copies of what its kind reads back: `kind`).
 */
export interface NextStep {
  kind: AheadKind;
  k: number;
  /** A tree's leaves of each rank, and its ranks (a chain: 0 and 1). */
  leaves: number;
  ranks: number;
  /** The tokens its first draft pass takes from the CPU: a draft model's 2, a head's catch-up k + 1 of the step that recorded it. */
  firstTokens: number;
  target: GpuSequence;
  draft: GpuSequence;
  maxContext: number;
  drafts: AheadPass[];
  verify: AheadPass;
  /** The command buffer they were all recorded into, in that order. */
  commands: GPUCommandBuffer[];
}

/**
 * How a step recorded ahead decides: by the greedy acceptance kernel, or by the sampled rule
 * (the target's rows read back beside the verdict, for log-probabilities, or not). A step
 * serves only one of its own kind: their passes choose, copy and read back differently.
 */
export type AheadKind = 'greedy' | 'sampled' | 'sampled with rows';

/** The kind of a sampled step that reads the target's rows back (`rows`) or not. */
export function sampledKind(rows: boolean): AheadKind {
  return rows ? 'sampled with rows' : 'sampled';
}

/**
 * A getter of what each (target, draft) pair makes once, on its first step, and keeps while both
 * live; `args` are read on that first step only (what a pair is made with never changes).
 */
export function perPair<T, A extends unknown[]>(
  make: (target: GpuModel, draft: GpuModel, ...args: A) => T,
): (target: GpuModel, draft: GpuModel, ...args: A) => T {
  const pairs = new WeakMap<GpuModel, WeakMap<GpuModel, T>>();
  return (target, draft, ...args) => {
    const byDraft = pairs.get(target) ?? new WeakMap<GpuModel, T>();
    pairs.set(target, byDraft);
    let made = byDraft.get(draft);
    if (made === undefined) {
      made = make(target, draft, ...args);
      byDraft.set(draft, made);
    }
    return made;
  };
}

export const stepBuffers = perPair((target): StepBuffers => {
  const { device } = target.gpu;
  const drafts = createStorage(device, MAX_DEVICE_LIST * 4, 'device step drafts');
  const resultBytes = (VERDICT_WORDS + MAX_DEVICE_LIST) * 4;
  const result = createStorage(device, resultBytes, 'device step result');
  const readback = device.createBuffer({
    label: 'device step readback',
    size: resultBytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const params = createUniform(device, ACCEPT_GREEDY_PARAMS_BYTES, 'device step params');
  const accept = new AcceptGreedyKernel(device);
  const bind = accept.bind({ params, drafts, choices: target.idsBuffer, result });
  return {
    drafts,
    result,
    readback,
    params,
    accept,
    bind,
    stepsAhead: 0,
    recordedAhead: 0,
    paramsWords: new Uint32Array(4),
  };
});
