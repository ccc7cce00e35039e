/**
 * Models with random weights in any shape: for tests (tiny vocabularies whose distributions
 * can be enumerated) and for benchmarks in the exact shapes of real checkpoints, where the
 * timings are real and the text is not. Nothing is downloaded; the weights come from a seed.
 */

import { type ModelConfig, parseModelConfig } from '../loader/config';
import { EAGLE3_ARCHITECTURE, expectedHeadTensors } from '../loader/eagle';
import { f32ToF16 } from '../loader/half';
import { mtpHeadConfig, mtpTensors } from '../loader/mtp';
import { packNibbles, Q4_GROUP, quantizeQ4 } from '../loader/q4';
import { encodeSafetensors, type TensorToWrite } from '../loader/safetensors-writer';
import { expectedTensors } from '../loader/tensor-names';
import type { ModelWeights, WeightDType } from '../loader/weights';
import { Rng } from '../util/rng';

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
    // Norms near 1: weights near 1, or near 0 where the norm scales by 1 + w (Gemma).
    if (name.endsWith('norm.weight')) values = rng.floats(count, 0.8 - config.normOffset, 1.2 - config.normOffset);
    else if (name.endsWith('.bias')) values = rng.floats(count, -0.1, 0.1);
    else {
      const bound = name.includes('embed_tokens') ? 1 : Math.sqrt(3 / shape[1]);
      values = rng.floats(count, -bound, bound);
    }
    const isMatrix = shape.length === 2;
    if (isMatrix && dtype === 'F16') {
      weights.set(name, { name, dtype, shape, data: Uint16Array.from(values, f32ToF16) });
    } else if (isMatrix && (dtype === 'Q4F16' || dtype === 'Q4F32')) {
      const { weights: data, scales } = quantizeQ4(values, shape[0], shape[1], dtype === 'Q4F16' ? 'F16' : 'F32');
      weights.set(name, { name, dtype, shape, data, scales });
    } else {
      weights.set(name, { name, dtype: 'F32', shape, data: values });
    }
  }
  return weights;
}

/**
 * Weights for timing only, in the shapes of real checkpoints (up to billions of values): each
 * f16 matrix is tiled from a pool of 64 Ki random values drawn with the same bounds as
 * `randomWeights`, copied in blocks at random offsets (q4: random 4-bit values likewise, with
 * one scale that gives the same variance). That takes a memory copy's time instead of minutes
 * of drawing every value; a kernel's speed does not depend on the values it reads.
 */
export function timingWeights(
  config: ModelConfig,
  seed: number,
  dtype: 'F16' | 'Q4F16' = 'F16',
  shapes: Map<string, number[]> = expectedTensors(config),
): ModelWeights {
  const rng = new Rng(seed);
  const weights: ModelWeights = new Map();
  const POOL = 1 << 16;
  const BLOCK = 1 << 12;
  for (const [name, shape] of shapes) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (shape.length !== 2) {
      const norm = 1 - config.normOffset;
      const values = name.endsWith('.bias') ? rng.floats(count, -0.1, 0.1) : rng.floats(count, norm - 0.2, norm + 0.2);
      weights.set(name, { name, dtype: 'F32', shape, data: values });
      continue;
    }
    const bound = name.includes('embed_tokens') ? 1 : Math.sqrt(3 / shape[1]);
    if (dtype === 'Q4F16') {
      weights.set(name, { name, dtype, shape, ...timingQ4(rng, count, bound) });
      continue;
    }
    const pool = Uint16Array.from(rng.floats(POOL + BLOCK, -bound, bound), f32ToF16);
    const data = new Uint16Array(count);
    for (let at = 0; at < count; at += BLOCK) {
      const from = rng.int(0, POOL);
      data.set(pool.subarray(from, from + Math.min(BLOCK, count - at)), at);
    }
    weights.set(name, { name, dtype: 'F16', shape, data });
  }
  return weights;
}

/**
 * q4f16_1 matrices of `count` values for timing: 4-bit values uniform over the format's 0..14
 * (zero at 7), in blocks of a pool at random offsets as the f16 matrices are, and one scale,
 * bound / sqrt(56), for every group. q - 7 is uniform over -7..7 with variance 56 / 3, so the
 * weights have the variance of uniform +-bound, bound^2 / 3, and mean zero. A mean off zero
 * (values drawn over all of 0..15 average 7.5) is not harmless: a head that feeds its own
 * hidden state back without a norm (EAGLE-1) grows it by a constant factor every step until it
 * overflows.
 */
function timingQ4(rng: Rng, count: number, bound: number) {
  const POOL = 1 << 14;
  const BLOCK = 1 << 9;
  const pool = packNibbles(Uint8Array.from({ length: 8 * (POOL + BLOCK) }, () => rng.int(0, 15)));
  const data = new Uint32Array(count / 8);
  for (let at = 0; at < data.length; at += BLOCK) {
    const from = rng.int(0, POOL);
    data.set(pool.subarray(from, from + Math.min(BLOCK, data.length - at)), at);
  }
  const scales = new Uint16Array(count / Q4_GROUP).fill(f32ToF16(bound / Math.sqrt(56)));
  return { data, scales };
}

