/**
 * An EAGLE head's draft ids mapped to the target's on the GPU (draft_to_target.wgsl) against
 * its reference, `draftToTarget`: each rank's id looked up in a d2t table and written to its
 * slot of the list, the rest of the list untouched, and an id past the table (what NaN logits
 * would leave) clamped to its last entry. Ids are copied, so agreement is exact.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createUniform, readBuffer, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import { runPass, testGpu } from '../testing/gpu';
import { Rng } from '../util/rng';
import { DRAFT_TO_TARGET_PARAMS_BYTES, DraftToTargetKernel, draftToTarget } from './draft-to-target';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

describe('draft ids to target ids on the GPU', () => {
  it('writes d2t[ids[rank]] into the slot asked for, and nothing else', async () => {
    const { device } = gpu;
    const rng = new Rng(7);
    // A reduced draft vocabulary of 500 ids in a target vocabulary of 32,000.
    const map = Uint32Array.from({ length: 500 }, (_, i) => i * 61 + rng.int(0, 61));
    const ids = Uint32Array.of(17, 499, 0, 500 + 12345); // ranks 0..3; the last past the table
    const kernel = new DraftToTargetKernel(device);
    const params = createUniform(device, DRAFT_TO_TARGET_PARAMS_BYTES, 'params');
    const listLength = 32;
    const before = Uint32Array.from({ length: listLength }, () => rng.int(0, 32_000));
    const drafts = uploadBuffer(device, before, STORAGE, 'drafts');
    const buffers = [
      params,
      drafts,
      uploadBuffer(device, ids, STORAGE, 'ids'),
      uploadBuffer(device, map, STORAGE, 'd2t'),
    ];
    const bind = kernel.bind({ params, ids: buffers[2], map: buffers[3], drafts });
    const want = before.slice();
    for (const [slot, rank] of [
      [0, 0],
      [5, 1],
      [31, 2],
      [9, 3],
    ]) {
      device.queue.writeBuffer(params, 0, Uint32Array.of(slot, rank, 0, 0));
      await runPass(device, (pass) => kernel.encode(pass, bind));
      want[slot] = draftToTarget(map, ids[rank]);
      expect(new Uint32Array(await readBuffer(device, drafts, listLength * 4)), `slot ${slot}`).toEqual(want);
    }
    expect(want[9]).toBe(map[499]); // clamped
    for (const buffer of buffers) buffer.destroy();
  });
});
