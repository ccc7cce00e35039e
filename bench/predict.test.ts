import { describe, expect, it } from 'vitest';
import { expectedTokensPerPass, predict, predictSpeedup, verifyMs } from './predict';

describe('speed-up prediction', () => {
  it('counts the tokens one target pass yields: 1 + a + ... + a^k', () => {
    expect(expectedTokensPerPass(0, 4)).toBe(1);
    expect(expectedTokensPerPass(1, 4)).toBe(5);
    expect(expectedTokensPerPass(0.5, 2)).toBeCloseTo(1.75, 12);
    for (const a of [0.3, 0.6, 0.9]) {
      const sum = Array.from({ length: 6 }, (_, i) => a ** i).reduce((x, y) => x + y);
      expect(expectedTokensPerPass(a, 5)).toBeCloseTo(sum, 12);
    }
  });

  it("reduces to Leviathan et al.'s closed form when a verify pass costs one target step", () => {
    // Their improvement factor: (1 - a^(k+1)) / ((1 - a)(k c + 1)), c = draft step / target step.
    const costs = { targetStepMs: 10, draftStepMs: 1, verify: [1, 20].map((tokens) => ({ tokens, ms: 10 })) };
    for (const [a, k] of [
      [0.6, 2],
      [0.8, 4],
      [0.9, 7],
    ]) {
      const c = 0.1;
      expect(predictSpeedup(costs, a, k)).toBeCloseTo((1 - a ** (k + 1)) / ((1 - a) * (k * c + 1)), 12);
    }
  });

  it('charges the measured verify cost: a pass over k + 1 tokens costing k + 1 steps never pays', () => {
    const linear = Array.from({ length: 9 }, (_, i) => ({ tokens: i + 1, ms: 10 * (i + 1) }));
    const costs = { targetStepMs: 10, draftStepMs: 0, verify: linear };
    for (let k = 1; k <= 8; k++) expect(predictSpeedup(costs, 0.9, k)).toBeLessThan(1);
  });

  it('interpolates verify costs between measured token counts', () => {
    const verify = [
      { tokens: 1, ms: 10 },
      { tokens: 3, ms: 14 },
      { tokens: 5, ms: 30 },
    ];
    expect(verifyMs(verify, 3)).toBe(14);
    expect(verifyMs(verify, 2)).toBe(12);
    expect(verifyMs(verify, 4)).toBe(22);
    expect(verifyMs(verify, 1.5)).toBe(11);
    expect(() => verifyMs(verify, 6)).toThrow(RangeError);
  });

  it('picks the draft length with the best predicted speed-up', () => {
    const verify = Array.from({ length: 9 }, (_, i) => ({ tokens: i + 1, ms: 10 + i }));
    const p = predict({ targetStepMs: 10, draftStepMs: 1, verify }, 0.7, 8);
    expect(p.by_k.map((e) => e.k)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(p.best_speedup).toBe(Math.max(...p.by_k.map((e) => e.speedup)));
    expect(p.by_k.find((e) => e.k === p.best_k)?.speedup).toBe(p.best_speedup);
    expect(p.best_speedup).toBeGreaterThan(1.5); // cheap verify, cheap draft: it pays
  });
});
