/**
 * EAGLE-3 heads on the GPU: the target's exported features and the head against the reference
 * model, the head batch-invariant (a catch-up in one pass or pair by pair gives the same bits),
 * and greedy speculative decoding with the head equal to plain GPU greedy token for token.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../gpu/device';
import { CPU_PROFILE, kernelProfile } from '../kernels/profile';
import { type EagleHead, loadEagleHead } from '../loader/eagle';
import type { ModelFolder } from '../loader/model-folder';
import { directorySource } from '../loader/node-source';
import { memorySource } from '../loader/source';
import { EagleTarget, referenceEagle } from '../model/eagle';
import { generate } from '../model/generate';
import { GpuModel } from '../model/gpu-model';
import type { GpuSequence } from '../model/gpu-sequence';
import { stepBuffers } from '../model/gpu-step-buffers';
import { destroyPair, loadPair } from '../model/pair';
import { randomEagleHeadFiles, randomModel } from '../model/random-weights';
import { ReferenceModel, type ReferenceSequence } from '../ref/model';
import { GREEDY, type SamplingParams } from '../sampling/sampling';
import { expectBitwiseEqual } from '../testing/compare';
import {
  EAGLE_FIXTURE,
  EAGLE_Q4_FIXTURE,
  FIXTURES,
  fixturePath,
  loadEagleFixture,
  loadEagleGolden,
  loadFixture,
} from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { LEAN_GPU_PROFILE } from '../testing/profiles';
import { chiSquare, countingLeaves, countSampledTokens, exactMarginal, TINY_SHAPE } from '../testing/spec';
import { AUTO_DRAFT_COST, type DraftLength } from './draft-length';
import { draftSource } from './draft-source';
import { EagleDraftSource } from './eagle-draft';
import { speculativeGenerate } from './speculative';
import { speculativeStats } from './stats';
import { acceptTree, treeTokens } from './tree';

let gpu: Gpu;
let folder: ModelFolder;
let head: EagleHead;
let model: EagleTarget<GpuSequence, GpuSequence>;
let reference: EagleTarget<ReferenceSequence, ReferenceSequence>;
beforeAll(async () => {
  gpu = await testGpu();
  const pair = await loadPair(
    gpu,
    { target: directorySource(fixturePath(FIXTURES.target)), draft: directorySource(fixturePath(EAGLE_FIXTURE)) },
    { maxContext: 256 },
  );
  if (!pair.eagle) throw new Error('the pair has no EAGLE head');
  model = pair.eagle.model;
  folder = await loadFixture(FIXTURES.target);
  head = await loadEagleFixture(folder);
  reference = referenceEagle(folder, head);
  return () => destroyPair(pair);
});

const GREEDY_DRAFT = { minConfidence: 0, sampling: GREEDY, rng: null as never };

describe('an EAGLE head on the GPU', () => {
  it('gives the reference logits at every pair, from the features the target exported', async () => {
    const { prompt } = loadEagleGolden();
    const gpuSequence = model.createSequence(256);
    const refSequence = reference.createSequence(256);
    await model.greedy(gpuSequence, prompt, 'last');
    await reference.greedy(refSequence, prompt, 'last');
    let worst = 0;
    let scale = 0;
    for (let t = 0; t < prompt.length - 1; t++) {
      const token = [prompt[t + 1]];
      const row = await model.head.forwardHidden(gpuSequence.head, token, { of: gpuSequence.target, from: t });
      const expected = await reference.head.forwardHidden(refSequence.head, token, { of: refSequence.target, from: t });
      for (let i = 0; i < row.length; i++) {
        worst = Math.max(worst, Math.abs(row[i] - expected[i]));
        scale = Math.max(scale, Math.abs(expected[i]));
      }
    }
    // f32 throughout; the GPU sums in another order than the reference's float64.
    expect(worst).toBeLessThan(1e-3 * Math.max(1, scale));
    gpuSequence.release();
  });

  it('drafts as the reference drafts, and a catch-up in one pass equals one pair at a time, bit for bit', async () => {
    for (const { context, k, ids } of loadEagleGolden().drafts) {
      const whole = model.createSequence(256);
      await model.greedy(whole, context.slice(0, -1), 'last');
      const draft = await new EagleDraftSource(model, whole).propose(context, { k, ...GREEDY_DRAFT });
      expect(draft.tokens).toEqual(ids);

      // The same head state reached pair by pair: the last row's logits are the same bits.
      const a = model.createSequence(256);
      const b = model.createSequence(256);
      await model.greedy(a, context.slice(0, -1), 'last');
      await model.greedy(b, context.slice(0, -1), 'last');
      const n = context.length - 1;
      const once = await model.head.forwardHidden(a.head, context.slice(1), { of: a.target, from: 0 });
      let stepped: Float32Array = new Float32Array(0);
      for (let t = 0; t < n; t++) {
        stepped = await model.head.forwardHidden(b.head, [context[t + 1]], { of: b.target, from: t });
      }
      expect(Array.from(stepped)).toEqual(Array.from(once));
      for (const s of [whole, a, b]) s.release();
    }
  });

  it.each<DraftLength>([1, 3, 5, 'auto'])('greedy with the head, k = %s, equals plain greedy', async (k) => {
    const chat = (user: string) =>
      folder.tokenizer.encodeChat([
        { role: 'system', content: 'You tell short, happy stories for children.' },
        { role: 'user', content: user },
      ]);
    for (const prompt of [loadEagleGolden().prompt, chat('Can you tell me a story about Zoe the turtle?')]) {
      const plain = model.target.createSequence(256);
      const expected = await generate(model.target, plain, prompt, { maxTokens: 48, sampling: GREEDY });
      const sequence = model.createSequence(256);
      const { tokens, counts } = await speculativeGenerate(
        model,
        sequence,
        draftSource('eagle', undefined, { model, sequence }),
        prompt,
        {
          maxTokens: 48,
          sampling: GREEDY,
          draftLength: k,
          fallback: false,
        },
      );
      expect(tokens).toEqual(expected);
      expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
      plain.release();
      sequence.release();
    }
  });

  it.each([
    ['the profile of the adapter', {}],
    ['lean GPU, attention in segments of 64', { ...LEAN_GPU_PROFILE, attentionSplit: 64 }],
  ])(
    'records each step while the GPU runs the one before (%s): the drafts of steps recorded when they run, bit for bit',
    async (_, change) => {
      // The same pair with steps recorded ahead and without: the head reads its features on the
      // GPU at its own start and catches up on k + 1 pairs, so its drafts, and what the target
      // accepts of them, must be the same step for step; and greedy equals plain. Trees too:
      // their leaves' kernels copy their uniforms at each pass's start, and an accepted leaf
      // moves to its position before the next step, recorded ahead, reads its features.
      const load = async (recordAhead: boolean) => {
        const profile = { ...kernelProfile(gpu.info), ...change, recordAhead };
        const sources = {
          target: directorySource(fixturePath(FIXTURES.target)),
          draft: directorySource(fixturePath(EAGLE_FIXTURE)),
        };
        return loadPair(gpu, sources, { maxContext: 256, profile });
      };
      const pairs = [await load(true), await load(false)];
      const prompt = loadEagleGolden().prompt;
      // A sampled chain too: its seeds are uniforms written when a step is submitted. 'auto'
      // changes its length on the way (priced by the model, not by timings, so that both runs
      // draft the same lengths): a step recorded ahead then catches up on the pairs of a verify
      // pass of another length than its own.
      const sampled = { temperature: 0.7, topK: 0, topP: 0.95 };
      let leavesTaken = 0;
      for (const [k, sampling, tree, treeWidth] of [
        [3, GREEDY, 0, 1],
        [5, GREEDY, 0, 1],
        [4, sampled, 0, 1],
        ['auto', sampled, 0, 1],
        [5, GREEDY, 3, 1],
        [4, GREEDY, 2, 2],
        [4, sampled, 2, 2],
        ['auto', GREEDY, 2, 1],
      ] as const) {
        const runs = [];
        const options = { maxTokens: 64, sampling, seed: 9, draftCost: AUTO_DRAFT_COST, tree, treeWidth };
        for (const pair of pairs) {
          const eagle = pair.eagle as NonNullable<typeof pair.eagle>;
          const buffers = stepBuffers(eagle.model.target as GpuModel, eagle.head);
          const before = buffers.stepsAhead;
          const { model: counting, taken } = countingLeaves(eagle.model);
          const sequence = counting.createSequence(256);
          const source = draftSource('eagle', undefined, { model: counting, sequence });
          const speculating = { ...options, draftLength: k, fallback: false };
          const { tokens, counts } = await speculativeGenerate(counting, sequence, source, prompt, speculating);
          runs.push({ tokens, counts, ahead: buffers.stepsAhead - before, leaves: taken() });
          sequence.release();
        }
        const [ahead, now] = runs;
        const plain = pairs[1].target.model;
        if (sampling === GREEDY) {
          expect(ahead.tokens).toEqual(await generate(plain, plain.createSequence(256), prompt, options));
        }
        expect(ahead.tokens).toEqual(now.tokens);
        expect(ahead.counts).toEqual(now.counts);
        expect(ahead.leaves).toBe(now.leaves);
        leavesTaken += ahead.leaves;
        // All but the first step, and the last (its drafts cut to the tokens left).
        expect(ahead.ahead).toBeGreaterThanOrEqual(ahead.counts.steps - 2);
        expect(now.ahead).toBe(0);
        console.info(
          `k = ${k}, tree ${tree}x${treeWidth}: ${ahead.ahead} of ${ahead.counts.steps} steps recorded ahead, ` +
            `drafts by position ${ahead.counts.drafted}, leaves taken ${ahead.leaves}`,
        );
      }
      expect(leavesTaken).toBeGreaterThan(0); // leaves taken, and the steps after them recorded ahead
      for (const pair of pairs) destroyPair(pair);
    },
  );

  it('records ahead a tree whose leaves the batch caps, with the leaves its step will take', async () => {
    // A batch of 12: a step of 5 drafts has room for 6 more tokens, two depths of 3 leaves, not
    // the four asked for. The next step, recorded ahead, must have the leaves it will take.
    const sources = {
      target: directorySource(fixturePath(FIXTURES.target)),
      draft: directorySource(fixturePath(EAGLE_FIXTURE)),
    };
    const pair = await loadPair(gpu, sources, { maxContext: 256, maxBatch: 12 });
    const eagle = pair.eagle as NonNullable<typeof pair.eagle>;
    const buffers = stepBuffers(eagle.model.target as GpuModel, eagle.head);
    const prompt = loadEagleGolden().prompt;
    const options = { maxTokens: 64, sampling: GREEDY, draftLength: 5, fallback: false, tree: 4, treeWidth: 3 };
    const sequence = eagle.model.createSequence(256);
    const source = draftSource('eagle', undefined, { model: eagle.model, sequence });
    const before = buffers.stepsAhead;
    const { tokens, counts } = await speculativeGenerate(eagle.model, sequence, source, prompt, options);
    const plain = pair.target.model;
    expect(tokens).toEqual(await generate(plain, plain.createSequence(256), prompt, options));
    // All but the first two: the prompt's 32 pairs are more than a batch for the head's catch-up,
    // so the first step is taken on the CPU, and the second recorded as it runs.
    expect(buffers.stepsAhead - before).toBeGreaterThanOrEqual(counts.steps - 2);
    sequence.release();
    destroyPair(pair);
  });

  it.each([
    [3, 2, 1],
    [5, 3, 1],
    [5, 4, 3], // three ranks of leaves: the head's top four at each of the first four depths
  ])(
    'greedy with the head and a tree, k = %i, leaves at %i depths, %i at each, equals plain greedy',
    async (k, tree, treeWidth) => {
      const { model: counting, taken: leavesTaken, takenPast } = countingLeaves(model);
      for (const prompt of [loadEagleGolden().prompt, ...loadEagleGolden().drafts.map((d) => d.context)]) {
        const plain = model.target.createSequence(256);
        const expected = await generate(model.target, plain, prompt, { maxTokens: 48, sampling: GREEDY });
        const sequence = counting.createSequence(256);
        const source = draftSource('eagle', undefined, { model: counting, sequence });
        const { tokens } = await speculativeGenerate(counting, sequence, source, prompt, {
          maxTokens: 48,
          sampling: GREEDY,
          draftLength: k,
          fallback: false,
          tree,
          treeWidth,
        });
        expect(tokens).toEqual(expected);
        plain.release();
        sequence.release();
      }
      expect(leavesTaken()).toBeGreaterThan(0);
      if (treeWidth > 1) expect(takenPast(k)).toBeGreaterThan(0); // leaves past the first rank were taken
    },
  );

  it('greedy with the head, a tree and logit rules equals plain greedy under the same rules', async () => {
    // Each row counts the tokens of its own path: a leaf its chain up to its parent and itself.
    const rules = { repetitionPenalty: 1.5, frequencyPenalty: 0.5, presencePenalty: 1, logitBias: new Map([[9, 1.5]]) };
    const { model: counting, taken: leavesTaken } = countingLeaves(model);
    for (const prompt of [loadEagleGolden().prompt, ...loadEagleGolden().drafts.map((d) => d.context)]) {
      const plainRun = async (withRules: boolean) => {
        const plain = model.target.createSequence(256);
        if (withRules) plain.setLogitRules(rules, prompt.length);
        const tokens = await generate(model.target, plain, prompt, { maxTokens: 48, sampling: GREEDY });
        plain.release();
        return tokens;
      };
      const expected = await plainRun(true);
      expect(expected).not.toEqual(await plainRun(false)); // the rules change the reply
      for (const [k, tree, treeWidth] of [
        [3, 2, 1],
        [5, 3, 1],
        [5, 4, 3],
      ]) {
        const sequence = counting.createSequence(256);
        sequence.setLogitRules(rules, prompt.length);
        const source = draftSource('eagle', undefined, { model: counting, sequence });
        const options = { maxTokens: 48, sampling: GREEDY, draftLength: k, fallback: false, tree, treeWidth };
        expect((await speculativeGenerate(counting, sequence, source, prompt, options)).tokens).toEqual(expected);
        sequence.release();
      }
    }
    expect(leavesTaken()).toBeGreaterThan(0);
  });

  it.each([
    ['CPU', CPU_PROFILE],
    // The GPU kernels, with the leaf's position past the first segment of split attention.
    ['lean GPU, split attention', { ...LEAN_GPU_PROFILE, attentionSplit: 64 }],
  ])(
    "%s profile: a tree pass's accepted leaf, of the first rank or the second, leaves the cache bit for bit as plain decoding would",
    async (_, profile) => {
      const target = await GpuModel.create(gpu, folder.config, folder.weights, {
        maxContext: 256,
        profile,
        compile: 'on-first-use',
      });
      const golden = loadEagleGolden().prompt;
      const prompt = [...golden, ...golden, ...golden].slice(0, 66);
      const plain = target.createSequence(256);
      const [g1, g2, g3] = await generate(target, plain, prompt, { maxTokens: 3, sampling: GREEDY });
      const wrong = (token: number) => (token + 1) % 763; // another real token
      // The chain goes wrong at depth 2, where a leaf is the target's choice; depth 1's leaves are wrong.
      // One rank, then two: the leaf taken is the second rank's, after the first rank's wrong one.
      const trees = [
        { chain: [g1, wrong(g2), wrong(wrong(g2))], leaves: [[wrong(g1), g2]] },
        {
          chain: [g1, wrong(g2), wrong(wrong(g2))],
          leaves: [
            [wrong(g1), wrong(wrong(wrong(g2)))],
            [wrong(wrong(g1)), g2],
          ],
        },
      ];
      const fresh = target.createSequence(256);
      const all = await target.forward(fresh, [...prompt, g1, g2, g3]);
      for (const [rank, tree] of trees.entries()) {
        const sequence = target.createSequence(256);
        await target.greedy(sequence, prompt.slice(0, -1), 'last');
        const base = sequence.length;
        const choices = await target.greedyTree(sequence, treeTokens(prompt.at(-1) as number, tree), 4, 2);
        const verdict = acceptTree(tree, choices);
        const leaf = rank * 2 + 1;
        expect(verdict).toEqual({ accepted: [g1, g2], leaf, next: g3 });
        target.moveSlot(sequence, base + 1 + 3 + leaf, base + 2);
        sequence.truncate(base + 3);
        const cached = await target.forward(sequence, [g3]);
        expectBitwiseEqual(
          cached,
          all.subarray(-target.config.vocabSize),
          `logits after the moved leaf (rank ${rank})`,
        );
        sequence.release();
      }
      for (const s of [plain, fresh]) s.release();
      target.destroy();
    },
  );

  it.each([
    ['a chain', 0, 1],
    ['a tree of 3 leaves', 3, 1],
    ['a tree of 2 ranks at 3 depths', 3, 2],
  ])(
    'a greedy step whole on the GPU reads back once, and gives what the step through the CPU gives: %s',
    async (_, tree, treeWidth) => {
      const target = model.target as GpuModel;
      const head = model.head as GpuModel;
      const generateWith = async (onDevice: boolean) => {
        const { model: counting, taken } = countingLeaves(model);
        const sequence = counting.createSequence(256);
        const source = draftSource('eagle', undefined, { model: counting, sequence });
        if (!onDevice) source.greedyStepOnDevice = undefined; // every draft read back on its own
        const before = target.readbacks + head.readbacks;
        const { tokens, counts } = await speculativeGenerate(counting, sequence, source, loadEagleGolden().prompt, {
          maxTokens: 48,
          sampling: GREEDY,
          draftLength: 4,
          fallback: false,
          tree,
          treeWidth,
        });
        sequence.release();
        return { tokens, counts, leaves: taken(), readbacks: target.readbacks + head.readbacks - before };
      };
      const device = await generateWith(true);
      const cpu = await generateWith(false);
      expect(device.tokens).toEqual(cpu.tokens);
      // The same drafts, leaves and verdicts, step by step.
      expect(device.counts.accepted).toEqual(cpu.counts.accepted);
      expect(device.leaves).toBe(cpu.leaves);
      if (tree > 0) expect(device.leaves).toBeGreaterThan(0);
      // The prompt's token and one plain step, then one readback a speculative step.
      expect(device.readbacks).toBe(2 + device.counts.steps);
      expect(cpu.readbacks).toBeGreaterThan(2 + 4 * cpu.counts.steps);
    },
  );

  it('a sampled step whole on the GPU reads back once, reproducibly for a seed', async () => {
    const target = model.target as GpuModel;
    const head = model.head as GpuModel;
    const run = async () => {
      const sequence = model.createSequence(256);
      const source = draftSource('eagle', undefined, { model, sequence });
      const before = target.readbacks + head.readbacks;
      const { tokens, counts } = await speculativeGenerate(model, sequence, source, loadEagleGolden().prompt, {
        maxTokens: 48,
        sampling: { temperature: 0.7, topK: 0, topP: 0.95 },
        seed: 9,
        draftLength: 4,
        fallback: false,
      });
      sequence.release();
      return { tokens, counts, readbacks: target.readbacks + head.readbacks - before };
    };
    const first = await run();
    expect(first.tokens).toHaveLength(48);
    expect(first.readbacks).toBe(2 + first.counts.steps);
    expect(speculativeStats(first.counts).acceptance_rate).toBeGreaterThan(0.5);
    expect((await run()).tokens).toEqual(first.tokens);
  });

  it.each([1, 2])(
    'sampling with a tree (%i a depth) is reproducible for a seed, takes leaves, and reads back once a step',
    async (treeWidth) => {
      const { model: counting, taken: leavesTaken } = countingLeaves(model);
      const target = model.target as GpuModel;
      const head = model.head as GpuModel;
      const run = async () => {
        const sequence = counting.createSequence(256);
        const source = draftSource('eagle', undefined, { model: counting, sequence });
        const before = target.readbacks + head.readbacks;
        const { tokens, counts } = await speculativeGenerate(counting, sequence, source, loadEagleGolden().prompt, {
          maxTokens: 96,
          // Top-k keeps the head's alternatives plausible: with its long tail, a second draw
          // without the first is seldom a token the target takes.
          sampling: { temperature: 1.5, topK: 8, topP: 1 },
          seed: 5,
          draftLength: 4,
          fallback: false,
          tree: 3,
          treeWidth,
        });
        sequence.release();
        return { tokens, readbacks: target.readbacks + head.readbacks - before, passes: counts.targetForwards };
      };
      const first = await run();
      expect(first.tokens).toHaveLength(96);
      expect(first.readbacks).toBe(first.passes); // one a target pass: the steps' drafts took none
      expect((await run()).tokens).toEqual(first.tokens);
      expect(leavesTaken()).toBeGreaterThan(0);
    },
  );

  it('the q4 target (an MLC folder) with its own head: greedy equals plain greedy, on the device step', async () => {
    const q4 = await loadPair(
      gpu,
      {
        target: directorySource(fixturePath(FIXTURES.targetQ4)),
        draft: directorySource(fixturePath(EAGLE_Q4_FIXTURE)),
      },
      { maxContext: 256 },
    );
    if (!q4.eagle) throw new Error('the pair has no EAGLE head');
    const pair = q4.eagle.model;
    const { prompt } = loadEagleGolden(EAGLE_Q4_FIXTURE);
    const plain = pair.target.createSequence(256);
    const expected = await generate(pair.target, plain, prompt, { maxTokens: 48, sampling: GREEDY });
    const sequence = pair.createSequence(256);
    const source = draftSource('eagle', undefined, { model: pair, sequence });
    const { tokens, counts } = await speculativeGenerate(pair, sequence, source, prompt, {
      maxTokens: 48,
      sampling: GREEDY,
      draftLength: 4,
      fallback: false,
    });
    expect(tokens).toEqual(expected);
    expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.5);
    for (const s of [plain, sequence]) s.release();
    destroyPair(q4);
  });

  it('a prefix read back and written again drafts the same tokens (features travel with the KV rows)', async () => {
    const { context, k, ids } = loadEagleGolden().drafts[1];
    const first = model.createSequence(256);
    const prefix = context.slice(0, -1);
    await model.greedy(first, prefix, 'last');
    const rows = await model.readPrefix(first, prefix.length);
    const restored = model.createSequence(256);
    await model.writePrefix(restored, prefix, rows);
    const draft = await new EagleDraftSource(model, restored).propose(context, { k, ...GREEDY_DRAFT });
    expect(draft.tokens).toEqual(ids);
    for (const s of [first, restored]) s.release();
  });
});

describe('speculative sampling with a head on the GPU keeps the target distribution', () => {
  it.each([
    ['a chain', 'on the device', 0, true],
    ['a chain', 'on the CPU', 0, false],
    ["a tree (SpecInfer's rule over a chain token and a leaf)", 'on the device', 2, true],
    ["a tree (SpecInfer's rule over a chain token and a leaf)", 'on the CPU', 2, false],
    ['a wider tree (a chain token and two leaves at each depth: every draft id)', 'on the device', 2, true, 2],
  ] as [string, string, number, boolean, number?][])(
    '%s: tokens 3 and 4 (from a step on the device) match the exact marginals, drafts mapped through d2t, the rule %s',
    async (_, __, tree, deviceAcceptance, treeWidth = 1) => {
      // A tiny target whose distributions the reference enumerates, and a random head over every other id.
      const { config, weights } = randomModel(TINY_SHAPE, 1);
      const embedding = weights.get('model.embed_tokens.weight');
      if (!embedding) throw new Error('no embedding');
      const files = randomEagleHeadFiles(config, { layerIds: [0, 0, 0], stride: 2, seed: 3 });
      const tiny = await loadEagleHead(memorySource('tiny head', files), { config, embedding });
      const fc = tiny.weights.get('fc.weight');
      if (!fc) throw new Error('no fc');
      const options = { maxContext: 16, maxBatch: 8, profile: { ...kernelProfile(gpu.info), deviceAcceptance } };
      const target = await GpuModel.create(gpu, config, weights, {
        ...options,
        features: { layers: tiny.layerIds, fc },
      });
      const head = await GpuModel.create(gpu, tiny.config, tiny.weights, {
        ...options,
        sharedEmbed: target.weights.embed,
      });
      const {
        model: pair,
        taken: leavesTaken,
        takenPast,
      } = countingLeaves(new EagleTarget(target, head, tiny.draftToTarget));
      const readbacks = head.readbacks;
      const prompt = [0, 3];
      const sampling: SamplingParams = { temperature: 1, topK: 0, topP: 1 };
      const { counts, acceptance } = await countSampledTokens(3000, 6, async (seed) => {
        const sequence = pair.createSequence(16);
        const source = draftSource('eagle', undefined, { model: pair, sequence });
        try {
          return await speculativeGenerate(pair, sequence, source, prompt, {
            maxTokens: 5,
            sampling,
            seed,
            draftLength: 3,
            fallback: false,
            tree,
            treeWidth,
          });
        } finally {
          sequence.release();
        }
      });
      expect(head.readbacks).toBe(readbacks); // every draft was drawn on the device
      expect(acceptance).toBeGreaterThan(0.1);
      expect(acceptance).toBeLessThan(0.9);
      // 5 degrees of freedom: P(chi2 > 20.5) = 0.001. The seeds are fixed, so this is deterministic.
      const reference = new ReferenceModel(config, weights);
      expect(chiSquare(counts[0], exactMarginal(reference, prompt, sampling, 2))).toBeLessThan(20.5);
      expect(chiSquare(counts[1], exactMarginal(reference, prompt, sampling, 3))).toBeLessThan(20.5);
      if (tree > 0) expect(leavesTaken()).toBeGreaterThan(100); // the leaves' turn of the rule was exercised
      if (treeWidth > 1) expect(takenPast(3)).toBeGreaterThan(50); // and the second rank's
      head.destroy();
      target.destroy();
    },
    600_000,
  );
});
