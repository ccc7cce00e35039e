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
 */

import { argmax, sample } from '../sampling/sampling';
import type { Rng } from '../util/rng';

export type Verdict = { accepted: true } | { accepted: false; token: number };

/** p: the target's distribution (its vocabulary); q: the draft's (may be shorter or longer), or undefined for one-hot(d). */
export function acceptOrResample(p: Float64Array, q: Float64Array | undefined, d: number, rng: Rng): Verdict {
  const pd = d < p.length ? p[d] : 0;
  const qd = q ? (d < q.length ? q[d] : 0) : 1;
  if (qd > 0 && rng.next() < Math.min(1, pd / qd)) return { accepted: true };
  const residual = new Float64Array(p.length);
  let total = 0;
  for (let i = 0; i < p.length; i++) {
    const qi = q ? (i < q.length ? q[i] : 0) : i === d ? 1 : 0;
    residual[i] = Math.max(0, p[i] - qi);
    total += residual[i];
  }
  // total is 0 only if p <= q everywhere, i.e. p = q, when acceptance was certain: guard rounding.
  if (!(total > 0)) return { accepted: false, token: argmax(p) };
  for (let i = 0; i < residual.length; i++) residual[i] /= total;
  return { accepted: false, token: sample(residual, rng) };
}
