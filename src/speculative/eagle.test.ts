/**
 * EAGLE-3 heads on the reference models: the loader (names, shapes, the target it was made
 * for), the head against the PyTorch golden outputs of scripts/fixtures/eagle.py, and greedy
 * speculative decoding with the head equal to plain greedy decoding token for token.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { type EagleHead, loadEagleHead } from '../loader/eagle';
import type { ModelFolder } from '../loader/model-folder';
import { memorySource } from '../loader/source';
import { EagleSequence, type EagleTarget, referenceEagle } from '../model/eagle';
import { generate } from '../model/generate';
import { randomEagleHeadFiles, randomModel } from '../model/random-weights';
import type { ReferenceModel, ReferenceSequence } from '../ref/model';
import { GREEDY, type SamplingParams } from '../sampling/sampling';
import {
  EAGLE_FIXTURE,
  EAGLE_Q4_FIXTURE,
  editedEagleHead,
  FIXTURES,
  type HeadEdit,
  headGoldenError,
  loadEagleFixture,
  loadEagleGolden,
  loadFixture,
} from '../testing/fixtures';
import { chiSquare, countingLeaves, countSampledTokens, exactMarginal, TINY_SHAPE } from '../testing/spec';
import type { DraftLength } from './draft-length';
import { draftSource } from './draft-source';
import { EagleDraftSource } from './eagle-draft';
import { speculativeGenerate } from './speculative';
import { speculativeStats } from './stats';

let folder: ModelFolder;
let head: EagleHead;
let model: EagleTarget<ReferenceSequence, ReferenceSequence>;
let prompts: number[][];
beforeAll(async () => {
  folder = await loadFixture(FIXTURES.target);
  head = await loadEagleFixture(folder);
  model = referenceEagle(folder, head);
  const chat = (user: string) =>
    folder.tokenizer.encodeChat([
      { role: 'system', content: 'You tell short, happy stories for children.' },
      { role: 'user', content: user },
    ]);
  prompts = [
    loadEagleGolden().prompt,
    chat('Can you tell me a story about Zoe the turtle?'),
    chat('Please write a short story about a bear called Max.'),
  ];
});

/** The fixture head, with `edit` applied to its config and tensors. */
const editedHead = (edit: HeadEdit) => editedEagleHead(folder, EAGLE_FIXTURE, edit);

