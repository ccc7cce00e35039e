/**
 * The sampled acceptance rule on the GPU (accept_sampled.wgsl after distribution_stats.wgsl)
 * against its reference (src/ref/sampled-acceptance.ts): for each seed, the same accepted count,
 * the same token and the same leaf, over draft models of the target's vocabulary, of a wider
 * one, and an EAGLE-like head over a reduced vocabulary mapped by d2t, under temperature, top-k
 * and top-p, over chains and trees (a leaf beside each of the first drafts).
 * Exact agreement is expected: the kernel computes in f32 what the reference computes in f64,
 * and a seed whose number fell within rounding of a boundary would show as a mismatch here
 * (the seeds are fixed, so the test is deterministic).
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, createUniform, readBuffer, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import { acceptSampledReference } from '../ref/sampled-acceptance';
import { distribution, type SamplingParams, sample, without } from '../sampling/sampling';
import { treeTokens } from '../speculative/tree';
import { runPass, testGpu } from '../testing/gpu';
import { Rng } from '../util/rng';
import {
  ACCEPT_PARAMS_BYTES,
  AcceptSampledKernel,
  DistributionStatsKernel,
  draftIdsOf,
  writeAcceptParams,
} from './sampled-acceptance';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

interface Case {
  vocab: number;
  /** The draft's rows' width. */
  width: number;
  /** An EAGLE-like head's map of its ids to the target's. */
  d2t?: Uint32Array;
  k: number;
  /** A tree's depths with leaves: further draws beside each of the first drafts, `ranks` of them (1 unless told). */
  leaves?: number;
  ranks?: number;
  sampling: SamplingParams;
  /** How far the draft's logits stray from the target's: lower accepts more. */
  noise: number;
}

