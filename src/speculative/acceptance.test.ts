/**
 * The acceptance rule's promise, tested on its own: whatever the draft's q, the token that comes
 * out is distributed as the target's p. Over a small vocabulary, many draws of candidates and
 * the rule's verdict are counted and compared with p by a chi-square test (fixed seeds:
 * deterministic), for one candidate, and for a tree's two or three drawn without replacement.
 */

import { describe, expect, it } from 'vitest';
import { sample, without } from '../sampling/sampling';
import { chiSquare } from '../testing/spec';
import { Rng } from '../util/rng';
import { acceptAmong } from './acceptance';

const P = Float64Array.of(0.3, 0.25, 0.2, 0.12, 0.08, 0.05);
/** A draft unlike the target: sure of token 4, which the target seldom picks. */
const Q = Float64Array.of(0.1, 0.15, 0.05, 0.1, 0.5, 0.1);
const DRAWS = 20_000;
/** 5 degrees of freedom: P(chi2 > 20.5) = 0.001. */
const CRITICAL = 20.5;

/** Counts of the rule's output over DRAWS steps whose `count` candidates are drawn from Q without replacement. */
function outputs(count: number, seed: number) {
  const rng = new Rng(seed);
  const counts = new Array<number>(P.length).fill(0);
  const taken = new Array<number>(count).fill(0);
  for (let n = 0; n < DRAWS; n++) {
    const candidates: number[] = [];
    while (candidates.length < count) candidates.push(sample(without(Q, candidates), rng));
    const { index, token } = acceptAmong(P, Q, candidates, rng);
    counts[token]++;
    if (index >= 0) taken[index]++;
  }
  return { counts, taken };
}

describe('the acceptance rule', () => {
  it('one candidate drawn from q: the output is distributed as p', () => {
    const { counts } = outputs(1, 1);
    expect(chiSquare(counts, P)).toBeLessThan(CRITICAL);
  });

  it("a tree's two candidates, drawn without replacement: the output is distributed as p, and the second is taken", () => {
    const { counts, taken } = outputs(2, 2);
    expect(chiSquare(counts, P)).toBeLessThan(CRITICAL);
    expect(taken[1]).toBeGreaterThan(DRAWS / 10); // the second candidate's turn was exercised
  });

  it("a wider tree's three candidates, drawn without replacement: the output is distributed as p, and the third is taken", () => {
    const { counts, taken } = outputs(3, 4);
    expect(chiSquare(counts, P)).toBeLessThan(CRITICAL);
    expect(taken[2]).toBeGreaterThan(DRAWS / 20); // the third candidate's turn was exercised
  });

  it('a second candidate that repeats the first (nothing else had mass) is never taken', () => {
    const sure = Float64Array.of(0, 1, 0, 0, 0, 0);
    const rng = new Rng(3);
    for (let n = 0; n < 200; n++) expect(acceptAmong(P, sure, [1, 1], rng).index).not.toBe(1);
  });
});
