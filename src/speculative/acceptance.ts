/**
 * The acceptance rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023).
 *
 * A drafted token d was drawn from the draft's distribution q. Accept it with probability
 * min(1, p(d) / q(d)), where p is the target's distribution at the same position; otherwise
 * draw the replacement from the residual normalize(max(0, p - q)). The token that comes out
 * is distributed exactly as p, whatever q is:
 *   P(out = x) = q(x) min(1, p(x)/q(x)) + P(reject) * max(0, p(x) - q(x)) / sum max(0, p - q)
 *              = min(q(x), p(x)) + max(0, p(x) - q(x)) = p(x),
 * because P(reject) = 1 - sum_x min(q(x), p(x)) = sum_x max(0, p(x) - q(x)).
 *
 * A deterministic proposal (prompt lookup) is the case q = one-hot(d): accept with probability
 * p(d), else draw from p with d removed.
 *
 * Several candidates (the siblings of a token tree: SpecInfer, Miao et al. 2024) drawn from q
 * without replacement (each from q_j, q without the ones before it, renormalised, as in
 * recursive speculative decoding, Jeon et al. 2024, so that siblings differ) take turns
 * (`acceptAmong`): candidate j is accepted with probability min(1, c(x) / q_j(x)) against the
 * current distribution c (first p), which after a rejection becomes the residual
 * normalize(max(0, c - q_j)); if none is accepted, the token is drawn from the last residual.
 * Each turn is the rule above for whatever the candidates before it were (q_j is exactly what
 * candidate j was drawn from), so what comes out is still distributed as p; and a rejected
 * candidate has no mass left in the residual (it was rejected only if c(x) < q_j(x)), so
 * removing it from the next q loses nothing.
 */

import { argmax, sample, without } from '../sampling/sampling';
import type { Rng } from '../util/rng';

export type Verdict = { accepted: true } | { accepted: false; token: number };

/** p: the target's distribution (its vocabulary); q: the draft's (may be shorter or longer), or undefined for one-hot(d). */
export function acceptOrResample(p: Float64Array, q: Float64Array | undefined, d: number, rng: Rng): Verdict {
  const verdict = acceptAmong(p, q, [d], rng);
  return verdict.index === 0 ? { accepted: true } : { accepted: false, token: verdict.token };
}

/**
 * Which of `candidates` (drawn from q without replacement) is accepted, in turn; or none, and
 * the token drawn instead. One random number a turn, then one for the draw.
 */
export function acceptAmong(
  p: Float64Array,
  q: Float64Array | undefined,
  candidates: readonly number[],
  rng: Rng,
): { index: number; token: number } {
  let current = p;
  for (const [index, d] of candidates.entries()) {
    const qj = q && index > 0 ? without(q, candidates.slice(0, index)) : q;
    const pd = d < current.length ? current[d] : 0;
    const qd = qj ? (d < qj.length ? qj[d] : 0) : 1;
    const u = rng.next();
    if (qd > 0 && u < Math.min(1, pd / qd)) return { index, token: d };
    const left = residual(current, qj, d);
    // Nothing left only if current <= q everywhere, i.e. current = q, when acceptance was certain: guard rounding.
    if (!left) return { index: -1, token: argmax(current) };
    current = left;
  }
  return { index: -1, token: sample(current, rng) };
}

/** normalize(max(0, p - q)), q = one-hot(d) when absent; undefined when it is all zeros. */
function residual(p: Float64Array, q: Float64Array | undefined, d: number): Float64Array | undefined {
  const out = new Float64Array(p.length);
  let total = 0;
  for (let i = 0; i < p.length; i++) {
    const qi = q ? (i < q.length ? q[i] : 0) : i === d ? 1 : 0;
    out[i] = Math.max(0, p[i] - qi);
    total += out[i];
  }
  if (!(total > 0)) return undefined;
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}
