/**
 * Log-probabilities of generated tokens, as OpenAI's `logprobs` / `top_logprobs` report them:
 * for each token, its log-probability and the most likely alternatives at its position.
 *
 * They are read from the row of logits the token was chosen from, after the request's logit
 * bias and penalties and before temperature, top-k and top-p: what the model says of each
 * token, whatever the sampling. In float64 from the float32 logits:
 *
 *   logprob_i = x_i - lse(x),   lse(x) = m + log(sum_j exp(x_j - m)),   m = max_j x_j
 *
 * The same row gives the same numbers whichever pass computed it (the kernels are
 * batch-invariant), so a speculative reply reports exactly what plain decoding would.
 */

export interface TokenLogprob {
  token: number;
  logprob: number;
  /** The `top` most likely tokens, most likely first (lower id first among equals). */
  top: { token: number; logprob: number }[];
}

/** How OpenAI writes a probability of zero: a finite number, so that JSON can carry it. */
export const LOGPROB_OF_ZERO = -9999;

/** The log-probability of `token` in `row`, and the `top` most likely tokens of the row. */
export function tokenLogprob(row: ArrayLike<number>, token: number, top: number): TokenLogprob {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  const logprob = (i: number) => Math.max(row[i] - lse, LOGPROB_OF_ZERO);
  return { token, logprob: logprob(token), top: topTokens(row, top).map((i) => ({ token: i, logprob: logprob(i) })) };
}

/** Ids of the `count` largest values, largest first, lower id first among equals (one pass over the row). */
function topTokens(row: ArrayLike<number>, count: number): number[] {
  const best: number[] = [];
  if (count <= 0) return best;
  for (let i = 0; i < row.length; i++) {
    if (best.length === count) {
      if (!(row[i] > row[best[count - 1]])) continue;
      best.pop();
    }
    let at = best.length;
    while (at > 0 && row[i] > row[best[at - 1]]) at--;
    best.splice(at, 0, i);
  }
  return best;
}