describe('loading an EAGLE-3 head', () => {
  it('reads the published layout: one layer over [embedding; hidden], fc, d2t, the layers it reads', () => {
    expect(head.config.numLayers).toBe(1);
    expect(head.config.hiddenInput).toBe('eagle3');
    expect(head.config.vocabSize).toBe(512); // the draft vocabulary
    expect(head.layerIds).toEqual([1, 3, 5]);
    expect(head.weights.get('model.layers.0.self_attn.q_proj.weight')?.shape).toEqual([128, 256]);
    expect(head.weights.get('fc.weight')?.shape).toEqual([128, 384]);
    expect(head.draftToTarget.length).toBe(512);
    expect(new Set(head.draftToTarget).size).toBe(512); // distinct target ids
    expect(Math.max(...head.draftToTarget)).toBeLessThan(folder.config.vocabSize);
  });

  it('takes layers.0. for midlayer. and defaults the layers to 2, L/2, L - 3', async () => {
    const renamed = await editedHead({
      config: (c) => {
        delete c.eagle_aux_hidden_state_layer_ids;
      },
      tensors: (t) => {
        for (const name of Object.keys(t).filter((n) => n.startsWith('midlayer.'))) {
          t[name.replace('midlayer.', 'layers.0.')] = t[name];
          delete t[name];
        }
      },
    });
    expect(renamed.layerIds).toEqual([2, 3, 3]);
    expect(renamed.weights.get('model.layers.0.hidden_norm.weight')).toBeDefined();
  });

  it.each([
    ['vocab_size', (c: Record<string, unknown>) => (c.vocab_size = 2048)],
    ['hidden size', (c: Record<string, unknown>) => (c.target_hidden_size = 256)],
    ['layers', (c: Record<string, unknown>) => (c.eagle_aux_hidden_state_layer_ids = [1, 3, 9])],
  ])('refuses a head made for another target (%s) by name', async (_what, config) => {
    await expect(editedHead({ config })).rejects.toMatchObject({
      name: 'DraftHeadMismatchError',
      message: expect.stringContaining('made for another target'),
    });
  });

  it('is refused by name where a model is expected', async () => {
    await expect(loadFixture(EAGLE_FIXTURE)).rejects.toMatchObject({
      name: 'UnsupportedArchitectureError',
      message: expect.stringContaining('load it as the draft'),
    });
  });

  it('names a missing or misshapen tensor, and a d2t past the vocabulary', async () => {
    await expect(editedHead({ tensors: (t) => delete t['fc.weight'] })).rejects.toMatchObject({
      name: 'TensorMissingError',
      message: expect.stringContaining('fc.weight'),
    });
    await expect(
      editedHead({ tensors: (t) => (t['norm.weight'] = { dtype: 'F32', shape: [64], data: new Float32Array(64) }) }),
    ).rejects.toMatchObject({ name: 'TensorShapeError', message: expect.stringContaining('norm.weight') });
    await expect(
      editedHead({
        tensors: (t) => {
          const d2t = new BigInt64Array(512);
          d2t[511] = 1000n;
          t.d2t = { dtype: 'I64', shape: [512], data: d2t };
        },
      }),
    ).rejects.toMatchObject({ name: 'TensorShapeError', message: expect.stringContaining('d2t') });
  });
});

describe('the head on the reference model', () => {
  it("matches PyTorch's logits at every real pair (features of t, token at t + 1)", async () => {
    expect(await headGoldenError(model, loadEagleGolden())).toBeLessThan(2e-4);
  });

  it("drafts PyTorch's drafts, catching up from any point", async () => {
    for (const { context, k, ids } of loadEagleGolden().drafts) {
      const sequence = model.createSequence(256);
      await model.greedy(sequence, context.slice(0, -1), 'last');
      const source = new EagleDraftSource(model, sequence);
      const draft = await source.propose(context, { k, minConfidence: 0, sampling: GREEDY, rng: null as never });
      expect(draft.tokens).toEqual(ids);
    }
  });
});

