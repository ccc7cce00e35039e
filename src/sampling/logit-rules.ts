/**
 * Rules applied to a row of logits before a token is chosen from it, as web-llm's (and
 * OpenAI's) request fields define them, in this order:
 *
 *   logit_bias          l[t] += bias[t]
 *   repetition_penalty  for each token t already generated: l[t] = l[t] > 0 ? l[t] / r : l[t] * r
 *   frequency_penalty   l[t] -= f * count[t]
 *   presence_penalty    l[t] -= p * (count[t] > 0)
 *
 * where count[t] is how often t occurs among the tokens generated so far (the prompt does not
 * count, as in web-llm). A row's counts are those of its own context: in a verify pass, row i
 * counts the drafts before it. Greedy decoding takes the argmax of the adjusted row and
 * sampling draws from it, so speculative decoding with rules is exactly decoding with them.
 * The GPU applies the same rules in logit_rules.wgsl; this file is the definition.
 */

export interface LogitRules {
  /** 1: none. */
  repetitionPenalty: number;
  /** 0: none. */
  frequencyPenalty: number;
  /** 0: none. */
  presencePenalty: number;
  /** Token id -> added logit. */
  logitBias: ReadonlyMap<number, number>;
}

export const NO_RULES: LogitRules = {
  repetitionPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  logitBias: new Map(),
};

/** Whether `rules` change any logit. */
export function hasRules(rules: LogitRules | undefined): rules is LogitRules {
  return (
    !!rules &&
    (rules.repetitionPenalty !== 1 ||
      rules.frequencyPenalty !== 0 ||
      rules.presencePenalty !== 0 ||
      rules.logitBias.size > 0)
  );
}

/**
 * Applies `rules` in place to one row of logits, given how often each generated token occurred.
 * Every step is a float32 operation, as on the GPU (dividing by the repetition penalty is a
 * product with its float32 reciprocal, since WGSL's division is not correctly rounded), so
 * both give the same bits.
 */
export function applyLogitRules(
  logits: Float32Array,
  counts: ReadonlyMap<number, number>,
  rules: LogitRules,
): Float32Array {
  const f32 = Math.fround;
  const repetition = f32(rules.repetitionPenalty);
  const inverse = f32(1 / repetition);
  const frequency = f32(rules.frequencyPenalty);
  const presence = f32(rules.presencePenalty);
  for (const [token, bias] of rules.logitBias) if (token < logits.length) logits[token] = logits[token] + f32(bias);
  for (const [token, count] of counts) {
    if (count === 0 || token >= logits.length) continue;
    const l = logits[token];
    const penalised = l > 0 ? f32(l * inverse) : f32(l * repetition);
    logits[token] = penalised - f32(f32(frequency * count) + presence);
  }
  return logits;
}

/** How often each token occurs in `tokens`. */
export function tokenCounts(tokens: ArrayLike<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < tokens.length; i++) counts.set(tokens[i], (counts.get(tokens[i]) ?? 0) + 1);
  return counts;
}
