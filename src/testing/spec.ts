/** Checks shared by the speculative decoding tests on the reference and on the GPU. */

import { expect } from 'vitest';
import type { CausalLM, Sequence } from '../model/types';
import type { ReferenceModel } from '../ref/model';
import type { LogitRules } from '../sampling/logit-rules';
import { distribution, type SamplingParams } from '../sampling/sampling';
import type { SpeculativeCounts } from '../speculative/speculative';
import { speculativeStats } from '../speculative/stats';
import { expectBitwiseEqual } from './compare';

/**
 * A tiny model's config fields for `randomModel`: six tokens, one layer, so that the
 * distribution of a reply's next tokens can be enumerated exactly (`exactMarginal`).
 */
export const TINY_SHAPE = {
  vocab_size: 6,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
};

/**
 * The exact marginal distribution of the token at output position `at` after `prompt` under
 * `model` alone, by enumerating every path (tiny vocabularies only).
 */
export function exactMarginal(
  model: ReferenceModel,
  prompt: number[],
  sampling: SamplingParams,
  at: number,
  rules?: LogitRules,
): Float64Array {
  const vocab = model.config.vocabSize;
  const marginal = new Float64Array(vocab);
  const walk = (context: number[], weight: number, depth: number) => {
    const sequence = model.createSequence(16);
    sequence.setLogitRules(rules, prompt.length);
    const logits = model.forwardSync(sequence, context);
    const p = distribution(logits.subarray(-vocab), sampling);
    if (depth === at) {
      for (let i = 0; i < vocab; i++) marginal[i] += weight * p[i];
      return;
    }
    for (let i = 0; i < vocab; i++) walk([...context, i], weight * p[i], depth + 1);
  };
  walk(prompt, 1, 0);
  return marginal;
}

/**
 * Runs `generate` once per seed (0 .. seeds - 1) and counts its tokens 3 and 4 (which come from
 * a speculative step); with the share of drafts accepted over all the runs.
 */
export async function countSampledTokens(
  seeds: number,
  vocab: number,
  generate: (seed: number) => Promise<{ tokens: number[]; counts: SpeculativeCounts }>,
): Promise<{ counts: number[][]; acceptance: number; forced: number }> {
  const counts = [new Array(vocab).fill(0), new Array(vocab).fill(0)];
  let drafted = 0;
  let accepted = 0;
  let forced = 0;
  for (let seed = 0; seed < seeds; seed++) {
    const { tokens, counts: step } = await generate(seed);
    counts[0][tokens[2]]++;
    counts[1][tokens[3]]++;
    const stats = speculativeStats(step);
    drafted += stats.drafted;
    accepted += stats.accepted;
    forced += stats.forced_tokens;
  }
  return { counts, acceptance: accepted / drafted, forced };
}

/** Pearson's chi-square statistic of `counts` against `expected` probabilities. */
export function chiSquare(counts: number[], expected: Float64Array): number {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.reduce((sum, c, i) => sum + (c - n * expected[i]) ** 2 / (n * expected[i]), 0);
}

/**
 * After speculative decoding over `context`, the target's cache must hold every token but the
 * newest, and both caches must give bit for bit the logits a fresh computation gives.
 */
export async function expectCachesFresh<S extends Sequence, D extends Sequence>(
  target: CausalLM<S>,
  targetSequence: S,
  draft: CausalLM<D>,
  draftSequence: D,
  context: number[],
) {
  const vocab = target.config.vocabSize;
  expect(targetSequence.length).toBe(context.length - 1);
  const cached = await target.forward(targetSequence, context.slice(-1));
  const fresh = await target.forward(target.createSequence(targetSequence.capacity), context);
  expectBitwiseEqual(cached, fresh.subarray(-vocab), 'target logits from the cache');
  const draftVocab = draft.config.vocabSize;
  const draftCached = await draft.forward(draftSequence, context.slice(draftSequence.length));
  const draftFresh = await draft.forward(draft.createSequence(draftSequence.capacity), context);
  expectBitwiseEqual(
    draftCached.subarray(-draftVocab),
    draftFresh.subarray(-draftVocab),
    'draft logits from the cache',
  );
}

/**
 * `model` with its leaf moves counted (`taken`): how many tree leaves the target accepted;
 * `takenPast(k)`, how many of them moved further than k slots: with k drafts a step, leaves
 * past the first rank (tree.ts: a leaf of rank r moves k + r * depths slots back).
 */
export function countingLeaves<M extends { moveSlot(sequence: never, from: number, to: number): void }>(model: M) {
  const moves: number[] = [];
  const counting = Object.create(model) as M;
  counting.moveSlot = (sequence: never, from: number, to: number) => {
    moves.push(from - to);
    model.moveSlot(sequence, from, to);
  };
  return { model: counting, taken: () => moves.length, takenPast: (k: number) => moves.filter((m) => m > k).length };
}
