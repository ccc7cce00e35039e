/**
 * The speed-up speculative decoding should give, predicted from measured costs at a stated
 * acceptance rate (Leviathan et al. 2023, "Fast Inference from Transformers via Speculative
 * Decoding", section 3.3, with the verify pass's measured cost in place of one target step).
 *
 * With k drafted tokens each accepted with probability a (independently), one target pass
 * yields 1 + a + a^2 + ... + a^k = (1 - a^(k+1)) / (1 - a) tokens: the accepted prefix plus
 * the target's own token. It costs k draft steps and one verify pass over k + 1 tokens, where
 * plain decoding pays one target step per token:
 *
 *   speed-up = tokens per pass x target step / (k x draft step + verify(k + 1))
 */

export interface MeasuredCosts {
  /** One plain decode step of the target, ms. */
  targetStepMs: number;
  /** One decode step of the draft, ms. */
  draftStepMs: number;
  /** The target's forward pass over n tokens, ms, measured at some n (n = 1 included). */
  verify: { tokens: number; ms: number }[];
}

export function expectedTokensPerPass(acceptance: number, k: number): number {
  if (acceptance >= 1) return k + 1;
  return (1 - acceptance ** (k + 1)) / (1 - acceptance);
}

/** The verify cost at n tokens: measured, or linear between the nearest measured counts. */
export function verifyMs(verify: MeasuredCosts['verify'], n: number): number {
  const points = [...verify].sort((a, b) => a.tokens - b.tokens);
  const exact = points.find((p) => p.tokens === n);
  if (exact) return exact.ms;
  const above = points.findIndex((p) => p.tokens > n);
  if (above <= 0) throw new RangeError(`no verify cost measured around ${n} tokens`);
  const lo = points[above - 1];
  const hi = points[above];
  return lo.ms + ((hi.ms - lo.ms) * (n - lo.tokens)) / (hi.tokens - lo.tokens);
}

export function predictSpeedup(costs: MeasuredCosts, acceptance: number, k: number): number {
  const passMs = k * costs.draftStepMs + verifyMs(costs.verify, k + 1);
  return (expectedTokensPerPass(acceptance, k) * costs.targetStepMs) / passMs;
}

export interface Prediction {
  acceptance: number;
  /** Predicted speed-up for draft lengths 1..maxK. */
  by_k: { k: number; speedup: number }[];
  best_k: number;
  best_speedup: number;
}

export function predict(costs: MeasuredCosts, acceptance: number, maxK: number): Prediction {
  const byK = Array.from({ length: maxK }, (_, i) => ({ k: i + 1, speedup: predictSpeedup(costs, acceptance, i + 1) }));
  const best = byK.reduce((a, b) => (b.speedup > a.speedup ? b : a));
  return { acceptance, by_k: byK, best_k: best.k, best_speedup: best.speedup };
}