export function randomModel(fields: Record<string, unknown>, seed: number, dtype: WeightDType = 'F32') {
  const config = parseModelConfig(llamaConfigJson(fields), 'random model');
  return { config, weights: randomWeights(config, seed, dtype) };
}

/**
 * The files of an EAGLE-3 head for `target` with random weights (config.json and
 * model.safetensors, as published heads lay them out): its draft vocabulary is every
 * `stride`-th target id, its layer as wide as the target's, reading `layerIds`.
 */
export function randomEagleHeadFiles(
  target: ModelConfig,
  options: { layerIds: number[]; stride: number; seed: number },
): Record<string, string | Uint8Array> {
  const rng = new Rng(options.seed);
  const { hiddenSize: d, intermediateSize: f, numHeads: nh, numKvHeads: nkv, headDim: hd, vocabSize } = target;
  const draftVocab = Math.ceil(vocabSize / options.stride);
  const matrix = (rows: number, cols: number): TensorToWrite => {
    const bound = Math.sqrt(3 / cols);
    return { dtype: 'F32', shape: [rows, cols], data: rng.floats(rows * cols, -bound, bound) };
  };
  const norm = (): TensorToWrite => ({ dtype: 'F32', shape: [d], data: rng.floats(d, 0.8, 1.2) });
  const d2t = BigInt64Array.from({ length: draftVocab }, (_, i) => BigInt(i * options.stride - i));
  const tensors: Record<string, TensorToWrite> = {
    'fc.weight': matrix(d, 3 * d),
    'midlayer.hidden_norm.weight': norm(),
    'midlayer.input_layernorm.weight': norm(),
    'midlayer.self_attn.q_proj.weight': matrix(nh * hd, 2 * d),
    'midlayer.self_attn.k_proj.weight': matrix(nkv * hd, 2 * d),
    'midlayer.self_attn.v_proj.weight': matrix(nkv * hd, 2 * d),
    'midlayer.self_attn.o_proj.weight': matrix(d, nh * hd),
    'midlayer.post_attention_layernorm.weight': norm(),
    'midlayer.mlp.gate_proj.weight': matrix(f, d),
    'midlayer.mlp.up_proj.weight': matrix(f, d),
    'midlayer.mlp.down_proj.weight': matrix(d, f),
    'norm.weight': norm(),
    'lm_head.weight': matrix(draftVocab, d),
    d2t: { dtype: 'I64', shape: [draftVocab], data: d2t },
  };
  const config = llamaConfigJson({
    architectures: [EAGLE3_ARCHITECTURE],
    vocab_size: vocabSize,
    draft_vocab_size: draftVocab,
    hidden_size: d,
    intermediate_size: f,
    num_hidden_layers: 1,
    num_attention_heads: nh,
    num_key_value_heads: nkv,
    head_dim: hd,
    eagle_aux_hidden_state_layer_ids: options.layerIds,
  });
  return { 'config.json': JSON.stringify(config), 'model.safetensors': encodeSafetensors(tensors) };
}

/**
 * An EAGLE head for a target of `target`'s shape, with timing weights (`timingWeights`) and its
 * own copy of an embedding of the target's shape: for benchmarks of a head's step. EAGLE-3's
 * layout has an LM head over `draftVocab` ids (its fc is the target's to apply); EAGLE-1's
 * applies its fc itself and reads through an LM head of the target's shape (the target's own);
 * an MTP layer (loader/mtp.ts) is one of the target's attention layers after fc over two norms,
 * then its final norm and the target's LM head.
 */
export function timingEagleHead(
  target: ModelConfig,
  head: { layout: 'eagle3'; draftVocab: number } | { layout: 'eagle1' } | { layout: 'mtp' },
  seed: number,
  dtype: 'F16' | 'Q4F16' = 'F16',
) {
  if (head.layout === 'mtp') {
    const config = { ...mtpHeadConfig(target, 'timing'), tieWordEmbeddings: false };
    const shapes = new Map([...mtpTensors(config)].map(([name, { shape }]) => [name, shape]));
    shapes.set('model.embed_tokens.weight', [target.vocabSize, target.hiddenSize]);
    shapes.set('lm_head.weight', [target.vocabSize, target.hiddenSize]);
    return { config, weights: timingWeights(config, seed, dtype, shapes) };
  }
  const config: ModelConfig = {
    ...target,
    numLayers: 1,
    layers: target.layers.slice(0, 1),
    vocabSize: head.layout === 'eagle3' ? head.draftVocab : target.vocabSize,
    tieWordEmbeddings: false,
    hiddenInput: head.layout,
  };
  const shapes = expectedHeadTensors(config);
  if (head.layout === 'eagle3')
    shapes.delete('fc.weight'); // the target applies it
  else shapes.set('lm_head.weight', [target.vocabSize, target.hiddenSize]);
  shapes.set('model.embed_tokens.weight', [target.vocabSize, target.hiddenSize]);
  return { config, weights: timingWeights(config, seed, dtype, shapes) };
}
