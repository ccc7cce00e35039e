/**
 * Greedy acceptance on the GPU (accept_greedy.wgsl), after a verify pass over a chain of k
 * drafts and a tree's leaves: one thread walks the drafts against the target's choices as
 * `acceptTree` (speculative/tree.ts) does, its reference, and writes the verdict (accepted
 * count, the step's own token, the accepted leaf's slot or NO_LEAF) for the step's one readback.
 */

import code from './accept_greedy.wgsl?raw';
import { OneWorkgroupKernel } from './kernel';

/** The kernel's mark of a step that took no leaf. */
export const NO_LEAF = 0xffffffff;

/** Bytes of its uniform: k, depths with leaves, ranks of leaves (u32 each, padded). */
export const ACCEPT_GREEDY_PARAMS_BYTES = 16;

export class AcceptGreedyKernel extends OneWorkgroupKernel {
  constructor(device: GPUDevice) {
    super(device, 'accept greedy', code, {});
  }

  /**
   * params: (k, leaves, ranks, 0) u32; drafts: the chain, then the leaves rank by rank; choices:
   * the target's argmax after each token of the pass; result: (3) u32, the verdict.
   */
  bind(buffers: { params: GPUBuffer; drafts: GPUBuffer; choices: GPUBuffer; result: GPUBuffer }): GPUBindGroup {
    return this.bindAll([buffers.params, buffers.drafts, buffers.choices, buffers.result]);
  }
}
