import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng';
import { argmax, distribution, sample } from './sampling';

describe('sampling', () => {
  const logits = Float32Array.from([1, 3, 2, 0.5]);

  it('greedy puts all mass on the argmax, the lowest id among ties', () => {
    expect(Array.from(distribution(logits, { temperature: 0, topK: 0, topP: 1 }))).toEqual([0, 1, 0, 0]);
    expect(argmax(Float32Array.from([2, 5, 5]))).toBe(1);
  });

  it('applies temperature as softmax(logits / T)', () => {
    const p = distribution(logits, { temperature: 0.5, topK: 0, topP: 1 });
    const e = Array.from(logits, (l) => Math.exp(l / 0.5));
    const z = e.reduce((a, b) => a + b);
    e.forEach((v, i) => {
      expect(p[i]).toBeCloseTo(v / z, 12);
    });
  });

  it('keeps the top k and renormalises', () => {
    const p = distribution(logits, { temperature: 1, topK: 2, topP: 1 });
    expect(p[0]).toBe(0);
    expect(p[3]).toBe(0);
    expect(p[1] + p[2]).toBeCloseTo(1, 12);
    expect(p[1] / p[2]).toBeCloseTo(Math.E, 10);
  });

  it('keeps the smallest set whose mass reaches top p', () => {
    const p = distribution(logits, { temperature: 1, topK: 0, topP: 0.6 });
    expect(Array.from(p).filter((v) => v > 0).length).toBe(1); // the top token alone holds ~0.61
    const q = distribution(logits, { temperature: 1, topK: 0, topP: 0.9 });
    expect(Array.from(q).filter((v) => v > 0).length).toBe(3);
  });

  it('draws tokens with the given probabilities (within 5 standard deviations)', () => {
    const probs = Float64Array.from([0.1, 0.6, 0.3, 0]);
    const rng = new Rng(5);
    const counts = [0, 0, 0, 0];
    const n = 50_000;
    for (let i = 0; i < n; i++) counts[sample(probs, rng)]++;
    probs.forEach((p, i) => {
      expect(Math.abs(counts[i] - n * p)).toBeLessThanOrEqual(5 * Math.sqrt(n * p * (1 - p)));
    });
  });
});
