/** Speculative decoding on the GPU models: greedy output equal to plain GPU greedy, exact caches. */

import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../gpu/device';
import { kernelProfile } from '../kernels/profile';
import { directorySource } from '../loader/node-source';
import { generate } from '../model/generate';
import { GpuModel } from '../model/gpu-model';
import { stepBuffers } from '../model/gpu-step-buffers';
import { destroyPair, loadPair, type ModelPair } from '../model/pair';
import { randomModel } from '../model/random-weights';
import { ReferenceModel } from '../ref/model';
import { type TokenLogprob, tokenLogprob } from '../sampling/logprobs';
import { GREEDY, type SamplingParams } from '../sampling/sampling';
import { FIXTURES, fixturePath, loadGolden, loadGpuPair } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { chiSquare, countSampledTokens, exactMarginal, expectCachesFresh, TINY_SHAPE } from '../testing/spec';
import { AUTO_DRAFT_COST, type DraftLength } from './draft-length';
import { type Draft, type DraftSource, draftSource } from './draft-source';
import { ModelDraftSource } from './model-draft';
import { PromptLookupSource } from './prompt-lookup';
import { speculativeGenerate } from './speculative';
import { speculativeStats } from './stats';

let gpu: Gpu;
let target: GpuModel;
let draft: GpuModel;
beforeAll(async () => {
  gpu = await testGpu();
  ({ target, draft } = await loadGpuPair(gpu));
});

const TOKENS = 48;

