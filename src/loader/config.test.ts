/** config.json parsing for the checkpoints Tandem targets, and refusals by name. */

import { describe, expect, it } from 'vitest';
import { expectedTensors, parseModelConfig, ropeInverseFrequencies } from './config';

// Trimmed from the published config.json files of these checkpoints.
const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  tie_word_embeddings: true,
  vocab_size: 49152,
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: 'silu',
};
const LLAMA_32_1B = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: {
    factor: 32,
    high_freq_factor: 4,
    low_freq_factor: 1,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  tie_word_embeddings: true,
  vocab_size: 128256,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
};

describe('parseModelConfig', () => {
  it('reads a SmolLM2 config: GQA, tied embeddings, head_dim derived', () => {
    const config = parseModelConfig(SMOLLM2_135M);
    expect(config).toMatchObject({ numHeads: 9, numKvHeads: 3, headDim: 64, tieWordEmbeddings: true });
    expect(config.eosTokenIds).toEqual([0]);
    expect(expectedTensors(config).has('lm_head.weight')).toBe(false);
    expect(expectedTensors(config).get('model.layers.29.self_attn.k_proj.weight')).toEqual([192, 576]);
  });

  it('reads Llama 3 RoPE scaling: long wavelengths slowed by the factor, short ones kept', () => {
    const config = parseModelConfig(LLAMA_32_1B);
    expect(config.eosTokenIds).toEqual([128001, 128008, 128009]);
    const inv = ropeInverseFrequencies(config);
    expect(inv[0]).toBe(1); // wavelength 2 pi: far below highWavelen, unchanged
    const plain = 1 / 500000 ** (62 / 64);
    expect(inv[31]).toBeCloseTo(plain / 32, 15); // the longest wavelength: divided by 32
  });

  it('gives Qwen2 its q/k/v biases', () => {
    const config = parseModelConfig({ ...SMOLLM2_135M, architectures: ['Qwen2ForCausalLM'] });
    expect(config.attentionBias).toBe(true);
    expect(expectedTensors(config).get('model.layers.0.self_attn.q_proj.bias')).toEqual([576]);
  });

  it('refuses an unknown architecture by name', () => {
    const error = (() => {
      try {
        parseModelConfig({ ...SMOLLM2_135M, architectures: ['GPT2LMHeadModel'] });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.name).toBe('UnsupportedArchitectureError');
    expect(error?.message).toMatch(/GPT2LMHeadModel.*LlamaForCausalLM/);
  });

  it('refuses a missing or bad field, naming it', () => {
    const { hidden_size: _, ...noHidden } = SMOLLM2_135M;
    expect(() => parseModelConfig(noHidden)).toThrow(/"hidden_size" must be a positive integer/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, num_key_value_heads: 4 })).toThrow(/not a multiple/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, hidden_act: 'gelu' })).toThrow(/gelu/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { rope_type: 'yarn' } })).toThrow(/yarn/);
  });
});
