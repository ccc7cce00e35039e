/**
 * Timing weights stand in for trained ones in the benchmark's real shapes: their values must
 * have the statistics `randomWeights` gives (mean zero, the variance of uniform +-bound), or a
 * model that feeds its own output back (an EAGLE-1 head) grows until it overflows.
 */

import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../loader/config';
import { f16ToF32 } from '../loader/half';
import { dequantizeQ4 } from '../loader/q4';
import type { WeightTensor } from '../loader/weights';
import { llamaConfigJson, timingWeights } from './random-weights';

const config = parseModelConfig(
  llamaConfigJson({
    vocab_size: 512,
    hidden_size: 256,
    intermediate_size: 512,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  }),
  'timing test',
);

function moments(values: ArrayLike<number>) {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    squares += values[i] * values[i];
  }
  const mean = sum / values.length;
  return { mean, variance: squares / values.length - mean * mean };
}

describe('timing weights', () => {
  for (const dtype of ['F16', 'Q4F16'] as const) {
    it(`${dtype}: matrices have mean zero and the variance of uniform +-sqrt(3 / fan_in)`, () => {
      const weights = timingWeights(config, 1, dtype);
      const down = weights.get('model.layers.0.mlp.down_proj.weight') as WeightTensor;
      const [rows, k] = down.shape;
      const values =
        dtype === 'F16'
          ? Float32Array.from(down.data as Uint16Array, f16ToF32)
          : dequantizeQ4({ weights: down.data as Uint32Array, scales: down.scales as Uint16Array }, rows, k);
      const bound = Math.sqrt(3 / k);
      const { mean, variance } = moments(values);
      // 131,072 values: the sample mean's standard error is bound / 627, the variance's under 0.3%.
      expect(Math.abs(mean)).toBeLessThan(0.01 * bound);
      expect(variance / ((bound * bound) / 3)).toBeGreaterThan(0.97);
      expect(variance / ((bound * bound) / 3)).toBeLessThan(1.03);
    });
  }

  it('Q4F16: every 4-bit value is within q4f16_1 range, 0..14', () => {
    const weights = timingWeights(config, 2, 'Q4F16');
    const words = weights.get('model.layers.0.self_attn.q_proj.weight')?.data as Uint32Array;
    let largest = 0;
    for (const word of words) for (let j = 0; j < 8; j++) largest = Math.max(largest, (word >>> (4 * j)) & 15);
    expect(largest).toBe(14);
  });
});