describe('speculative decoding on the GPU', () => {
  const prompts = () => loadGolden(FIXTURES.targetF16).map((g) => g.ids);

  it.each([1, 3, 4, 5, 8, 'auto'] as DraftLength[])(
    'greedy with the draft model, k = %s, equals plain greedy',
    async (k) => {
      for (const prompt of prompts()) {
        const expected = await generate(target, target.createSequence(256), prompt, {
          maxTokens: TOKENS,
          sampling: GREEDY,
        });
        const source = new ModelDraftSource(draft, draft.createSequence(256));
        const sequence = target.createSequence(256);
        const { tokens, counts } = await speculativeGenerate(target, sequence, source, prompt, {
          maxTokens: TOKENS,
          sampling: GREEDY,
          draftLength: k,
          fallback: false,
        });
        expect(tokens).toEqual(expected);
        expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
        sequence.release();
      }
    },
  );

  it('greedy and sampled steps on the device grow both sequences inside the step, and greedy equals plain', async () => {
    const prompt = prompts()[0];
    const expected = await generate(target, target.createSequence(256), prompt, {
      maxTokens: TOKENS,
      sampling: GREEDY,
    });
    const run = async (start: number, sampling: SamplingParams) => {
      // Sequences that start with room for `start` positions: passes inside a step make more.
      const sequence = target.createSequence(256, start);
      const source = new ModelDraftSource(draft, draft.createSequence(256, start));
      const options = { maxTokens: TOKENS, sampling, seed: 4, draftLength: 4 as DraftLength, fallback: false };
      const { tokens } = await speculativeGenerate(target, sequence, source, prompt, options);
      expect(sequence.allocated).toBeGreaterThan(start); // it grew after the prompt's prefill
      sequence.release();
      return tokens;
    };
    expect(await run(prompt.length + 1, GREEDY)).toEqual(expected);
    const sampled = { temperature: 0.7, topK: 0, topP: 0.95 };
    expect(await run(prompt.length + 1, sampled)).toEqual(await run(prompt.length + 2, sampled));
  });

  it('greedy with logit bias and penalties equals plain greedy under the same rules', async () => {
    const rules = { repetitionPenalty: 2, frequencyPenalty: 3, presencePenalty: 1, logitBias: new Map([[7, 3]]) };
    for (const prompt of prompts()) {
      const ruled = <S extends { setLogitRules: (r: typeof rules, from: number) => void }>(sequence: S) => {
        sequence.setLogitRules(rules, prompt.length);
        return sequence;
      };
      const expected = await generate(target, ruled(target.createSequence(256)), prompt, {
        maxTokens: TOKENS,
        sampling: GREEDY,
      });
      for (const k of [3, 'auto'] as DraftLength[]) {
        const source = new ModelDraftSource(draft, ruled(draft.createSequence(256)));
        const { tokens } = await speculativeGenerate(target, ruled(target.createSequence(256)), source, prompt, {
          maxTokens: TOKENS,
          sampling: GREEDY,
          draftLength: k,
          fallback: false,
        });
        expect(tokens).toEqual(expected);
      }
    }
  });

  it('takes a greedy step with the draft model on the GPU with one readback: none for the drafts', async () => {
    for (const k of [1, 4, 8, 'auto'] as DraftLength[]) {
      const prompt = prompts()[1];
      const source = new ModelDraftSource(draft, draft.createSequence(256));
      const before = { target: target.readbacks, draft: draft.readbacks };
      const { tokens, counts } = await speculativeGenerate(target, target.createSequence(256), source, prompt, {
        maxTokens: TOKENS,
        sampling: GREEDY,
        draftLength: k,
        fallback: false,
      });
      expect(draft.readbacks - before.draft).toBe(0);
      // Every target pass, plain or verifying, read back once; the steps drafted k tokens each.
      expect(target.readbacks - before.target).toBe(counts.targetForwards);
      expect(counts.steps).toBeGreaterThan(3);
      expect(tokens).toEqual(
        await generate(target, target.createSequence(256), prompt, { maxTokens: TOKENS, sampling: GREEDY }),
      );
    }
  });

  it.each([
    ['the profile of the adapter', {}],
    // Attention split into segments of 64 positions, grids sized for the longest context a
    // step recorded ahead may meet: segments past a shorter one return at once.
    ['attention in segments of 64', { serialAttention: false, tiledAttention: false, attentionSplit: 64 }],
    // From 60 positions on, a KV head's query heads in one workgroup: the kernel changes mid-reply.
    [
      'heads grouped from 60 positions',
      { serialAttention: false, tiledAttention: false, attentionSplit: 64, attentionGroupedFrom: 60 },
    ],
  ])('records each greedy step while the GPU runs the one before (%s), and equals plain greedy', async (_, change) => {
    const profile = { ...kernelProfile(gpu.info), ...change };
    const { target: t, draft: d, tokenizer } = await loadGpuPair(gpu, 256, { ...profile, recordAhead: true });
    // The same pair recording each step when it runs: the draft's first pass over two tokens
    // (one of them again after a rejection) must draft bit for bit what one over the new token does.
    const still = await loadGpuPair(gpu, 256, { ...profile, recordAhead: false });
    for (const k of [1, 3, 5, 'auto'] as DraftLength[]) {
      const prompt = prompts()[0];
      const expected = await generate(t, t.createSequence(256), prompt, { maxTokens: 64, sampling: GREEDY });
      const sequences = { target: t.createSequence(256), draft: d.createSequence(256) };
      const before = { taken: stepBuffers(t, d).stepsAhead, recorded: stepBuffers(t, d).recordedAhead };
      // 'auto' prices its lengths by the model rather than by timing the steps, so that both
      // runs draft the same lengths.
      const options = { maxTokens: 64, sampling: GREEDY, draftLength: k, fallback: false, draftCost: AUTO_DRAFT_COST };
      const source = new ModelDraftSource(d, sequences.draft);
      const { tokens, counts } = await speculativeGenerate(t, sequences.target, source, prompt, options);
      expect(tokens).toEqual(expected);
      const recordedWhenRun = new ModelDraftSource(still.draft, still.draft.createSequence(256));
      const now = await speculativeGenerate(
        still.target,
        still.target.createSequence(256),
        recordedWhenRun,
        prompt,
        options,
      );
      expect(counts).toEqual(now.counts);
      expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
      const taken = stepBuffers(t, d).stepsAhead - before.taken;
      const recorded = stepBuffers(t, d).recordedAhead - before.recorded;
      // Every step but the first submitted the passes recorded for it, and but the last, whose
      // drafts are cut to the tokens left to make (a step of fewer drafts has other passes):
      // 'auto' too, which fixes each length a step ahead, so that a change voids nothing.
      expect(taken).toBeGreaterThanOrEqual(counts.steps - 2);
      expect(recorded - taken).toBeLessThanOrEqual(2);
      console.info(`k = ${k}: ${taken} of ${counts.steps} steps recorded ahead, ${recorded - taken} in vain`);
      await expectCachesFresh(t, sequences.target, d, sequences.draft, [...prompt, ...tokens]);
    }
    for (const pair of [{ target: t, draft: d, tokenizer }, still]) {
      pair.target.destroy();
      pair.draft.destroy();
      pair.tokenizer.dispose();
    }
  });

  it.each([
    ['on the device', true],
    ['on the CPU', false],
  ])(
    'records each sampled step while the GPU runs the one before (the rule %s), and draws the same tokens',
    async (_, deviceAcceptance) => {
      const profile = { ...kernelProfile(gpu.info), deviceAcceptance };
      const ahead = await loadGpuPair(gpu, 256, { ...profile, recordAhead: true });
      const still = await loadGpuPair(gpu, 256, { ...profile, recordAhead: false });
      const prompt = prompts()[2];
      for (const k of [3, 'auto'] as DraftLength[]) {
        for (const logprobs of [undefined, 2]) {
          // The seeds are uniforms written when a step is submitted: the same draws either way.
          const run = async ({ target: t, draft: d }: typeof ahead) => {
            const buffers = stepBuffers(t, d);
            const before = buffers.stepsAhead;
            const entries: TokenLogprob[] = [];
            const { tokens, counts } = await speculativeGenerate(
              t,
              t.createSequence(256),
              new ModelDraftSource(d, d.createSequence(256)),
              prompt,
              {
                maxTokens: 64,
                sampling: { temperature: 0.7, topK: 0, topP: 0.95 },
                seed: 11,
                draftLength: k,
                draftCost: AUTO_DRAFT_COST,
                fallback: false,
                logprobs,
                onLogprob: (entry) => entries.push(entry),
              },
            );
            return { tokens, counts, entries, taken: buffers.stepsAhead - before };
          };
          const [recorded, now] = [await run(ahead), await run(still)];
          expect(recorded.tokens).toEqual(now.tokens);
          expect(recorded.counts).toEqual(now.counts);
          expect(recorded.entries).toEqual(now.entries);
          expect(now.taken).toBe(0);
          // Every step but the first, and the last (its drafts cut to the tokens left), 'auto's too.
          expect(recorded.taken).toBeGreaterThanOrEqual(recorded.counts.steps - 2);
          expect(recorded.counts.steps).toBeGreaterThan(3);
        }
      }
      for (const pair of [ahead, still]) {
        pair.target.destroy();
        pair.draft.destroy();
        pair.tokenizer.dispose();
      }
    },
  );

  it('submits a pass on an idle GPU in parts, a pass behind others (drafts, verify) whole, and a step recorded ahead at once', async () => {
    const profile = { ...kernelProfile(gpu.info), commandBuffers: 8 };
    const pair = await loadGpuPair(gpu, 256, profile);
    const [t, d] = [pair.target, pair.draft];
    const prompt = prompts()[1];
    // A plain step on an idle GPU: a submission for each group of layers (one layer each here).
    const plain = t.createSequence(256);
    await t.greedy(plain, prompt, 'last');
    const before = t.submissions;
    await t.greedy(plain, [prompt[0]], 'last');
    expect(t.submissions - before).toBe(Math.min(t.config.numLayers, 8));
    plain.release();

    const k = 3;
    const source = new ModelDraftSource(d, d.createSequence(256));
    const sequence = t.createSequence(256);
    await t.greedy(sequence, prompt.slice(0, -1), 'last');
    const submitted = () => t.submissions + d.submissions;
    const ahead = stepBuffers(t, d).stepsAhead;
    let start: number | undefined; // from the first token on: the prompt's prefill is no step
    const { counts } = await speculativeGenerate(t, sequence, source, prompt, {
      maxTokens: TOKENS,
      sampling: GREEDY,
      draftLength: k,
      fallback: false,
      onToken: () => {
        start ??= submitted();
      },
    });
    // A step recorded when it runs: the draft's first pass in parts (it has two layers),
    // possibly after a catch-up pass, then k - 1 drafts and the verify pass whole (every pass
    // split, it would take 2k + the target's layers); a step recorded ahead: one submission,
    // its k drafts and the verify pass together (a submission a pass would take k + 1); at
    // the end, a plain step in parts where too few tokens are left to draft.
    expect(counts.steps).toBeGreaterThan(3);
    const recordedAhead = stepBuffers(t, d).stepsAhead - ahead;
    expect(recordedAhead).toBeGreaterThanOrEqual(counts.steps - 2);
    const plainStep = Math.min(t.config.numLayers, 8);
    const bound = (counts.steps - recordedAhead) * (k + 3) + recordedAhead + plainStep;
    expect(submitted() - (start ?? 0)).toBeLessThanOrEqual(bound);
    expect(bound).toBeLessThan(counts.steps * (k + 1)); // the bound means something
    sequence.release();
    t.destroy();
    d.destroy();
  });

  it.each([
    ['on the device', true],
    ['on the CPU', false],
  ])(
    'takes a sampled step with the draft model on the GPU with one readback, the rule %s',
    async (_, deviceAcceptance) => {
      const vocab = target.config.vocabSize;
      const pair = await loadGpuPair(gpu, 256, { ...kernelProfile(gpu.info), deviceAcceptance });
      const [t, d] = [pair.target, pair.draft];
      for (const k of [1, 4, 'auto'] as DraftLength[]) {
        const run = async (logprobs?: number) => {
          const source = new ModelDraftSource(d, d.createSequence(256));
          const before = { target: t.readbacks, draft: d.readbacks, bytes: t.readbackBytes };
          const entries: TokenLogprob[] = [];
          const { tokens, counts } = await speculativeGenerate(t, t.createSequence(256), source, prompts()[1], {
            maxTokens: TOKENS,
            sampling: { temperature: 0.7, topK: 0, topP: 0.95 },
            seed: 3,
            draftLength: k,
            draftCost: AUTO_DRAFT_COST, // 'auto' by the verdicts alone: both runs draft the same lengths
            fallback: false,
            logprobs,
            onLogprob: (entry) => entries.push(entry),
          });
          expect(d.readbacks - before.draft).toBe(0);
          // One readback a pass; with log-probabilities the plain passes (the prompt's, the second
          // token's, and one at the end if no draft fits) read ids and logits apart.
          const plainPasses = counts.targetForwards - counts.steps;
          expect(t.readbacks - before.target).toBe(counts.targetForwards + (logprobs === undefined ? 0 : plainPasses));
          // With the rule on the device a step reads back its verdict and drafts, 72 bytes at most,
          // not the rows of logits (unless log-probabilities need the target's).
          if (deviceAcceptance && logprobs === undefined) {
            expect(t.readbackBytes - before.bytes).toBeLessThanOrEqual(72 * counts.targetForwards);
          }
          return { tokens, counts, entries };
        };
        const { tokens, counts } = await run();
        expect(counts.steps).toBeGreaterThan(3);
        expect(tokens.length).toBe(TOKENS);
        expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
        // Log-probabilities come from the rows the step read back: the same reply, and a fresh pass's values.
        const withLogprobs = await run(2);
        expect(withLogprobs.tokens).toEqual(tokens);
        const fresh = t.createSequence(256);
        const logits = await t.forward(fresh, [...prompts()[1], ...tokens]);
        fresh.release();
        const rows = tokens.map((token, i) => {
          const row = prompts()[1].length - 1 + i;
          return tokenLogprob(logits.subarray(row * vocab, (row + 1) * vocab), token, 2);
        });
        expect(withLogprobs.entries).toEqual(rows);
      }
      t.destroy();
      d.destroy();
    },
  );

  it('greedy with prompt lookup equals plain greedy', async () => {
    for (const prompt of prompts()) {
      const expected = await generate(target, target.createSequence(256), prompt, {
        maxTokens: TOKENS,
        sampling: GREEDY,
      });
      const { tokens } = await speculativeGenerate(
        target,
        target.createSequence(256),
        new PromptLookupSource(),
        prompt,
        {
          maxTokens: TOKENS,
          sampling: GREEDY,
          draftLength: 'auto',
        },
      );
      expect(tokens).toEqual(expected);
    }
  });

  it('leaves both caches exactly as a fresh computation would, after rejections', async () => {
    const prompt = prompts()[2];
    const source = new ModelDraftSource(draft, draft.createSequence(256));
    const sequence = target.createSequence(256);
    const { tokens, counts } = await speculativeGenerate(target, sequence, source, prompt, {
      maxTokens: TOKENS,
      sampling: GREEDY,
      draftLength: 6,
      fallback: false,
    });
    const stats = speculativeStats(counts);
    expect(stats.accepted).toBeLessThan(stats.drafted);
    await expectCachesFresh(target, sequence, draft, source.sequence, [...prompt, ...tokens]);
  });

  describe('the measured fallback to plain decoding', () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    /** A source that proposes `answer`'s next tokens (what the target will choose), sleeping `pause(step)` ms first. */
    const knowing = (prompt: number[], answer: number[], pause: (step: number) => number): DraftSource => {
      let step = 0;
      return {
        kind: 'model',
        forwards: 0,
        async propose(context, { k }): Promise<Draft> {
          await sleep(pause(step++));
          const at = context.length - prompt.length;
          return { tokens: answer.slice(at, at + k) };
        },
        rollback() {},
      };
    };

    it('switches a speculation clearly slower than plain decoding off, after two windows of steps', async () => {
      const prompt = prompts()[0];
      const expected = await generate(target, target.createSequence(256), prompt, { maxTokens: 64, sampling: GREEDY });
      const padding = target.config.vocabSize - 1; // never chosen: every draft rejected
      const slow: DraftSource = {
        kind: 'model',
        forwards: 0,
        async propose(_context, { k }): Promise<Draft> {
          await sleep(60); // many times a plain step
          return { tokens: new Array(k).fill(padding) };
        },
        rollback() {},
      };
      const sequence = target.createSequence(256);
      const { tokens, counts } = await speculativeGenerate(target, sequence, slow, prompt, {
        maxTokens: 64,
        sampling: GREEDY,
        draftLength: 1,
      });
      expect(tokens).toEqual(expected);
      expect(counts.fallback).toMatch(/2 windows of 8 steps in a row/);
      expect(counts.steps).toBe(16);
    });

    it('keeps a speculation that pays through a hiccup of the host in every window', async () => {
      const prompt = prompts()[1];
      const expected = await generate(target, target.createSequence(256), prompt, { maxTokens: 96, sampling: GREEDY });
      // Steps 3, 11, 19, ... wait a second, a hundred plain steps: the mean step of each window
      // would be slower than plain decoding, its median is not.
      const source = knowing(prompt, expected, (step) => (step % 8 === 3 ? 1000 : 0));
      const { tokens, counts } = await speculativeGenerate(target, target.createSequence(256), source, prompt, {
        maxTokens: 96,
        sampling: GREEDY,
        draftLength: 4,
      });
      expect(tokens).toEqual(expected);
      expect(counts.fallback).toBeUndefined();
      expect(counts.steps).toBeGreaterThanOrEqual(16);
    });
  });

  it('samples reproducibly from a seed at temperature 0.7', async () => {
    const run = () =>
      speculativeGenerate(
        target,
        target.createSequence(256),
        new ModelDraftSource(draft, draft.createSequence(256)),
        prompts()[1],
        {
          maxTokens: 32,
          sampling: { temperature: 0.7, topK: 0, topP: 0.95 },
          seed: 42,
          draftLength: 4,
          fallback: false,
        },
      );
    const a = await run();
    const b = await run();
    expect(a.tokens).toEqual(b.tokens);
    expect(speculativeStats(a.counts).acceptance_rate).toBeGreaterThan(0.3);
  });

  it.each([
    ['greedy', GREEDY],
    ['sampled at temperature 0.7', { temperature: 0.7, topK: 0, topP: 0.95 }],
  ] as [string, SamplingParams][])(
    '%s: log-probabilities are those of a fresh pass, bit for bit, speculative or not',
    async (_, sampling) => {
      const rules = {
        repetitionPenalty: 1.3,
        frequencyPenalty: 0.5,
        presencePenalty: 0.5,
        logitBias: new Map([[7, 2]]),
      };
      const prompt = prompts()[1];
      const vocab = target.config.vocabSize;
      const run = async (kind: 'model' | 'none') => {
        const sequence = target.createSequence(256);
        const draftSequence = draft.createSequence(256);
        sequence.setLogitRules(rules, prompt.length);
        draftSequence.setLogitRules(rules, prompt.length);
        const logprobs: TokenLogprob[] = [];
        const source = draftSource(kind, { model: draft, sequence: draftSequence });
        const { tokens } = await speculativeGenerate(target, sequence, source, prompt, {
          maxTokens: TOKENS,
          sampling,
          seed: 5,
          draftLength: 4,
          fallback: false,
          logprobs: 2,
          onLogprob: (entry) => logprobs.push(entry),
        });
        sequence.release();
        draftSequence.release();
        return { tokens, logprobs };
      };
      const spec = await run('model');
      const plainRun = await run('none');
      if (sampling.temperature === 0) expect(spec).toEqual(plainRun);
      for (const { tokens, logprobs } of [spec, plainRun]) {
        // One pass over the prompt and the reply: its rows are the rows each token was chosen from.
        const fresh = target.createSequence(256);
        fresh.setLogitRules(rules, prompt.length);
        const logits = await target.forward(fresh, [...prompt, ...tokens]);
        fresh.release();
        const rows = tokens.map((token, i) => {
          const row = prompt.length - 1 + i;
          return tokenLogprob(logits.subarray(row * vocab, (row + 1) * vocab), token, 2);
        });
        expect(logprobs).toEqual(rows);
      }
    },
  );

  it('greedy on the 4-bit MLC pair (q4f16_1 target and draft, f16 KV caches) equals plain greedy, caches exact', async () => {
    const pair = await loadPair(
      gpu,
      {
        target: directorySource(fixturePath(FIXTURES.targetQ4)),
        draft: directorySource(fixturePath(FIXTURES.draftQ4)),
      },
      { maxContext: 256, kvCache: 'f16' },
    );
    const { target: q4Target, draft: q4Draft } = pair as Required<ModelPair>;
    try {
      for (const { ids } of loadGolden(FIXTURES.targetQ4)) {
        const options = { maxTokens: TOKENS, sampling: GREEDY };
        const expected = await generate(q4Target.model, q4Target.model.createSequence(256), ids, options);
        const source = new ModelDraftSource(q4Draft.model, q4Draft.model.createSequence(256));
        const targetSequence = q4Target.model.createSequence(256);
        const { tokens, counts } = await speculativeGenerate(q4Target.model, targetSequence, source, ids, {
          ...options,
          draftLength: 'auto',
          fallback: false,
        });
        expect(tokens).toEqual(expected);
        expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
        await expectCachesFresh(q4Target.model, targetSequence, q4Draft.model, source.sequence, [...ids, ...tokens]);
      }
    } finally {
      destroyPair(pair);
    }
  });
});

