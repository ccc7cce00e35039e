/**
 * The acceptance rule of speculative sampling on the GPU, in two kernels recorded after a
 * sampled step's verify pass: the statistics of each row's kept distribution, the draft's rows
 * and the target's side by side (distribution_stats.wgsl), then the rule itself in one
 * workgroup (accept_sampled.wgsl), which leaves the accepted count and the step's own token.
 * src/ref/sampled-acceptance.ts is the reference.
 */

import acceptCode from './accept_sampled.wgsl?raw';
import distributionCode from './distribution.wgsl?raw';
import statsCode from './distribution_stats.wgsl?raw';
import { ComputeKernel, OneWorkgroupKernel } from './kernel';
import { setSamplingParams } from './ops';

/** Bytes of the rule's uniform: struct Accept { sampling: Sampling, k: u32, leaves: u32, ranks: u32, _pad }. */
export const ACCEPT_PARAMS_BYTES = 32;

/** stats[offset + n] = (max, 1 / total, threshold, kept mass) of row n's kept distribution (distribution_stats.wgsl). */
export class DistributionStatsKernel extends ComputeKernel {
  /** `vocabSize`: the rows' width; `offset`: the first row's place in the list; `workgroup` threads a row. */
  constructor(device: GPUDevice, vocabSize: number, offset: number, workgroup = 256) {
    super(device, `distribution stats ${vocabSize} at ${offset}`, `${statsCode}\n${distributionCode}`, {
      V: vocabSize,
      OFFSET: offset,
      WG: workgroup,
    });
  }
  /** `params`: the rule's uniform (its first 16 bytes are the sampling parameters). */
  bind(b: { params: GPUBuffer; logits: GPUBuffer; stats: GPUBuffer }) {
    return this.bindAll([b.params, b.logits, b.stats]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number) {
    this.dispatch(pass, bindGroup, rows);
  }
}

/**
 * result = (accepted drafts, the step's token, the accepted leaf or 0xffffffff) by the
 * acceptance rule (accept_sampled.wgsl), over a chain or a tree.
 */
export class AcceptSampledKernel extends OneWorkgroupKernel {
  /**
   * `vocabSize`: the target's; `draftWidth`: the draft's rows'; `targetAt`: where the target's
   * rows' statistics start in the list.
   */
  constructor(device: GPUDevice, vocabSize: number, draftWidth: number, targetAt: number, workgroup = 256) {
    super(device, `accept sampled ${vocabSize}/${draftWidth}`, `${acceptCode}\n${distributionCode}`, {
      V: vocabSize,
      DV: draftWidth,
      TARGET_AT: targetAt,
      WG: workgroup,
    });
  }
  bind(b: {
    params: GPUBuffer;
    drafts: GPUBuffer;
    draftIds: GPUBuffer;
    stats: GPUBuffer;
    draftLogits: GPUBuffer;
    logits: GPUBuffer;
    result: GPUBuffer;
  }) {
    return this.bindAll([b.params, b.drafts, b.draftIds, b.stats, b.draftLogits, b.logits, b.result]);
  }
}

/**
 * Writes the rule's uniform: the sampling parameters, the seed of its random numbers, the
 * chain's k, and a tree's depths with leaves and its ranks of them (through `scratch`, made at load).
 */
export function writeAcceptParams(
  device: GPUDevice,
  buffer: GPUBuffer,
  params: { temperature: number; topP: number; topK: number },
  seed: number,
  tree: { k: number; leaves: number; ranks?: number },
  scratch: ArrayBuffer,
): void {
  const view = new DataView(scratch);
  setSamplingParams(view, params, seed);
  view.setUint32(16, tree.k, true);
  view.setUint32(20, tree.leaves, true);
  view.setUint32(24, tree.leaves > 0 ? (tree.ranks ?? 1) : 0, true);
  device.queue.writeBuffer(buffer, 0, scratch, 0, ACCEPT_PARAMS_BYTES);
}

/**
 * Each target id's draft id for the rule (`draft_ids`): the inverse of `draftToTarget` (an
 * EAGLE head's d2t), or without it the identity over the ids both vocabularies have; 0xffffffff
 * where no draft id is.
 */
export function draftIdsOf(vocabSize: number, draftWidth: number, draftToTarget?: ArrayLike<number>): Uint32Array {
  const ids = new Uint32Array(vocabSize).fill(0xffffffff);
  if (draftToTarget) {
    for (let j = 0; j < draftToTarget.length; j++) if (draftToTarget[j] < vocabSize) ids[draftToTarget[j]] = j;
  } else {
    for (let x = 0; x < Math.min(vocabSize, draftWidth); x++) ids[x] = x;
  }
  return ids;
}
