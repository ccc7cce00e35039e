/** The busy timer's arithmetic: the time a set of GPU spans covers. */

import { describe, expect, it } from 'vitest';
import { coveredNs } from './busy-timer';

describe('coveredNs', () => {
  it('counts time where spans overlap once', () => {
    expect(coveredNs([])).toBe(0n);
    expect(coveredNs([[10n, 20n]])).toBe(10n);
    // Apart, overlapping, and one inside another, in any order.
    expect(
      coveredNs([
        [30n, 40n],
        [10n, 20n],
        [15n, 25n],
        [32n, 35n],
      ]),
    ).toBe(25n);
  });
});
