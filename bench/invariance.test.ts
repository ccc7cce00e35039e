/** The bitwise comparison behind `bench --invariance`. */

import { describe, expect, it } from 'vitest';
import { compareBits } from './invariance';

describe('compareBits', () => {
  it('counts values whose bits differ, and the largest difference among them', () => {
    const whole = Float32Array.from([1, 0, 2.5, -3, Number.NaN]);
    expect(compareBits('same', whole.slice(), whole)).toEqual({ split: 'same', mismatched: 0, max_abs_diff: 0 });
    const got = Float32Array.from([1, -0, 2.5 + 2 ** -22, -3.5, Number.NaN]);
    expect(compareBits('split', got, whole)).toEqual({ split: 'split', mismatched: 3, max_abs_diff: 0.5 });
  });
});
