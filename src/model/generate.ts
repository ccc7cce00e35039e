/**
 * Plain autoregressive generation on any CausalLM: prefill the prompt, then one token per
 * forward pass. The baseline speculative decoding must reproduce (greedy) or match in
 * distribution (sampling).
 */

import type { SamplingParams } from '../sampling/sampling';
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
  const stop = new Set(options.stopTokens ?? []);
  const greedy = options.sampling.temperature <= 0;
  const seed = options.seed ?? 0;
  // Either way one token id per step is read back: the argmax, or a draw made where the logits are.
  const next = async (tokens: ArrayLike<number>) =>
    greedy ? (await model.greedy(sequence, tokens, 'last'))[0] : model.sample(sequence, tokens, options.sampling, seed);
  const out: number[] = [];
  let token = await next(prompt.slice(sequence.length));
  for (;;) {
    out.push(token);
    options.onToken?.(token);
    if (stop.has(token) || out.length >= options.maxTokens) return out;
    token = await next([token]);
  }
}
