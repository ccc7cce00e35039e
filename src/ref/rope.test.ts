/** Partial RoPE as the GPU lays it out: each head permuted by rotaryOrder, then turned as whole heads are. */

import { describe, expect, it } from 'vitest';
import type { Rope } from '../loader/config';
import { applyRope } from './ops';
import { ropeTables, rotaryOrder } from './rope';

describe('partial RoPE in the GPU order', () => {
  it('turns every pair as transformers does, and passes the rest, bit for bit', () => {
    for (const [hd, rotaryDim] of [
      [16, 12], // the fixture's heads: three quarters turned, as Phi-4-mini's 96 of 128
      [128, 96],
      [16, 16], // whole heads: the order is the identity
    ]) {
      const heads = 3;
      // LongRoPE switching to its long factors at position 5: one factor per turned frequency.
      const factors = (step: number) => Array.from({ length: rotaryDim / 2 }, (_, i) => 1 + i * step);
      const rope: Rope = {
        theta: 10000,
        scaling: {
          type: 'longrope',
          short: factors(0.1),
          long: factors(2),
          originalMaxPositions: 5,
          attentionFactor: 1.2,
        },
      };
      const tables = ropeTables(rope, hd, 9, rotaryDim);
      const order = rotaryOrder(hd, rotaryDim);
      expect([...order].sort((a, b) => a - b)).toEqual([...order.keys()]);
      for (const position of [0, 4, 8]) {
        const x = Float32Array.from({ length: heads * hd }, (_, i) => Math.sin(i * 1.7 + position));
        const want = x.slice();
        applyRope(want, heads, position, tables.cos, tables.sin, rotaryDim);
        // On the GPU: permuted rows, every pair (i, i + hd/2) turned, read back in the file's order.
        const permuted = x.map((_, j) => x[j - (j % hd) + order[j % hd]]);
        applyRope(permuted, heads, position, tables.cos, tables.sin);
        const got = new Float32Array(x.length);
        permuted.forEach((v, j) => {
          got[j - (j % hd) + order[j % hd]] = v;
        });
        expect(want.every(Number.isFinite)).toBe(true);
        expect(got).toEqual(want);
        // The values past rotaryDim pass as they are.
        for (let h = 0; h < heads; h++) {
          expect(want.subarray(h * hd + rotaryDim, (h + 1) * hd)).toEqual(x.subarray(h * hd + rotaryDim, (h + 1) * hd));
        }
      }
      if (rotaryDim === hd) expect([...order]).toEqual([...order.keys()]);
    }
  });
});