describe('speculative sampling on the GPU keeps the target distribution', () => {
  // Tiny random models whose next-token distributions the reference enumerates exactly; the
  // steps run on the GPU, the draft drawing its tokens there (model/gpu-speculation.ts).
  const prompt = [0, 3];
  const sampling: SamplingParams = { temperature: 1, topK: 0, topP: 1 };

  it.each([
    ['on the device', true],
    ['on the CPU', false],
  ])(
    'with the draft model: tokens 3 and 4 (from a step on the device) match the exact marginals, the rule %s',
    async (_, deviceAcceptance) => {
      const [t, d] = [randomModel(TINY_SHAPE, 1), randomModel(TINY_SHAPE, 2)];
      const options = { maxContext: 16, maxBatch: 8, profile: { ...kernelProfile(gpu.info), deviceAcceptance } };
      const gpuTarget = await GpuModel.create(gpu, t.config, t.weights, options);
      const gpuDraft = await GpuModel.create(gpu, d.config, d.weights, options);
      const readbacks = gpuDraft.readbacks;
      const { counts, acceptance } = await countSampledTokens(3000, 6, async (seed) => {
        const sequence = gpuTarget.createSequence(16);
        const draftSequence = gpuDraft.createSequence(16);
        const source = new ModelDraftSource(gpuDraft, draftSequence);
        const options = { maxTokens: 5, sampling, seed, draftLength: 3, fallback: false };
        try {
          return await speculativeGenerate(gpuTarget, sequence, source, prompt, options);
        } finally {
          sequence.release();
          draftSequence.release();
        }
      });
      expect(gpuDraft.readbacks).toBe(readbacks); // every draft was drawn on the device
      expect(acceptance).toBeGreaterThan(0.1);
      expect(acceptance).toBeLessThan(0.9);
      // 5 degrees of freedom: P(chi2 > 20.5) = 0.001. The seeds are fixed, so this is deterministic.
      const reference = new ReferenceModel(t.config, t.weights);
      expect(chiSquare(counts[0], exactMarginal(reference, prompt, sampling, 2))).toBeLessThan(20.5);
      expect(chiSquare(counts[1], exactMarginal(reference, prompt, sampling, 3))).toBeLessThan(20.5);
      gpuTarget.destroy();
      gpuDraft.destroy();
    },
    600_000,
  );
});