describe('greedy speculative decoding with the head equals plain greedy decoding', () => {
  const TOKENS = 40;
  it.each<DraftLength>([1, 3, 5, 'auto'])('k = %s', async (k) => {
    for (const prompt of prompts) {
      const expected = await generate(model.target, model.target.createSequence(256), prompt, {
        maxTokens: TOKENS,
        sampling: GREEDY,
      });
      const sequence = model.createSequence(256);
      const source = draftSource('eagle', undefined, { model, sequence });
      const { tokens, counts } = await speculativeGenerate(model, sequence, source, prompt, {
        maxTokens: TOKENS,
        sampling: GREEDY,
        draftLength: k,
        fallback: false,
      });
      expect(tokens).toEqual(expected);
      expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
    }
  });

  it.each([
    [3, 2, 1],
    [5, 3, 1],
    ['auto', 8, 1],
    [4, 2, 2],
    [5, 4, 3],
  ] as [DraftLength, number, number][])(
    'with a tree (k = %s, leaves at %i depths, %i at each): the same output, leaves taken',
    async (k, tree, treeWidth) => {
      const { model: counting, taken: leavesTaken, takenPast } = countingLeaves(model);
      for (const prompt of prompts) {
        const expected = await generate(model.target, model.target.createSequence(256), prompt, {
          maxTokens: TOKENS,
          sampling: GREEDY,
        });
        const sequence = counting.createSequence(256);
        const source = draftSource('eagle', undefined, { model: counting, sequence });
        const { tokens } = await speculativeGenerate(counting, sequence, source, prompt, {
          maxTokens: TOKENS,
          sampling: GREEDY,
          draftLength: k,
          fallback: false,
          tree,
          treeWidth,
        });
        expect(tokens).toEqual(expected);
      }
      expect(leavesTaken()).toBeGreaterThan(0);
      // The head is mostly right: on these prompts only the widest tree takes leaves past the first rank.
      if (treeWidth === 3) expect(takenPast(k as number)).toBeGreaterThan(0);
    },
  );

  it('with a tree under logit rules: the same output as plain decoding under them (a leaf counts its own path)', async () => {
    const rules = { repetitionPenalty: 1.5, frequencyPenalty: 0.5, presencePenalty: 1, logitBias: new Map([[9, 1.5]]) };
    const { model: counting, taken: leavesTaken } = countingLeaves(model);
    for (const prompt of prompts) {
      const plain = model.target.createSequence(256);
      plain.setLogitRules(rules, prompt.length);
      const expected = await generate(model.target, plain, prompt, { maxTokens: TOKENS, sampling: GREEDY });
      const sequence = counting.createSequence(256);
      sequence.setLogitRules(rules, prompt.length);
      for (const [draftLength, tree, treeWidth] of [
        [3, 2, 1],
        [5, 3, 1],
        [8, 8, 1],
        [5, 4, 3],
      ]) {
        sequence.truncate(0);
        const source = draftSource('eagle', undefined, { model: counting, sequence });
        const options = { maxTokens: TOKENS, sampling: GREEDY, draftLength, fallback: false, tree, treeWidth };
        expect((await speculativeGenerate(counting, sequence, source, prompt, options)).tokens).toEqual(expected);
      }
    }
    expect(leavesTaken()).toBeGreaterThan(0);
  });

  it("a tree pass's leaf rows under logit rules are the rows of each leaf's own path", async () => {
    const rules = { repetitionPenalty: 1.5, frequencyPenalty: 0.5, presencePenalty: 1, logitBias: new Map([[9, 1.5]]) };
    const reference = model.target as ReferenceModel;
    const vocab = reference.config.vocabSize;
    const [prompt] = prompts;
    const countFrom = prompt.length - 4;
    const chain = [prompt[prompt.length - 1], prompt[3], prompt[2], prompt[3]]; // repeats: counts matter
    const leaves = [prompt[2], prompt[4], prompt[3]];
    const tree = reference.createSequence(256);
    tree.setLogitRules(rules, countFrom);
    await reference.forward(tree, prompt.slice(0, -1));
    const rows = await reference.forwardTree(tree, [...chain, ...leaves], chain.length);
    for (const [i, leaf] of leaves.entries()) {
      // Leaf i sits beside chain token i + 1: its path is the chain up to token i, then itself.
      const plain = reference.createSequence(256);
      plain.setLogitRules(rules, countFrom);
      await reference.forward(plain, prompt.slice(0, -1));
      const path = await reference.forward(plain, [...chain.slice(0, i + 1), leaf]);
      const row = (chain.length + i) * vocab;
      expect(rows.subarray(row, row + vocab)).toEqual(path.subarray((i + 1) * vocab, (i + 2) * vocab));
    }
  });

  it('a truncated sequence catches up from the features it kept', async () => {
    const [prompt] = prompts;
    const sequence = model.createSequence(256);
    await model.greedy(sequence, prompt.slice(0, -1), 'last');
    const draft = () =>
      new EagleDraftSource(model, sequence).propose(prompt, {
        k: 4,
        minConfidence: 0,
        sampling: GREEDY,
        rng: null as never,
      });
    const first = await draft();
    sequence.truncate(prompt.length - 1); // drops the head's self-fed positions
    const cut = new EagleSequence(sequence.target, sequence.head);
    cut.truncate(10);
    await model.greedy(sequence, prompt.slice(10, -1), 'last');
    expect(sequence.head.length).toBeLessThanOrEqual(9);
    expect(await draft()).toEqual(first);
  });
});

