/**
 * Greedy acceptance on the GPU (accept_greedy.wgsl) against its reference, `acceptTree`
 * (speculative/tree.ts): over random chains of 1 to 16 drafts and trees of 1 to 3 ranks of
 * leaves beside their first drafts, the same accepted count, the same next token and the same
 * leaf, exactly (the kernel compares ids; nothing is rounded). Drafts come from a vocabulary of
 * 6 ids, so chains break anywhere and leaves of every rank are taken; the test counts that they
 * were.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, createUniform, readBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import { acceptTree, MAX_TREE_WIDTH, type TreeDraft, treeTokens } from '../speculative/tree';
import { runPass, testGpu } from '../testing/gpu';
import { Rng } from '../util/rng';
import { ACCEPT_GREEDY_PARAMS_BYTES, AcceptGreedyKernel, NO_LEAF } from './accept-greedy';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const MAX_K = 16;
const VOCAB = 6;

/** A random tree: k drafts, `depths` of them with `ranks` leaves beside; the target's choices after each token. */
function randomCase(rng: Rng) {
  const k = rng.int(1, MAX_K + 1);
  const depths = rng.next() < 0.25 ? 0 : rng.int(1, Math.min(k, 8) + 1);
  const ranks = depths === 0 ? 0 : rng.int(1, MAX_TREE_WIDTH + 1);
  const id = () => rng.int(0, VOCAB);
  const tree: TreeDraft = {
    chain: Array.from({ length: k }, id),
    leaves: Array.from({ length: ranks }, () => Array.from({ length: depths }, id)),
  };
  // The target agrees with the chain often enough that walks reach every depth.
  const choices = Array.from({ length: k + 1 + ranks * depths }, (_, i) =>
    i < k && rng.next() < 0.75 ? tree.chain[i] : id(),
  );
  return { tree, choices, k, depths, ranks };
}

describe('greedy acceptance on the GPU', () => {
  it("gives acceptTree's verdict on random chains and trees of up to 3 ranks", async () => {
    const { device } = gpu;
    const kernel = new AcceptGreedyKernel(device);
    const params = createUniform(device, ACCEPT_GREEDY_PARAMS_BYTES, 'params');
    const listLength = MAX_K * (1 + MAX_TREE_WIDTH);
    const drafts = createStorage(device, listLength * 4, 'drafts');
    const choices = createStorage(device, (listLength + 1) * 4, 'choices');
    const result = createStorage(device, 3 * 4, 'result');
    const bind = kernel.bind({ params, drafts, choices, result });
    const rng = new Rng(2024);
    const seen = { chainEnds: new Set<number>(), wholeChains: 0, leafRanks: new Set<number>() };
    for (let n = 0; n < 300; n++) {
      const c = randomCase(rng);
      device.queue.writeBuffer(params, 0, Uint32Array.of(c.k, c.depths, c.ranks, 0));
      device.queue.writeBuffer(drafts, 0, Uint32Array.from(treeTokens(0, c.tree).slice(1)));
      device.queue.writeBuffer(choices, 0, Uint32Array.from(c.choices));
      await runPass(device, (pass) => kernel.encode(pass, bind));
      const [accepted, next, leaf] = new Uint32Array(await readBuffer(device, result, 12));
      const want = acceptTree(c.tree, c.choices);
      expect({ accepted, next, leaf: leaf === NO_LEAF ? undefined : leaf }, `case ${n}: ${JSON.stringify(c)}`).toEqual({
        accepted: want.accepted.length,
        next: want.next,
        leaf: want.leaf,
      });
      if (want.leaf !== undefined) seen.leafRanks.add(Math.floor(want.leaf / c.depths));
      else if (accepted === c.k) seen.wholeChains++;
      else seen.chainEnds.add(accepted);
    }
    // Every rank's leaves were taken, chains were accepted whole, and refused at many depths.
    expect([...seen.leafRanks].sort()).toEqual([0, 1, 2]);
    expect(seen.wholeChains).toBeGreaterThan(5);
    expect(seen.chainEnds.size).toBeGreaterThan(8);
    for (const buffer of [params, drafts, choices, result]) buffer.destroy();
  });
});
