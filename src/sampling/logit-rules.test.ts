/** The logit rules as web-llm's request fields define them: bias, then the penalties of generated tokens. */

import { describe, expect, it } from 'vitest';
import { applyLogitRules, hasRules, NO_RULES, tokenCounts } from './logit-rules';

describe('applyLogitRules', () => {
  it('adds the bias, then penalises each generated token by how often it occurred', () => {
    const logits = Float32Array.from([2, -2, 1, 0.5, 3]);
    const rules = {
      repetitionPenalty: 2,
      frequencyPenalty: 0.5,
      presencePenalty: 0.25,
      logitBias: new Map([
        [3, 1],
        [4, -100],
      ]),
    };
    applyLogitRules(logits, tokenCounts([0, 1, 1, 3]), rules);
    expect(Array.from(logits)).toEqual([
      2 / 2 - (0.5 * 1 + 0.25), // generated once: halved (positive), then penalised
      -2 * 2 - (0.5 * 2 + 0.25), // twice: doubled (negative), then penalised twice
      1, // never generated: untouched
      (0.5 + 1) / 2 - (0.5 + 0.25), // biased first, then penalised
      3 - 100, // biased only
    ]);
  });

  it('knows when rules change nothing', () => {
    expect(hasRules(NO_RULES)).toBe(false);
    expect(hasRules(undefined)).toBe(false);
    expect(hasRules({ ...NO_RULES, presencePenalty: 0.1 })).toBe(true);
    expect(hasRules({ ...NO_RULES, logitBias: new Map([[0, 1]]) })).toBe(true);
  });
});
