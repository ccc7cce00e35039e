/** The speculative figures derived from raw counts, and what 'auto' does with the draft length. */

import { describe, expect, it } from 'vitest';
import { AUTO_MAX, AUTO_START, DraftLengthPolicy } from './draft-length';
import { speculativeStats } from './stats';

describe('speculativeStats', () => {
  it('derives acceptance, per-position acceptance and tokens per target pass', () => {
    const stats = speculativeStats({
      draft: 'model',
      steps: 4,
      produced: 10, // 6 accepted drafts + one token of the target per step
      drafted: [4, 4, 2, 0],
      accepted: [3, 2, 1, 0],
      targetForwards: 6,
      draftForwards: 12,
    });
    expect(stats).toMatchObject({ drafted: 10, accepted: 6, acceptance_rate: 0.6, mean_accepted_length: 2.5 });
    expect(stats.per_position).toEqual([0.75, 0.5, 0.5]);
    expect(stats.fell_back).toBe(false);
    expect('fallback_reason' in stats).toBe(false);
  });

  it('says why speculation was switched off', () => {
    const stats = speculativeStats({
      draft: 'ngram',
      steps: 0,
      produced: 0,
      drafted: [0],
      accepted: [0],
      targetForwards: 3,
      draftForwards: 0,
      fallback: 'slower',
    });
    expect(stats).toMatchObject({ fell_back: true, fallback_reason: 'slower', acceptance_rate: 0 });
  });
});

describe('DraftLengthPolicy', () => {
  it('keeps a fixed length and never stops a draft model early', () => {
    const policy = new DraftLengthPolicy(3);
    policy.update(3, 3);
    policy.update(0, 3);
    expect(policy.k).toBe(3);
    expect(policy.minConfidence).toBe(0);
  });

  it("with 'auto' grows after full acceptance, shrinks after poor steps, within 1 and the maximum", () => {
    const policy = new DraftLengthPolicy('auto');
    expect(policy.k).toBe(AUTO_START);
    expect(policy.minConfidence).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) policy.update(policy.k, policy.k);
    expect(policy.k).toBe(AUTO_MAX);
    policy.update(4, 8); // half kept: unchanged
    expect(policy.k).toBe(AUTO_MAX);
    for (let i = 0; i < 10; i++) policy.update(0, policy.k);
    expect(policy.k).toBe(1);
  });
});
