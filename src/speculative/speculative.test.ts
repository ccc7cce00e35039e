/**
 * Speculative decoding on the reference models (the GPU run is in speculative.gpu.test.ts):
 * greedy output equal to plain greedy output token for token, edge cases of acceptance,
 * exact caches after rejections, and the target's distribution preserved under sampling.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../model/generate';
import { randomModel } from '../model/random-weights';
import { ReferenceModel, type ReferenceSequence } from '../ref/model';
import type { LogitRules } from '../sampling/logit-rules';
import { type TokenLogprob, tokenLogprob } from '../sampling/logprobs';
import { GREEDY, type SamplingParams } from '../sampling/sampling';
import { FIXTURES, loadGolden, loadReferencePair } from '../testing/fixtures';
import {
  chiSquare,
  countSampledTokens,
  exactMarginal as exactMarginalOf,
  expectCachesFresh,
  TINY_SHAPE,
} from '../testing/spec';
import type { DraftLength } from './draft-length';
import { type Draft, type DraftSource, draftSource } from './draft-source';
import { ModelDraftSource } from './model-draft';
import { PromptLookupSource } from './prompt-lookup';
import { speculativeGenerate } from './speculative';
import { speculativeStats } from './stats';

let target: ReferenceModel;
let draft: ReferenceModel;
let prompts: number[][];
beforeAll(async () => {
  const pair = await loadReferencePair();
  ({ target, draft } = pair);
  const chat = (user: string) =>
    pair.tokenizer.encodeChat([
      { role: 'system', content: 'You tell short, happy stories for children.' },
      { role: 'user', content: user },
    ]);
  prompts = [
    ...loadGolden(FIXTURES.target).map((g) => g.ids),
    chat('Can you tell me a story about Zoe the turtle?'),
    chat('Please write a short story about a bear called Max.'),
  ];
  pair.tokenizer.dispose();
});

const TOKENS = 40;

async function plain(prompt: number[]) {
  return generate(target, target.createSequence(256), prompt, { maxTokens: TOKENS, sampling: GREEDY });
}

async function speculative(
  prompt: number[],
  source: DraftSource,
  draftLength: DraftLength,
  sampling = GREEDY,
  seed = 0,
) {
  const sequence = target.createSequence(256);
  const { tokens, counts } = await speculativeGenerate(target, sequence, source, prompt, {
    maxTokens: TOKENS,
    sampling,
    seed,
    draftLength,
    fallback: false,
  });
  return { tokens, stats: speculativeStats(counts), sequence };
}

describe('greedy speculative decoding equals plain greedy decoding', () => {
  const lengths: DraftLength[] = [1, 2, 3, 4, 5, 6, 7, 8, 'auto'];
  it.each(lengths)('with the draft model, k = %s', async (k) => {
    for (const prompt of prompts) {
      const source = new ModelDraftSource(draft, draft.createSequence(256));
      const { tokens, stats } = await speculative(prompt, source, k);
      expect(tokens).toEqual(await plain(prompt));
      expect(stats.acceptance_rate).toBeGreaterThan(0.3);
    }
  });

  it.each(lengths)('with prompt lookup, k = %s', async (k) => {
    for (const prompt of prompts) {
      const { tokens } = await speculative(prompt, new PromptLookupSource(), k);
      expect(tokens).toEqual(await plain(prompt));
    }
  });

  it('accepts everything when the draft is the target itself', async () => {
    const { tokens, stats } = await speculative(
      prompts[1],
      new ModelDraftSource(target, target.createSequence(256)),
      4,
    );
    expect(tokens).toEqual(await plain(prompts[1]));
    expect(stats.acceptance_rate).toBe(1);
    expect(stats.mean_accepted_length).toBeCloseTo(5, 0); // 4 drafts + the bonus, until the end
  });

  it('accepts nothing from a draft that is always wrong, and still gives the same output', async () => {
    const padding = target.config.vocabSize - 1; // a padding id the target never chooses
    const wrong: DraftSource = {
      kind: 'model',
      forwards: 0,
      async propose(_context, { k }): Promise<Draft> {
        return { tokens: new Array(k).fill(padding) };
      },
      rollback() {},
    };
    const { tokens, stats } = await speculative(prompts[0], wrong, 3);
    expect(tokens).toEqual(await plain(prompts[0]));
    expect(stats.drafted).toBeGreaterThan(0);
    expect(stats.acceptance_rate).toBe(0);
    expect(stats.mean_accepted_length).toBe(1);
  });

  it('with logit bias and penalties, equals plain greedy decoding under the same rules', async () => {
    const rules: LogitRules = {
      repetitionPenalty: 2,
      frequencyPenalty: 3,
      presencePenalty: 1,
      logitBias: new Map([[prompts[2][prompts[2].length - 3], 4]]),
    };
    for (const prompt of prompts.slice(2)) {
      const ruled = (sequence: ReferenceSequence) => {
        sequence.setLogitRules(rules, prompt.length);
        return sequence;
      };
      const expected = await generate(target, ruled(target.createSequence(256)), prompt, {
        maxTokens: TOKENS,
        sampling: GREEDY,
      });
      expect(expected).not.toEqual(await plain(prompt)); // the rules changed the reply
      const source = new ModelDraftSource(draft, ruled(draft.createSequence(256)));
      const { tokens } = await speculativeGenerate(target, ruled(target.createSequence(256)), source, prompt, {
        maxTokens: TOKENS,
        sampling: GREEDY,
        draftLength: 4,
        fallback: false,
      });
      expect(tokens).toEqual(expected);
    }
  });

  it('leaves both caches exactly as a fresh computation would, after rejections', async () => {
    const source = new ModelDraftSource(draft, draft.createSequence(256));
    const prompt = prompts[3];
    const { tokens, stats, sequence } = await speculative(prompt, source, 6);
    expect(stats.accepted).toBeLessThan(stats.drafted); // there were rejections
    await expectCachesFresh(target, sequence, draft, source.sequence, [...prompt, ...tokens]);
  });
});

describe('speculative sampling keeps the target distribution', () => {
  // Tiny random models whose next-token distributions can be enumerated exactly.
  const tinyTarget = () => {
    const { config, weights } = randomModel(TINY_SHAPE, 1);
    return new ReferenceModel(config, weights);
  };
  const tinyDraft = () => {
    const { config, weights } = randomModel(TINY_SHAPE, 2);
    return new ReferenceModel(config, weights);
  };
  const prompt = [0, 3];
  const sampling: SamplingParams = { temperature: 1, topK: 0, topP: 1 };

  const exactMarginal = (model: ReferenceModel, at: number, rules?: LogitRules) =>
    exactMarginalOf(model, prompt, sampling, at, rules);

  // Penalties strong enough to move these tiny distributions, and a bias on one token.
  const rules: LogitRules = {
    repetitionPenalty: 1.6,
    frequencyPenalty: 0.4,
    presencePenalty: 0.3,
    logitBias: new Map([[2, 0.7]]),
  };

  it.each([
    ['the draft model', 'model', undefined],
    ['prompt lookup', 'ngram', undefined],
    ['the draft model, with logit bias and penalties', 'model', rules],
  ] as const)('with %s: tokens 3 and 4 (from a speculative step) match the exact marginals', async (_, kind, rules) => {
    const t = tinyTarget();
    const d = tinyDraft();
    const samples = 3000;
    const { counts, acceptance } = await countSampledTokens(samples, 6, (seed) => {
      const draftSequence = d.createSequence(16);
      draftSequence.setLogitRules(rules, prompt.length);
      const source = kind === 'model' ? new ModelDraftSource(d, draftSequence) : new PromptLookupSource(2, 1);
      const sequence = t.createSequence(16);
      sequence.setLogitRules(rules, prompt.length);
      const options = { maxTokens: 5, sampling, seed, draftLength: 3, fallback: false };
      return speculativeGenerate(t, sequence, source, prompt, options);
    });
    // Both rejections and acceptances happened, so both branches of the rule were exercised.
    expect(acceptance).toBeGreaterThan(0.1);
    expect(acceptance).toBeLessThan(0.9);
    // 5 degrees of freedom: P(chi2 > 20.5) = 0.001. The seeds are fixed, so this is deterministic.
    expect(chiSquare(counts[0], exactMarginal(t, 2, rules))).toBeLessThan(20.5);
    expect(chiSquare(counts[1], exactMarginal(t, 3, rules))).toBeLessThan(20.5);
    if (rules) expect(chiSquare(counts[1], exactMarginal(t, 3))).toBeGreaterThan(20.5); // the rules mattered
  });
});

describe('log-probabilities', () => {
  const rules: LogitRules = {
    repetitionPenalty: 1.5,
    frequencyPenalty: 0.5,
    presencePenalty: 0.5,
    logitBias: new Map([[5, 2]]),
  };

  /** Tokens and log-probabilities (3 alternatives each) of a generation, speculative or plain. */
  async function run(prompt: number[], kind: 'model' | 'none', sampling: SamplingParams, ruled?: LogitRules) {
    const sequence = target.createSequence(256);
    sequence.setLogitRules(ruled, prompt.length);
    const draftSequence = draft.createSequence(256);
    draftSequence.setLogitRules(ruled, prompt.length);
    const source = draftSource(kind, { model: draft, sequence: draftSequence });
    const logprobs: TokenLogprob[] = [];
    const { tokens } = await speculativeGenerate(target, sequence, source, prompt, {
      maxTokens: TOKENS,
      sampling,
      seed: 11,
      draftLength: 4,
      fallback: false,
      logprobs: 3,
      onLogprob: (entry) => logprobs.push(entry),
    });
    return { tokens, logprobs };
  }

  /** The log-probabilities of `tokens` read from one fresh pass over the prompt and them. */
  async function teacherForced(prompt: number[], tokens: number[], ruled?: LogitRules) {
    const sequence = target.createSequence(256);
    sequence.setLogitRules(ruled, prompt.length);
    const logits = await target.forward(sequence, [...prompt, ...tokens]);
    const vocab = target.config.vocabSize;
    return tokens.map((token, i) => {
      const row = prompt.length - 1 + i;
      return tokenLogprob(logits.subarray(row * vocab, (row + 1) * vocab), token, 3);
    });
  }

  it.each([
    ['greedy', GREEDY, undefined],
    ['greedy, with logit bias and penalties', GREEDY, rules],
    ['sampled', { temperature: 0.8, topP: 0.9, topK: 0 }, undefined],
    ['sampled, with logit bias and penalties', { temperature: 0.8, topP: 0.9, topK: 0 }, rules],
  ] as const)('%s: are those of a fresh pass over the reply, speculative or not', async (_, sampling, ruled) => {
    for (const prompt of prompts.slice(2)) {
      const spec = await run(prompt, 'model', sampling, ruled);
      const plainRun = await run(prompt, 'none', sampling, ruled);
      expect(spec.logprobs).toHaveLength(spec.tokens.length);
      expect(spec.logprobs.map((entry) => entry.token)).toEqual(spec.tokens);
      expect(spec.logprobs).toEqual(await teacherForced(prompt, spec.tokens, ruled));
      expect(plainRun.logprobs).toEqual(await teacherForced(prompt, plainRun.tokens, ruled));
      if (sampling.temperature === 0) expect(spec).toEqual(plainRun);
      for (const entry of spec.logprobs) {
        expect(entry.top).toHaveLength(3);
        expect(entry.top[0].logprob).toBeGreaterThanOrEqual(entry.top[2].logprob);
      }
    }
  });

  it('do not change the reply: the same tokens with and without them, for the same seed', async () => {
    const sampling = { temperature: 0.8, topP: 0.9, topK: 0 };
    for (const kind of ['model', 'none'] as const) {
      const sequence = target.createSequence(256);
      const source = draftSource(kind, { model: draft, sequence: draft.createSequence(256) });
      const without = await speculativeGenerate(target, sequence, source, prompts[2], {
        maxTokens: TOKENS,
        sampling,
        seed: 11,
        draftLength: 4,
        fallback: false,
      });
      expect((await run(prompts[2], kind, sampling)).tokens).toEqual(without.tokens);
    }
  });
});
