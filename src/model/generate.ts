/**
 * Plain autoregressive generation on any CausalLM: prefill the prompt, then one token per
 * forward pass. The baseline speculative decoding must reproduce (greedy) or match in
 * distribution (sampling).
 */

import { type SamplingParams, sampleToken } from '../sampling/sampling';
import { Rng } from '../util/rng';
import type { CausalLM, Sequence } from './types';

export interface GenerateOptions {
  maxTokens: number;
  sampling: SamplingParams;
  seed?: number;
  stopTokens?: number[];
  /** Called with each token as soon as it is known (streaming). */
  onToken?: (token: number) => void;
}

/** Generates after `prompt` into `sequence` (which must be empty or hold a prefix of the prompt). */
export async function generate<S extends Sequence>(
  model: CausalLM<S>,
  sequence: S,
  prompt: number[],
  options: GenerateOptions,
): Promise<number[]> {
  const rng = new Rng(options.seed ?? 0);
  const stop = new Set(options.stopTokens ?? []);
  const greedy = options.sampling.temperature <= 0;
  // Greedy decoding reads back one token id per step; sampling needs the last row of logits.
  const next = async (tokens: ArrayLike<number>) =>
    greedy
      ? (await model.greedy(sequence, tokens, 'last'))[0]
      : sampleToken(await model.forwardLast(sequence, tokens), options.sampling, rng);
  const out: number[] = [];
  let token = await next(prompt.slice(sequence.length));
  for (;;) {
    out.push(token);
    options.onToken?.(token);
    if (stop.has(token) || out.length >= options.maxTokens) return out;
    token = await next([token]);
  }
}
