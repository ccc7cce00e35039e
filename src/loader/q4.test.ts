/** MLC's 4-bit group quantization: the packing, the scales, and the values they stand for. */

import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng';
import { f16ToF32 } from './half';
import { dequantizeQ4, quantizeQ4 } from './q4';

describe('q4 quantization', () => {
  it('packs value j at bits 4 (j % 8) of word j / 8, q = round(w / scale) + 7, scale = max |w| / 7', () => {
    // One group: max |w| = 7, so the scale is 1 and q = w + 7 exactly.
    const values = Float32Array.from({ length: 32 }, (_, j) => (j % 15) - 7);
    const { weights, scales } = quantizeQ4(values, 1, 32, 'F32');
    expect(Array.from(scales)).toEqual([1]);
    for (let j = 0; j < 32; j++) expect((weights[j >>> 3] >>> (4 * (j & 7))) & 15).toBe(j % 15);
    expect(weights[0]).toBe(0x76543210);
    expect(dequantizeQ4({ weights, scales }, 1, 32)).toEqual(values);
  });

  it('rounds each value to its group grid, within half a step, with f16 or f32 scales', () => {
    const rng = new Rng(3);
    const rows = 5;
    const k = 96;
    const values = rng.floats(rows * k, -2, 2);
    for (const scaleType of ['F16', 'F32'] as const) {
      const q4 = quantizeQ4(values, rows, k, scaleType);
      expect(q4.weights.length).toBe((rows * k) / 8);
      expect(q4.scales.length).toBe((rows * k) / 32);
      const back = dequantizeQ4(q4, rows, k);
      for (let j = 0; j < values.length; j++) {
        const group = Math.floor(j / 32);
        const scale = q4.scales instanceof Uint16Array ? f16ToF32(q4.scales[group]) : q4.scales[group];
        let max = 0;
        for (let i = 0; i < 32; i++) max = Math.max(max, Math.abs(values[group * 32 + i]));
        expect(scale).toBeCloseTo(max / 7, scaleType === 'F16' ? 3 : 6);
        expect(Math.abs(back[j] - values[j])).toBeLessThanOrEqual(scale / 2 + 1e-6);
      }
    }
  });

  it('keeps an all-zero group at zero, and refuses a k that splits a group', () => {
    const { weights, scales } = quantizeQ4(new Float32Array(32), 1, 32, 'F16');
    expect(dequantizeQ4({ weights, scales }, 1, 32).every((v) => v === 0)).toBe(true);
    expect(() => quantizeQ4(new Float32Array(48), 1, 48, 'F16')).toThrow(/multiple of 32/);
  });
});
