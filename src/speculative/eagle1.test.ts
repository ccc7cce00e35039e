/**
 * EAGLE-1 heads (the heads EAGLE-2 drafts with too) on the reference models: the loader (a
 * one-layer Llama config; fc over [embedding; hidden] with its bias; a layer with no input norm;
 * the target's LM head), the head against the PyTorch golden outputs of
 * scripts/fixtures/eagle1.py, and greedy speculative decoding with it equal to plain greedy
 * decoding token for token.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { EagleHead } from '../loader/eagle';
import type { ModelFolder } from '../loader/model-folder';
import { directorySource } from '../loader/node-source';
import type { EagleTarget } from '../model/eagle';
import { referenceEagle } from '../model/eagle';
import { generate } from '../model/generate';
import { disposeFolders, readPair } from '../model/pair';
import type { ReferenceSequence } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import {
  EAGLE1_FIXTURE,
  editedEagleHead,
  FIXTURES,
  fixturePath,
  headGoldenError,
  loadEagleFixture,
  loadEagleGolden,
  loadFixture,
} from '../testing/fixtures';
import { countingLeaves } from '../testing/spec';
import { draftSource } from './draft-source';
import { EagleDraftSource } from './eagle-draft';
import { speculativeGenerate } from './speculative';
import { speculativeStats } from './stats';

let folder: ModelFolder;
let head: EagleHead;
let model: EagleTarget<ReferenceSequence, ReferenceSequence>;
beforeAll(async () => {
  folder = await loadFixture(FIXTURES.target);
  head = await loadEagleFixture(folder, EAGLE1_FIXTURE);
  model = referenceEagle(folder, head);
});

describe('loading an EAGLE-1 head', () => {
  it("reads the EAGLE repository's layout: fc and its bias over [embedding; hidden], the target's LM head", () => {
    expect(head.layout).toBe('eagle1');
    expect(head.config.hiddenInput).toBe('eagle1');
    expect(head.config.numLayers).toBe(1);
    expect(head.config.vocabSize).toBe(folder.config.vocabSize);
    expect(head.layerIds).toEqual([]);
    expect(head.weights.get('fc.weight')?.shape).toEqual([128, 256]);
    expect(head.weights.get('fc.bias')?.shape).toEqual([128]);
    expect(head.weights.get('model.layers.0.self_attn.q_proj.weight')?.shape).toEqual([128, 128]);
    expect(head.weights.has('model.layers.0.input_layernorm.weight')).toBe(false);
    // The file's copy of the embedding is passed over: the head embeds and projects with the target's tables.
    expect(head.weights.get('model.embed_tokens.weight')).toBe(folder.weights.get('model.embed_tokens.weight'));
    expect(head.weights.get('lm_head.weight')).toBe(folder.weights.get('lm_head.weight'));
    expect(Array.from(head.draftToTarget)).toEqual(Array.from({ length: folder.config.vocabSize }, (_, i) => i));
  });

  it('is told from a draft model by its one-layer config in a folder without a tokenizer', async () => {
    const pair = await readPair({
      target: directorySource(fixturePath(FIXTURES.target)),
      draft: directorySource(fixturePath(EAGLE1_FIXTURE)),
    });
    expect(pair.head?.head.layout).toBe('eagle1');
    expect(pair.draft).toBeUndefined();
    disposeFolders(pair);
  });

  it('names a missing fc, and refuses a head made for another target', async () => {
    await expect(
      editedEagleHead(folder, EAGLE1_FIXTURE, { tensors: (t) => delete t['fc.weight'] }),
    ).rejects.toMatchObject({ name: 'TensorMissingError', message: expect.stringContaining('fc.weight') });
    await expect(
      editedEagleHead(folder, EAGLE1_FIXTURE, { config: (c) => (c.vocab_size = 2048) }),
    ).rejects.toMatchObject({
      name: 'DraftHeadMismatchError',
      message: expect.stringContaining('made for another target'),
    });
    await expect(
      editedEagleHead(folder, EAGLE1_FIXTURE, { config: (c) => (c.hidden_size = 64) }),
    ).rejects.toMatchObject({ name: 'DraftHeadMismatchError' });
  });
});

describe('an EAGLE-1 head on the reference model', () => {
  it("matches PyTorch's logits at every real pair (the target's normed state at t, token at t + 1)", async () => {
    expect(await headGoldenError(model, loadEagleGolden(EAGLE1_FIXTURE))).toBeLessThan(2e-4);
  });

  it("drafts PyTorch's drafts, feeding itself its own state", async () => {
    for (const { context, k, ids } of loadEagleGolden(EAGLE1_FIXTURE).drafts) {
      const sequence = model.createSequence(256);
      await model.greedy(sequence, context.slice(0, -1), 'last');
      const source = new EagleDraftSource(model, sequence);
      const draft = await source.propose(context, { k, minConfidence: 0, sampling: GREEDY, rng: null as never });
      expect(draft.tokens).toEqual(ids);
    }
  });

  it.each([
    [3, 0],
    [4, 3],
  ])('greedy speculation with it (k = %i, %i leaves) equals plain greedy decoding', async (k, tree) => {
    const { model: counting, taken } = countingLeaves(model);
    const golden = loadEagleGolden(EAGLE1_FIXTURE);
    for (const prompt of [golden.prompt, ...golden.drafts.map((d) => d.context)]) {
      const expected = await generate(model.target, model.target.createSequence(256), prompt, {
        maxTokens: 48,
        sampling: GREEDY,
      });
      const sequence = counting.createSequence(256);
      const source = draftSource('eagle', undefined, { model: counting, sequence });
      const { tokens, counts } = await speculativeGenerate(counting, sequence, source, prompt, {
        maxTokens: 48,
        sampling: GREEDY,
        draftLength: k,
        fallback: false,
        tree,
      });
      expect(tokens).toEqual(expected);
      expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
    }
    if (tree > 0) expect(taken()).toBeGreaterThan(0);
  });
});
