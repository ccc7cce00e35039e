/**
 * The reference Gated DeltaNet's pieces against what they are defined to do: the delta rule's
 * recall (a state that has just learnt (k, v) with beta 1 answers v for k), its update written
 * out as matrices, key heads serving value heads as repeat_interleave has them, the causal
 * convolution's taps, and the norms. Tolerances are float32 rounding (1e-6 relative).
 */

import { describe, expect, it } from 'vitest';
import type { LinearAttention } from '../loader/config';
import { Rng } from '../util/rng';
import { causalConvRow, deltaRuleStep, gatedRmsNorm, l2normHeads, sigmoid, softplus } from './gated-delta';

const random = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);

describe('gated delta rule', () => {
  it('recalls the value it has just learnt with beta 1, for a unit key', () => {
    const shape: LinearAttention = { keyHeads: 1, valueHeads: 1, keyDim: 8, valueDim: 4, convKernel: 4 };
    const rng = new Rng(1);
    const state = random(rng, 8 * 4); // whatever it held before
    const k = l2normHeads(random(rng, 8), 1);
    const v = random(rng, 4);
    const o = deltaRuleStep(shape, state, k, k, v, Float32Array.of(0.7), Float32Array.of(1));
    for (let c = 0; c < 4; c++) expect(o[c]).toBeCloseTo(v[c], 5);
  });

  it('is S = d S + k (beta (v - d S^T k))^T and o = S^T q, written out', () => {
    const shape: LinearAttention = { keyHeads: 1, valueHeads: 1, keyDim: 6, valueDim: 5, convKernel: 4 };
    const rng = new Rng(2);
    const before = random(rng, 30);
    const [q, k, v] = [random(rng, 6), random(rng, 6), random(rng, 5)];
    const [d, beta] = [0.8, 0.3];
    const state = before.slice();
    const o = deltaRuleStep(shape, state, q, k, v, Float32Array.of(d), Float32Array.of(beta));
    for (let c = 0; c < 5; c++) {
      let recalled = 0;
      for (let r = 0; r < 6; r++) recalled += d * before[r * 5 + c] * k[r];
      let answer = 0;
      for (let r = 0; r < 6; r++) {
        const expected = d * before[r * 5 + c] + k[r] * beta * (v[c] - recalled);
        expect(state[r * 5 + c]).toBeCloseTo(expected, 5);
        answer += expected * q[r];
      }
      expect(o[c]).toBeCloseTo(answer, 5);
    }
  });

  it('gives value head h the key head h / (valueHeads / keyHeads), as repeat_interleave does', () => {
    const shape: LinearAttention = { keyHeads: 2, valueHeads: 4, keyDim: 4, valueDim: 2, convKernel: 4 };
    const rng = new Rng(3);
    const [q, k, v] = [random(rng, 8), random(rng, 8), random(rng, 8)];
    const decay = Float32Array.of(0.9, 0.8, 0.7, 0.6);
    const beta = Float32Array.of(0.5, 0.4, 0.3, 0.2);
    const together = deltaRuleStep(shape, new Float32Array(4 * 4 * 2), q, k, v, decay, beta);
    const one: LinearAttention = { keyHeads: 1, valueHeads: 1, keyDim: 4, valueDim: 2, convKernel: 4 };
    for (let h = 0; h < 4; h++) {
      const kh = Math.floor(h / 2) * 4;
      const alone = deltaRuleStep(
        one,
        new Float32Array(8),
        q.subarray(kh, kh + 4),
        k.subarray(kh, kh + 4),
        v.subarray(h * 2, h * 2 + 2),
        decay.subarray(h, h + 1),
        beta.subarray(h, h + 1),
      );
      expect(Array.from(together.subarray(h * 2, h * 2 + 2))).toEqual(Array.from(alone));
    }
    // llama.cpp's GGUF files order value heads tiled: value head h reads key head h mod keyHeads.
    const tiled = deltaRuleStep({ ...shape, valueHeadOrder: 'tiled' }, new Float32Array(64), q, k, v, decay, beta);
    const alone = deltaRuleStep(
      one,
      new Float32Array(8),
      q.subarray(4, 8),
      k.subarray(4, 8),
      v.subarray(2, 4),
      decay.subarray(1, 2),
      beta.subarray(1, 2),
    );
    expect(Array.from(tiled.subarray(2, 4))).toEqual(Array.from(alone)); // value head 1, key head 1
  });
});

describe('the layer around it', () => {
  it('convolves each channel over the last rows, the newest on the last tap, zeros before the start', () => {
    // Two channels, three taps: weights (1, 2, 3) and (-1, 0, 1).
    const weight = Float32Array.of(1, 2, 3, -1, 0, 1);
    const rows = [undefined, Float32Array.of(0.5, 2), Float32Array.of(0.25, -1)];
    const out = causalConvRow(rows, weight, 3);
    const silu = (x: number) => x * sigmoid(x);
    expect(out[0]).toBeCloseTo(silu(2 * 0.5 + 3 * 0.25), 6);
    expect(out[1]).toBeCloseTo(silu(-1), 6);
  });

  it('l2-normalises each head (with eps inside the root) and scales it', () => {
    const x = Float32Array.of(3, 4, 0, 0, 1, 1);
    l2normHeads(x, 2, 1e-6, 2);
    expect(x[0]).toBeCloseTo((2 * 3) / Math.sqrt(25 + 1e-6), 6);
    expect(x[1]).toBeCloseTo((2 * 4) / Math.sqrt(25 + 1e-6), 6);
    expect(Array.from(x.subarray(2, 4))).toEqual([0, 0]); // a zero head stays zero, not NaN
    expect(x[4]).toBeCloseTo(2 / Math.sqrt(2 + 1e-6), 6);
  });

  it('norms each head of o by its RMS, weights it and gates it by silu(z)', () => {
    const o = Float32Array.of(1, -3, 2, 2);
    const z = Float32Array.of(0, 1, -2, 5);
    const w = Float32Array.of(0.5, 2);
    const out = gatedRmsNorm(o, z, w, 1e-6);
    const silu = (x: number) => x * sigmoid(x);
    const rms1 = Math.sqrt((1 + 9) / 2 + 1e-6);
    const rms2 = Math.sqrt((4 + 4) / 2 + 1e-6);
    expect(out[0]).toBeCloseTo(0, 7); // silu(0) = 0
    expect(out[1]).toBeCloseTo((-3 / rms1) * 2 * silu(1), 6);
    expect(out[2]).toBeCloseTo((2 / rms2) * 0.5 * silu(-2), 6);
    expect(out[3]).toBeCloseTo((2 / rms2) * 2 * silu(5), 6);
  });

  it('takes softplus as PyTorch does: log(1 + e^x), and x itself above 20', () => {
    expect(softplus(0)).toBeCloseTo(Math.LN2, 12);
    expect(softplus(-30)).toBeCloseTo(Math.exp(-30), 20);
    expect(softplus(25)).toBe(25);
    expect(softplus(3)).toBeCloseTo(Math.log(1 + Math.exp(3)), 12);
  });
});
