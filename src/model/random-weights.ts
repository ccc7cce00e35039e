/**
 * Models with random weights in any shape: for tests (tiny vocabularies whose distributions
 * can be enumerated) and for benchmarks in the exact shapes of real checkpoints, where the
 * timings are real and the text is not. Nothing is downloaded; the weights come from a seed.
 */

import { f32ToF16 } from '../loader/half';
import type { ModelWeights, WeightDType } from '../loader/weights';
import { Rng } from '../util/rng';
import { expectedTensors, type ModelConfig, parseModelConfig } from './config';

/** A config.json object for a Llama-family model: the fields a checkpoint would have. */
export function llamaConfigJson(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    hidden_act: 'silu',
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 2048,
    tie_word_embeddings: false,
    ...fields,
  };
}

/**
 * Weights with the scale of a trained model (so activations stay in range): matrices uniform
 * in +-sqrt(3 / fan_in) (unit variance out for unit variance in), norms near 1, small biases.
 */
export function randomWeights(config: ModelConfig, seed: number, dtype: WeightDType = 'F32'): ModelWeights {
  const rng = new Rng(seed);
  const weights: ModelWeights = new Map();
  for (const [name, shape] of expectedTensors(config)) {
    const count = shape.reduce((a, b) => a * b, 1);
    let values: Float32Array;
    if (name.endsWith('norm.weight')) values = rng.floats(count, 0.8, 1.2);
    else if (name.endsWith('.bias')) values = rng.floats(count, -0.1, 0.1);
    else {
      const bound = name.includes('embed_tokens') ? 1 : Math.sqrt(3 / shape[1]);
      values = rng.floats(count, -bound, bound);
    }
    const isMatrix = shape.length === 2;
    if (isMatrix && dtype === 'F16') {
      weights.set(name, { name, dtype, shape, data: Uint16Array.from(values, f32ToF16) });
    } else {
      weights.set(name, { name, dtype: 'F32', shape, data: values });
    }
  }
  return weights;
}

export function randomModel(fields: Record<string, unknown>, seed: number, dtype: WeightDType = 'F32') {
  const config = parseModelConfig(llamaConfigJson(fields), 'random model');
  return { config, weights: randomWeights(config, seed, dtype) };
}
