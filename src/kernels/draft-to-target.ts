/**
 * An EAGLE head's draft id as the target's id, on the GPU (draft_to_target.wgsl): the head's
 * choice of rank `rank` (over its reduced draft vocabulary) looked up in its d2t table and
 * written where the step's list of drafts holds it. `draftToTarget` is its reference.
 */

import code from './draft_to_target.wgsl?raw';
import { OneWorkgroupKernel } from './kernel';

/** Bytes of its uniform: the slot in the list of drafts, the rank of the id to map (u32 each, padded). */
export const DRAFT_TO_TARGET_PARAMS_BYTES = 16;

/** The target's id for draft id `id`; an id past the table (from NaN logits) takes its last entry, as WGSL's bounds do. */
export function draftToTarget(map: ArrayLike<number>, id: number): number {
  return map[Math.min(id, map.length - 1)];
}

export class DraftToTargetKernel extends OneWorkgroupKernel {
  constructor(device: GPUDevice) {
    super(device, 'draft to target', code, {});
  }

  /** params: (slot, rank, 0, 0) u32; ids: the head's chosen ids by rank; map: d2t; drafts: the step's list. */
  bind(buffers: { params: GPUBuffer; ids: GPUBuffer; map: GPUBuffer; drafts: GPUBuffer }): GPUBindGroup {
    return this.bindAll([buffers.params, buffers.ids, buffers.map, buffers.drafts]);
  }
}