/** A random one-to-one map of `width` draft ids into `vocab` target ids, ascending as d2t tables are. */
function randomMap(width: number, vocab: number, rng: Rng): Uint32Array {
  const ids = Array.from({ length: vocab }, (_, i) => i);
  for (let i = vocab - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  return Uint32Array.from(ids.slice(0, width).sort((a, b) => a - b));
}

/**
 * Rows for one step: the target's (k + 1 + ranks * leaves, vocab), the draft's near them (k,
 * width), drafts drawn from the draft's, and leaves drawn beside each of the first, each without
 * the ones before.
 */
function stepRows(c: Case, rng: Rng) {
  const leaves = c.leaves ?? 0;
  const ranks = leaves > 0 ? (c.ranks ?? 1) : 0;
  const target = rng.floats((c.k + 1 + ranks * leaves) * c.vocab, -4, 4);
  if (c.d2t) {
    // A head's vocabulary holds the frequent tokens: the target's mass lies mostly on them.
    const mapped = new Set(c.d2t);
    for (let i = 0; i < target.length; i++) if (!mapped.has(i % c.vocab)) target[i] -= 4;
  }
  const draft = new Float32Array(c.k * c.width);
  const chain: number[] = [];
  const leafIds: number[][] = Array.from({ length: ranks }, () => []);
  for (let i = 0; i < c.k; i++) {
    for (let j = 0; j < c.width; j++) {
      const x = c.d2t ? c.d2t[j] : j;
      const own = x < c.vocab ? target[i * c.vocab + x] : -4;
      draft[i * c.width + j] = own + c.noise * rng.uniform(-1, 1);
    }
    const asTarget = (j: number) => (c.d2t ? c.d2t[j] : Math.min(j, c.vocab - 1));
    const q = distribution(draft.subarray(i * c.width, (i + 1) * c.width), c.sampling);
    const j = sample(q, rng);
    chain.push(asTarget(j));
    // The leaves: draws without the ones before, or the last one again if nothing else has mass.
    const drawn = [j];
    for (let r = 0; r < ranks && i < leaves; r++) {
      const rest = without(q, drawn);
      drawn.push(rest.some((x) => x > 0) ? sample(rest, rng) : (drawn.at(-1) as number));
      leafIds[r].push(asTarget(drawn[r + 1]));
    }
  }
  return { target, draft, tree: { chain, leaves: leafIds } };
}

/** Runs the two kernels on one step's rows and reads back (accepted, token, leaf). */
async function acceptOnGpu(c: Case, rows: ReturnType<typeof stepRows>, seed: number, workgroup: number) {
  const { device } = gpu;
  const leaves = c.leaves ?? 0;
  const ranks = rows.tree.leaves.length;
  const params = createUniform(device, ACCEPT_PARAMS_BYTES, 'accept params');
  const tree = { k: c.k, leaves, ranks };
  writeAcceptParams(device, params, c.sampling, seed, tree, new ArrayBuffer(ACCEPT_PARAMS_BYTES));
  const stats = createStorage(device, (2 * c.k + 1 + ranks * leaves) * 16, 'stats');
  const draftLogits = uploadBuffer(device, rows.draft, STORAGE, 'draft rows');
  const logits = uploadBuffer(device, rows.target, STORAGE, 'target rows');
  const result = createStorage(device, 12, 'result');
  const draftStats = new DistributionStatsKernel(device, c.width, 0, workgroup);
  const targetStats = new DistributionStatsKernel(device, c.vocab, c.k, workgroup);
  const accept = new AcceptSampledKernel(device, c.vocab, c.width, c.k, workgroup);
  const binds = {
    draft: draftStats.bind({ params, logits: draftLogits, stats }),
    target: targetStats.bind({ params, logits, stats }),
    accept: accept.bind({
      params,
      drafts: uploadBuffer(device, Uint32Array.from(treeTokens(0, rows.tree).slice(1)), STORAGE, 'drafts'),
      draftIds: uploadBuffer(device, draftIdsOf(c.vocab, c.width, c.d2t), STORAGE, 'draft ids'),
      stats,
      draftLogits,
      logits,
      result,
    }),
  };
  await runPass(device, (pass) => {
    draftStats.encode(pass, binds.draft, c.k);
    targetStats.encode(pass, binds.target, c.k + 1 + ranks * leaves);
    accept.encode(pass, binds.accept);
  });
  const [accepted, next, leaf] = new Uint32Array(await readBuffer(device, result, 12));
  return { accepted, next, leaf: leaf === 0xffffffff ? undefined : leaf };
}

const T1: SamplingParams = { temperature: 1, topK: 0, topP: 1 };
const CASES: [string, Case][] = [
  ['a draft of the same vocabulary, T = 1', { vocab: 300, width: 300, k: 4, sampling: T1, noise: 1.5 }],
  [
    'a draft of the same vocabulary, T = 0.7 and top-k 20',
    { vocab: 300, width: 300, k: 4, sampling: { temperature: 0.7, topK: 20, topP: 1 }, noise: 1 },
  ],
  [
    'a draft of a wider vocabulary, T = 1.3 and top-p 0.9',
    { vocab: 257, width: 280, k: 3, sampling: { temperature: 1.3, topK: 0, topP: 0.9 }, noise: 1 },
  ],
  [
    'a head over 96 of 300 ids (d2t), T = 0.7',
    { vocab: 300, width: 96, k: 5, sampling: { temperature: 0.7, topK: 0, topP: 1 }, noise: 0.5 },
  ],
  [
    // Few kept tokens: the first draw's share is large, so q without it differs much from q.
    'a tree of 2 leaves, a draft of the same vocabulary, T = 1 and top-k 4',
    { vocab: 300, width: 300, k: 4, leaves: 2, sampling: { temperature: 1, topK: 4, topP: 1 }, noise: 0.5 },
  ],
  [
    'a tree of 3 leaves, a head over 96 of 300 ids (d2t), T = 0.7 and top-p 0.9',
    { vocab: 300, width: 96, k: 3, leaves: 3, sampling: { temperature: 0.7, topK: 0, topP: 0.9 }, noise: 1.5 },
  ],
  [
    'a tree of 3 ranks at 2 depths, a draft of the same vocabulary, T = 1',
    { vocab: 300, width: 300, k: 4, leaves: 2, ranks: 3, sampling: T1, noise: 1 },
  ],
  [
    'a tree of 2 ranks at 3 depths, a head over 96 of 300 ids (d2t), T = 0.7 and top-p 0.9',
    {
      vocab: 300,
      width: 96,
      k: 3,
      leaves: 3,
      ranks: 2,
      sampling: { temperature: 0.7, topK: 0, topP: 0.9 },
      noise: 1.5,
    },
  ],
];

describe('sampled acceptance on the GPU', () => {
  it.each(CASES)('makes the reference choices for each seed: %s', async (_, base) => {
    const rng = new Rng(base.vocab + base.width + base.k);
    const c = { ...base, d2t: base.width < base.vocab ? randomMap(base.width, base.vocab, rng) : undefined };
    const seen = new Set<number>();
    let leavesTaken = 0;
    let laterRanks = 0;
    // A tree's leaf takes its turn only after a rejection: more steps, so that many turns are compared.
    const steps = c.leaves ? 120 : 24;
    for (let s = 0; s < steps; s++) {
      const rows = stepRows(c, rng);
      const seed = rng.nextUint32();
      const want = acceptSampledReference(rows.target, rows.draft, rows.tree, c.sampling, seed, c.d2t);
      const workgroup = s % 2 === 0 ? 256 : 4;
      expect(await acceptOnGpu(c, rows, seed, workgroup), `seed ${seed}, ${workgroup} threads`).toEqual({
        accepted: want.accepted.length,
        next: want.next,
        leaf: want.leaf,
      });
      seen.add(want.accepted.length);
      if (want.leaf !== undefined) leavesTaken++;
      if (want.leaf !== undefined && want.leaf >= (c.leaves ?? 0)) laterRanks++;
    }
    // Rejections at several depths and whole acceptances both occurred: each path was compared.
    expect(seen.size).toBeGreaterThanOrEqual(3);
    // A tree's leaves were taken, and passed over: both turns of the rule were compared.
    if (c.leaves) expect(leavesTaken).toBeGreaterThan(0);
    if ((c.ranks ?? 1) > 1) expect(laterRanks).toBeGreaterThan(0); // and the turns of the ranks after the first
  });

  it('gives no token when the target row is not numbers (NaN), so the step fails clearly', async () => {
    const c: Case = { vocab: 64, width: 64, k: 2, sampling: T1, noise: 1 };
    const rows = stepRows(c, new Rng(9));
    rows.target.fill(Number.NaN);
    const { next } = await acceptOnGpu(c, rows, 1, 256);
    expect(next).toBe(0xffffffff);
  });
});
