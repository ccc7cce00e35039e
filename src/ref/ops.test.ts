/** The reference's error function, against values of erf to double precision (from the series, checked against tables). */

import { describe, expect, it } from 'vitest';
import { activate, erf } from './ops';

describe('erf', () => {
  it.each([
    [0.01, 0.011283415555849618],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [-1.7, -0.9837904585907746],
    [2.4, 0.999311486103355], // the series' last stretch
    [2.6, 0.9997639655834707], // the continued fraction's first
    [3, 0.9999779095030014],
    [5, 0.9999999999984626],
  ])('erf(%f) = %f to a few units in the last place', (x, want) => {
    expect(Math.abs(erf(x) - want)).toBeLessThan(5e-16);
  });

  it('makes the exact GELU, which the tanh approximation is within 1e-3 of', () => {
    const x = Float32Array.from([-3, -1, -0.25, 0, 0.25, 1, 3]);
    const exact = activate(x, 'gelu');
    const tanh = activate(x, 'gelu-tanh');
    expect(exact[5]).toBeCloseTo(0.8413447460685429, 6); // 1 x Phi(1)
    for (let i = 0; i < x.length; i++) expect(Math.abs(exact[i] - tanh[i])).toBeLessThan(1e-3);
  });
});
