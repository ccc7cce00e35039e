import { describe, expect, it } from 'vitest';
import { quantile, summarize } from './stats';

describe('bench statistics', () => {
  it('interpolates quantiles', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([5], 0.9)).toBe(5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
  });

  it('summarises with the median and a robust spread', () => {
    const s = summarize([10, 12, 11, 100, 9]);
    expect(s.median).toBe(11);
    expect(s.min).toBe(9);
    expect(s.max).toBe(100);
    expect(s.spread).toBeCloseTo((12 - 10) / 2 / 11, 12); // the outlier does not move it
  });
});
