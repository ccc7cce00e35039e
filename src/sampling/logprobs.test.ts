/** Log-probabilities against a direct computation (sorting the whole row), ties and zeros included. */

import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng';
import { LOGPROB_OF_ZERO, tokenLogprob } from './logprobs';

/** log softmax by its definition, and the whole row sorted: the slow, obvious way. */
function direct(row: Float32Array, token: number, top: number) {
  const z = Array.from(row).reduce((sum, x) => sum + Math.exp(x), 0);
  const logprob = (i: number) => Math.max(Math.log(Math.exp(row[i]) / z), LOGPROB_OF_ZERO);
  const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
  return { token, logprob: logprob(token), top: order.slice(0, top).map((i) => ({ token: i, logprob: logprob(i) })) };
}

describe('tokenLogprob', () => {
  it('matches log softmax and a full sort, to 1e-9, for every top count up to 20', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 50; trial++) {
      const row = rng.floats(500, -8, 8);
      // Ties: copies of some values, so that the order among equals is tested too.
      for (let i = 0; i < 20; i++) row[rng.int(0, 500)] = row[rng.int(0, 500)];
      const token = rng.int(0, 500);
      const top = trial % 21;
      const got = tokenLogprob(row, token, top);
      const want = direct(row, token, top);
      expect(got.top.map((t) => t.token)).toEqual(want.top.map((t) => t.token));
      expect(got.logprob).toBeCloseTo(want.logprob, 9);
      for (const [i, t] of got.top.entries()) expect(t.logprob).toBeCloseTo(want.top[i].logprob, 9);
    }
  });

  it('gives probabilities that sum to one, and a finite floor for a banned token', () => {
    const row = Float32Array.from([2, 1, 0, Number.NEGATIVE_INFINITY]);
    const all = tokenLogprob(row, 3, 4);
    expect(all.top.reduce((sum, t) => sum + Math.exp(t.logprob), 0)).toBeCloseTo(1, 12);
    expect(all.logprob).toBe(LOGPROB_OF_ZERO);
    expect(all.top.map((t) => t.token)).toEqual([0, 1, 2, 3]);
  });

  it('stays finite for large logits (the maximum is subtracted before exp)', () => {
    const row = Float32Array.from([1000, 999, -1000]);
    const { logprob, top } = tokenLogprob(row, 1, 1);
    expect(logprob).toBeCloseTo(999 - (1000 + Math.log(1 + Math.exp(-1))), 9);
    expect(top).toEqual([{ token: 0, logprob: expect.closeTo(-Math.log(1 + Math.exp(-1)), 9) }]);
  });
});
