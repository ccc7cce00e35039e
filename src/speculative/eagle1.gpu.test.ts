/**
 * An EAGLE-1 head on the GPU (scripts/fixtures/eagle1.py's, for the fixture target): its logits
 * against the reference model's at every pair, from the normed states the target exports; its
 * catch-up in one pass equal to one pair at a time, bit for bit; and greedy speculation with it,
 * as a chain and as a tree, taken on the device with one readback a step, equal to plain greedy.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../gpu/device';
import { directorySource } from '../loader/node-source';
import { type EagleTarget, referenceEagle } from '../model/eagle';
import { generate } from '../model/generate';
import type { GpuModel } from '../model/gpu-model';
import type { GpuSequence } from '../model/gpu-sequence';
import { destroyPair, loadPair, type ModelPair } from '../model/pair';
import type { ReferenceSequence } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import {
  EAGLE1_FIXTURE,
  FIXTURES,
  fixturePath,
  headAgainstReference,
  loadEagleFixture,
  loadEagleGolden,
  loadFixture,
} from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { LEAN_GPU_PROFILE } from '../testing/profiles';
import { countingLeaves } from '../testing/spec';
import { draftSource } from './draft-source';
import { EagleDraftSource } from './eagle-draft';
import { speculativeGenerate } from './speculative';

let gpu: Gpu;
let pair: ModelPair;
let model: EagleTarget<GpuSequence, GpuSequence>;
let reference: EagleTarget<ReferenceSequence, ReferenceSequence>;
beforeAll(async () => {
  gpu = await testGpu();
  pair = await loadPair(
    gpu,
    { target: directorySource(fixturePath(FIXTURES.target)), draft: directorySource(fixturePath(EAGLE1_FIXTURE)) },
    { maxContext: 256 },
  );
  if (!pair.eagle) throw new Error('the pair has no EAGLE head');
  model = pair.eagle.model;
  const folder = await loadFixture(FIXTURES.target);
  reference = referenceEagle(folder, await loadEagleFixture(folder, EAGLE1_FIXTURE));
  return () => destroyPair(pair);
});

describe('an EAGLE-1 head on the GPU', () => {
  it("projects with the target's LM head, not a copy", () => {
    const head = pair.eagle?.head as GpuModel;
    expect(head.weights.lmHead).toBe(pair.target.model.weights.lmHead);
    expect(head.weights.embed).toBe(pair.target.model.weights.embed);
  });

  it('embeds a draft token straight into [embedding; hidden]: a step copies only the hidden state beside it', () => {
    const head = pair.eagle?.head as GpuModel;
    const sequence = head.createSequence(16);
    const { perLayer, total } = head.countDispatches(sequence, 1);
    sequence.release();
    // The embedding (into the first d columns), the hidden state's copy (the last d), fc; its
    // decoder layer (EAGLE-1's has no input norm: 6 dispatches); the target's LM head (and no
    // final norm) and the argmax (one dispatch over the fixture's 1,024 tokens).
    expect(perLayer).toBe(6);
    expect(total).toBe(3 + 6 + 2);
  });

  it('gives the reference logits at every pair, and a catch-up in one pass gives the bits of one pair at a time', async () => {
    const { worst, scale, sameBits } = await headAgainstReference(
      model,
      reference,
      loadEagleGolden(EAGLE1_FIXTURE).prompt,
    );
    // f32 throughout; the GPU sums in another order than the reference's float64.
    expect(worst).toBeLessThan(1e-3 * Math.max(1, scale));
    expect(sameBits).toBe(true);
  });

  it('lean GPU profile (norms folded into the projections): the same drafts, and speculation equal to plain greedy', async () => {
    const gpuProfile = await loadPair(
      gpu,
      { target: directorySource(fixturePath(FIXTURES.target)), draft: directorySource(fixturePath(EAGLE1_FIXTURE)) },
      { maxContext: 256, profile: LEAN_GPU_PROFILE, compile: 'on-first-use' },
    );
    const eagle = gpuProfile.eagle?.model as EagleTarget<GpuSequence, GpuSequence>;
    const golden = loadEagleGolden(EAGLE1_FIXTURE);
    const greedyDraft = { minConfidence: 0, sampling: GREEDY, rng: null as never };
    for (const { context, k, ids } of golden.drafts) {
      const sequence = eagle.createSequence(256);
      await eagle.greedy(sequence, context.slice(0, -1), 'last');
      expect((await new EagleDraftSource(eagle, sequence).propose(context, { k, ...greedyDraft })).tokens).toEqual(ids);
      sequence.release();
    }
    const plain = eagle.target.createSequence(256);
    const expected = await generate(eagle.target, plain, golden.prompt, { maxTokens: 32, sampling: GREEDY });
    const sequence = eagle.createSequence(256);
    const source = draftSource('eagle', undefined, { model: eagle, sequence });
    const options = { maxTokens: 32, sampling: GREEDY, draftLength: 4, fallback: false, tree: 2 };
    expect((await speculativeGenerate(eagle, sequence, source, golden.prompt, options)).tokens).toEqual(expected);
    for (const s of [plain, sequence]) s.release();
    destroyPair(gpuProfile);
  }, 300_000);

  it('samples on the device step with one readback a step, reproducibly for a seed', async () => {
    const target = model.target as GpuModel;
    const head = model.head as GpuModel;
    const run = async () => {
      const sequence = model.createSequence(256);
      const source = draftSource('eagle', undefined, { model, sequence });
      const before = target.readbacks + head.readbacks;
      const { tokens, counts } = await speculativeGenerate(
        model,
        sequence,
        source,
        loadEagleGolden(EAGLE1_FIXTURE).prompt,
        {
          maxTokens: 48,
          sampling: { temperature: 0.7, topK: 0, topP: 0.95 },
          seed: 9,
          draftLength: 4,
          fallback: false,
        },
      );
      sequence.release();
      return { tokens, counts, readbacks: target.readbacks + head.readbacks - before };
    };
    const [first, second] = [await run(), await run()];
    expect(second.tokens).toEqual(first.tokens);
    expect(first.readbacks).toBe(2 + first.counts.steps);
    expect(first.counts.accepted[0]).toBeGreaterThan(0);
  });

  it("drafts PyTorch's drafts", async () => {
    const greedyDraft = { minConfidence: 0, sampling: GREEDY, rng: null as never };
    for (const { context, k, ids } of loadEagleGolden(EAGLE1_FIXTURE).drafts) {
      const sequence = model.createSequence(256);
      await model.greedy(sequence, context.slice(0, -1), 'last');
      expect((await new EagleDraftSource(model, sequence).propose(context, { k, ...greedyDraft })).tokens).toEqual(ids);
      sequence.release();
    }
  });

  it.each([
    [4, 0],
    [4, 3],
  ])(
    'greedy speculation with it (k = %i, %i leaves) on the device step reads back once a step and equals plain greedy',
    async (k, tree) => {
      const target = model.target as GpuModel;
      const head = model.head as GpuModel;
      const { model: counting, taken } = countingLeaves(model);
      const golden = loadEagleGolden(EAGLE1_FIXTURE);
      for (const prompt of [golden.prompt, ...golden.drafts.map((d) => d.context)]) {
        const plain = model.target.createSequence(256);
        const expected = await generate(model.target, plain, prompt, { maxTokens: 48, sampling: GREEDY });
        const sequence = counting.createSequence(256);
        const source = draftSource('eagle', undefined, { model: counting, sequence });
        const before = target.readbacks + head.readbacks;
        const { tokens, counts } = await speculativeGenerate(counting, sequence, source, prompt, {
          maxTokens: 48,
          sampling: GREEDY,
          draftLength: k,
          fallback: false,
          tree,
        });
        expect(tokens).toEqual(expected);
        // The prompt's token and one plain step, then one readback a speculative step.
        expect(target.readbacks + head.readbacks - before).toBe(2 + counts.steps);
        expect(counts.accepted[0]).toBeGreaterThan(0);
        for (const s of [plain, sequence]) s.release();
      }
      if (tree > 0) expect(taken()).toBeGreaterThan(0);
    },
  );
});