describe("the q4 target's head (trained on its dequantized weights)", () => {
  it("matches PyTorch's logits, and greedy speculation with it equals plain decoding", async () => {
    const q4 = await loadFixture(FIXTURES.targetQ4);
    const q4Head = await loadEagleFixture(q4, EAGLE_Q4_FIXTURE);
    const pair = referenceEagle(q4, q4Head);
    const { target } = pair;
    const golden = loadEagleGolden(EAGLE_Q4_FIXTURE);
    expect(await headGoldenError(pair, golden)).toBeLessThan(2e-4);

    const expected = await generate(target, target.createSequence(256), golden.prompt, {
      maxTokens: 40,
      sampling: GREEDY,
    });
    const spec = pair.createSequence(256);
    const { tokens, counts } = await speculativeGenerate(
      pair,
      spec,
      draftSource('eagle', undefined, { model: pair, sequence: spec }),
      golden.prompt,
      {
        maxTokens: 40,
        sampling: GREEDY,
        draftLength: 4,
        fallback: false,
      },
    );
    expect(tokens).toEqual(expected);
    expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.5);
    q4.tokenizer.dispose();
  });
});

describe('speculative sampling with a head keeps the target distribution', () => {
  it.each([
    ['a chain', 0, 1],
    ["a tree (SpecInfer's rule over a chain token and a leaf)", 2, 1],
    ['a wider tree (a chain token and two leaves at each of two depths: every draft id)', 2, 2],
  ])(
    '%s: tokens 3 and 4 (from a speculative step) match the exact marginals, drafts mapped through d2t',
    async (_, tree, treeWidth) => {
      // A tiny target whose distributions can be enumerated, and a random head over every other id.
      const { config, weights } = randomModel(TINY_SHAPE, 1);
      const embedding = weights.get('model.embed_tokens.weight');
      if (!embedding) throw new Error('no embedding');
      const files = randomEagleHeadFiles(config, { layerIds: [0, 0, 0], stride: 2, seed: 3 });
      const tiny = await loadEagleHead(memorySource('tiny head', files), { config, embedding });
      expect(Array.from(tiny.draftToTarget)).toEqual([0, 2, 4]);
      const pair = referenceEagle({ config, weights }, tiny);
      const target = pair.target as ReferenceModel;
      let leavesTaken = 0;
      let secondRank = 0; // leaves of the second rank: moved k + depths = 5 slots back
      const moveSlot = pair.moveSlot.bind(pair);
      pair.moveSlot = (sequence, from, to) => {
        leavesTaken++;
        if (from - to > 3) secondRank++;
        moveSlot(sequence, from, to);
      };
      const prompt = [0, 3];
      const sampling: SamplingParams = { temperature: 1, topK: 0, topP: 1 };
      const { counts, acceptance } = await countSampledTokens(3000, 6, (seed) => {
        const sequence = pair.createSequence(16);
        const source = draftSource('eagle', undefined, { model: pair, sequence });
        const options = { maxTokens: 5, sampling, seed, draftLength: 3, fallback: false, tree, treeWidth };
        return speculativeGenerate(pair, sequence, source, prompt, options);
      });
      // Both rejections and acceptances happened, so both branches of the rule were exercised.
      expect(acceptance).toBeGreaterThan(0.1);
      expect(acceptance).toBeLessThan(0.9);
      // 5 degrees of freedom: P(chi2 > 20.5) = 0.001. The seeds are fixed, so this is deterministic.
      expect(chiSquare(counts[0], exactMarginal(target, prompt, sampling, 2))).toBeLessThan(20.5);
      expect(chiSquare(counts[1], exactMarginal(target, prompt, sampling, 3))).toBeLessThan(20.5);
      if (tree > 0) expect(leavesTaken).toBeGreaterThan(100); // the leaves' branch of the rule was exercised
      if (treeWidth > 1) expect(secondRank).toBeGreaterThan(50); // and the third candidate's turn
    },
  );
});
