/**
 * From logits to a token: temperature, top-k and top-p (nucleus) filtering, then a draw with
 * a seeded RNG. `distribution` gives the filtered, renormalised probabilities, which
 * speculative sampling needs for both models under identical settings (the acceptance rule
 * compares p_target and p_draft token by token).
 *
 * temperature 0 means greedy: all probability on the argmax (the lowest id among ties).
 */

import type { Rng } from '../util/rng';

export interface SamplingParams {
  temperature: number; // 0 = greedy
  topK: number; // 0 = off
  topP: number; // 1 = off
}

export const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1 };

export function argmax(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): number {
  let best = 0;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < length; i++) {
    const v = logits[offset + i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/**
 * The highest of a row's logits but the one at `best` (an index in the row), or but each of
 * several (a tree's further runners-up): the lowest index among ties.
 */
export function runnerUp(
  logits: ArrayLike<number>,
  best: number | readonly number[],
  offset = 0,
  length = logits.length - offset,
): number {
  const skip = typeof best === 'number' ? [best] : best;
  let at = -1;
  for (let i = 0; i < length; i++) {
    if (!skip.includes(i) && (at < 0 || logits[offset + i] > logits[offset + at])) at = i;
  }
  return at;
}

/** Probabilities over the vocabulary after temperature, top-k and top-p; zeros outside the kept set. */
export function distribution(logits: ArrayLike<number>, params: SamplingParams, out?: Float64Array): Float64Array {
  const n = logits.length;
  const probs = out ?? new Float64Array(n);
  probs.fill(0);
  if (params.temperature <= 0) {
    probs[argmax(logits)] = 1;
    return probs;
  }
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = Math.exp((logits[i] - max) / params.temperature);
    sum += probs[i];
  }
  for (let i = 0; i < n; i++) probs[i] /= sum;

  const filterK = params.topK > 0 && params.topK < n;
  const filterP = params.topP > 0 && params.topP < 1;
  if (!filterK && !filterP) return probs;
  // Keep the most likely tokens: at most topK of them, and the fewest whose mass reaches topP.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  let keep = filterK ? params.topK : n;
  if (filterP) {
    let mass = 0;
    for (let r = 0; r < keep; r++) {
      mass += probs[order[r]];
      if (mass >= params.topP) {
        keep = r + 1;
        break;
      }
    }
  }
  let kept = 0;
  for (let r = 0; r < keep; r++) kept += probs[order[r]];
  for (let r = keep; r < n; r++) probs[order[r]] = 0;
  for (let r = 0; r < keep; r++) probs[order[r]] /= kept;
  return probs;
}

/** A draw from `probs` (which sum to 1). */
export function sample(probs: ArrayLike<number>, rng: Rng): number {
  const u = rng.next();
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    cumulative += probs[i];
    last = i;
    if (u < cumulative) return i;
  }
  return last; // rounding left u just above the total
}

/**
 * A distribution without the tokens `removed`, renormalised: what a draw made after them without
 * replacement is drawn from (a tree's second candidate); all zeros when nothing else has mass.
 */
export function without(probs: ArrayLike<number>, removed: readonly number[]): Float64Array {
  const out = Float64Array.from(probs);
  for (const i of removed) if (i < out.length) out[i] = 0;
  const total = out.reduce((a, b) => a + b, 0);
  return out.map((x) => (total > 0 ? x / total : 0));
}

export function sampleToken(logits: ArrayLike<number>, params: SamplingParams, rng: Rng): number {
  if (params.temperature <= 0) return argmax(logits);
  return sample(distribution(logits, params), rng);
}
