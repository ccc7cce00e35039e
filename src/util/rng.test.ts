import { describe, expect, it } from 'vitest';
import { Rng } from './rng';

describe('Rng', () => {
  it('is reproducible from its seed and differs between seeds', () => {
    const a = Array.from({ length: 5 }, () => 0).map(
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(7)),
    );
    const b = Array.from({ length: 5 }, () => 0).map(
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(7)),
    );
    const c = Array.from({ length: 5 }, () => 0).map(
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(8)),
    );
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('is uniform on [0, 1): bucket counts within 5 standard deviations', () => {
    const rng = new Rng(42);
    const buckets = new Array(10).fill(0);
    const n = 100_000;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      if (!(u >= 0 && u < 1)) outside++;
      else buckets[Math.floor(u * 10)]++;
    }
    expect(outside).toBe(0);
    const sd = Math.sqrt(n * 0.1 * 0.9);
    for (const count of buckets) expect(Math.abs(count - n / 10)).toBeLessThan(5 * sd);
  });
});
