/** config.json parsing for the checkpoints Tandem targets, and refusals by name. */

import { describe, expect, it } from 'vitest';
import { inverseFrequencies, queryScale, ropeTables } from '../ref/rope';
import { CONFIG_KEYS, parseModelConfig } from './config';
import { checkpointTensorName, expectedTensors } from './tensor-names';

// Trimmed from the published config.json files of these checkpoints.
const QWEN35_LAYER_TYPES = Array.from({ length: 24 }, (_, i) => (i % 4 === 3 ? 'full_attention' : 'linear_attention'));
/** Qwen/Qwen3.5-0.8B: a vision-language model's config, the text model under text_config. */
const QWEN35_08B = {
  architectures: ['Qwen3_5ForConditionalGeneration'],
  image_token_id: 248056,
  model_type: 'qwen3_5',
  text_config: {
    attention_bias: false,
    attention_dropout: 0.0,
    attn_output_gate: true,
    dtype: 'bfloat16',
    eos_token_id: 248044,
    full_attention_interval: 4,
    head_dim: 256,
    hidden_act: 'silu',
    hidden_size: 1024,
    initializer_range: 0.02,
    intermediate_size: 3584,
    layer_types: QWEN35_LAYER_TYPES,
    linear_conv_kernel_dim: 4,
    linear_key_head_dim: 128,
    linear_num_key_heads: 16,
    linear_num_value_heads: 16,
    linear_value_head_dim: 128,
    mamba_ssm_dtype: 'float32',
    max_position_embeddings: 262144,
    model_type: 'qwen3_5_text',
    mtp_num_hidden_layers: 1,
    mtp_use_dedicated_embeddings: false,
    num_attention_heads: 8,
    num_hidden_layers: 24,
    num_key_value_heads: 2,
    pad_token_id: null,
    partial_rotary_factor: 0.25,
    rms_norm_eps: 1e-6,
    rope_parameters: {
      mrope_interleaved: true,
      mrope_section: [11, 11, 10],
      partial_rotary_factor: 0.25,
      rope_theta: 10000000,
      rope_type: 'default',
    },
    tie_word_embeddings: true,
    use_cache: true,
    vocab_size: 248320,
  },
  tie_word_embeddings: true,
  transformers_version: '4.57.0.dev0',
  video_token_id: 248057,
  vision_config: { depth: 12, hidden_size: 768, model_type: 'qwen3_5', out_hidden_size: 1024 },
  vision_end_token_id: 248054,
  vision_start_token_id: 248053,
};

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
/** In the shape of SmolLM3-3B's config.json: RoPE left out of every fourth of its 36 layers. */
const SMOLLM3_3B = {
  architectures: ['SmolLM3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: null,
  eos_token_id: 128012,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 11008,
  layer_types: new Array(36).fill('full_attention'),
  max_position_embeddings: 65536,
  max_window_layers: 28,
  mlp_bias: false,
  model_type: 'smollm3',
  no_rope_layer_interval: 4,
  no_rope_layers: Array.from({ length: 36 }, (_, i) => ((i + 1) % 4 === 0 ? 0 : 1)),
  num_attention_heads: 16,
  num_hidden_layers: 36,
  num_key_value_heads: 4,
  pad_token_id: 128004,
  pretraining_tp: 2,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 5000000.0,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.54.0',
  use_cache: false,
  use_sliding_window: false,
  vocab_size: 128256,
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

// Published config.json files, trimmed of nothing but their size: every key kept.
const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.51.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};
/** google/gemma-2b-it's config.json. */
const GEMMA_2B = {
  architectures: ['GemmaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 2,
  eos_token_id: 1,
  head_dim: 256,
  hidden_act: 'gelu',
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 16384,
  max_position_embeddings: 8192,
  model_type: 'gemma',
  num_attention_heads: 8,
  num_hidden_layers: 18,
  num_key_value_heads: 1,
  pad_token_id: 0,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 10000.0,
  torch_dtype: 'bfloat16',
  transformers_version: '4.38.0.dev0',
  use_cache: true,
  vocab_size: 256000,
};
const GEMMA2_2B = {
  architectures: ['Gemma2ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: 50.0,
  bos_token_id: 2,
  cache_implementation: 'hybrid',
  eos_token_id: [1, 107],
  final_logit_softcapping: 30.0,
  head_dim: 256,
  hidden_act: 'gelu_pytorch_tanh',
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 2304,
  initializer_range: 0.02,
  intermediate_size: 9216,
  max_position_embeddings: 8192,
  model_type: 'gemma2',
  num_attention_heads: 8,
  num_hidden_layers: 26,
  num_key_value_heads: 4,
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  sliding_window: 4096,
  torch_dtype: 'float32',
  transformers_version: '4.42.4',
  use_cache: true,
  vocab_size: 256000,
};
const GEMMA3_1B = {
  architectures: ['Gemma3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: null,
  bos_token_id: 2,
  cache_implementation: 'hybrid',
  eos_token_id: [1, 106],
  final_logit_softcapping: null,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 1152,
  initializer_range: 0.02,
  intermediate_size: 6912,
  max_position_embeddings: 32768,
  model_type: 'gemma3_text',
  num_attention_heads: 4,
  num_hidden_layers: 26,
  num_key_value_heads: 1,
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: 512,
  sliding_window_pattern: 6,
  torch_dtype: 'bfloat16',
  transformers_version: '4.50.0.dev0',
  use_cache: true,
  vocab_size: 262144,
};
const PHI35_MINI = {
  architectures: ['Phi3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 1,
  embd_pdrop: 0.0,
  eos_token_id: 32000,
  hidden_act: 'silu',
  hidden_size: 3072,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  model_type: 'phi3',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  original_max_position_embeddings: 4096,
  pad_token_id: 32000,
  resid_pdrop: 0.0,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    long_factor: Array.from({ length: 48 }, (_, i) => 1 + i * 1.5),
    short_factor: Array.from({ length: 48 }, (_, i) => 1 + i * 0.02),
    type: 'longrope',
  },
  rope_theta: 10000.0,
  sliding_window: 262144,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.3',
  use_cache: true,
  vocab_size: 32064,
};

/** microsoft/Phi-4-mini-instruct's config.json: Phi-3 with RoPE over 96 of 128 values, GQA, tied. */
const PHI4_MINI = {
  ...PHI35_MINI,
  bos_token_id: 199999,
  eos_token_id: 199999,
  pad_token_id: 199999,
  full_attn_mod: 1,
  interpolate_factor: 1,
  lm_head_bias: false,
  num_attention_heads: 24,
  num_key_value_heads: 8,
  partial_rotary_factor: 0.75,
  rope_scaling: {
    long_factor: Array.from({ length: 48 }, (_, i) => 1.118 ** i),
    short_factor: Array(48).fill(1.0),
    type: 'longrope',
  },
  tie_word_embeddings: true,
  vocab_size: 200064,
};

/** Ministral-3-3B's text model (text_config of its Mistral3ForConditionalGeneration), as transformers 5 writes it. */
const MINISTRAL3_3B = {
  architectures: ['Ministral3ForCausalLM'],
  attention_dropout: 0.0,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 3072,
  initializer_range: 0.02,
  intermediate_size: 9216,
  max_position_embeddings: 262144,
  model_type: 'ministral3',
  num_attention_heads: 32,
  num_hidden_layers: 26,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_parameters: {
    beta_fast: 32.0,
    beta_slow: 1.0,
    factor: 16.0,
    llama_4_scaling_beta: 0.1,
    mscale: 1.0,
    mscale_all_dim: 1.0,
    original_max_position_embeddings: 16384,
    rope_theta: 1000000.0,
    rope_type: 'yarn',
    type: 'yarn',
  },
  sliding_window: null,
  tie_word_embeddings: true,
  use_cache: true,
  vocab_size: 131072,
};

/** OLMo-2-0425-1B's config.json. */
const OLMO2_1B = {
  architectures: ['Olmo2ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: null,
  eos_token_id: 100257,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 4096,
  model_type: 'olmo2',
  num_attention_heads: 16,
  num_hidden_layers: 16,
  num_key_value_heads: 16,
  pad_token_id: 100277,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 500000,
  tie_word_embeddings: false,
  torch_dtype: 'float32',
  transformers_version: '4.48.0',
  use_cache: true,
  vocab_size: 100352,
};

/** stablelm-2-zephyr-1_6b's config.json. */
const STABLELM2_16B = {
  architectures: ['StableLmForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 100257,
  eos_token_id: 100257,
  hidden_act: 'silu',
  hidden_dropout: 0.0,
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 4096,
  model_type: 'stablelm',
  num_attention_heads: 32,
  num_hidden_layers: 24,
  num_key_value_heads: 32,
  partial_rotary_factor: 0.25,
  qk_layernorm: false,
  rope_scaling: null,
  rope_theta: 10000,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  transformers_version: '4.38.0',
  use_cache: true,
  use_parallel_residual: false,
  use_qkv_bias: true,
  vocab_size: 100352,
};

/** phi-2's config.json. */
const PHI2 = {
  _name_or_path: 'microsoft/phi-2',
  architectures: ['PhiForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 50256,
  embd_pdrop: 0.0,
  eos_token_id: 50256,
  hidden_act: 'gelu_new',
  hidden_size: 2560,
  initializer_range: 0.02,
  intermediate_size: 10240,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  model_type: 'phi',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  partial_rotary_factor: 0.4,
  qk_layernorm: false,
  resid_pdrop: 0.1,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  transformers_version: '4.37.0',
  use_cache: true,
  vocab_size: 51200,
};

/** RedPajama-INCITE-Chat-3B-v1's config.json. */
const REDPAJAMA_3B = {
  architectures: ['GPTNeoXForCausalLM'],
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: 'gelu',
  hidden_size: 2560,
  initializer_range: 0.02,
  intermediate_size: 10240,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  model_type: 'gpt_neox',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  rotary_emb_base: 10000,
  rotary_pct: 1.0,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  transformers_version: '4.28.1',
  use_cache: true,
  use_parallel_residual: true,
  vocab_size: 50432,
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
    const inv = inverseFrequencies(config.ropes[0], config.headDim);
    expect(inv[0]).toBe(1); // wavelength 2 pi: far below highWavelen, unchanged
    const plain = 1 / 500000 ** (62 / 64);
    expect(inv[31]).toBeCloseTo(plain / 32, 15); // the longest wavelength: divided by 32
  });

  it("reads SmolLM3: Llama's layer, RoPE left out of the layers no_rope_layers marks (NoPE)", () => {
    const config = parseModelConfig(SMOLLM3_3B);
    expect(config).toMatchObject({ architecture: 'SmolLM3ForCausalLM', headDim: 128, qkvBias: false, unknownKeys: [] });
    expect(config.ropes).toEqual([
      { theta: 5000000, scaling: { type: 'default' } },
      { theta: 5000000, scaling: { type: 'default' }, passes: true },
    ]);
    const nope = config.layers.flatMap((l, i) => (l.rope === 1 ? [i] : []));
    expect(nope).toEqual([3, 7, 11, 15, 19, 23, 27, 31, 35]);
    expect(config.layers.every((l) => l.window === null)).toBe(true);
    // Without the list: every no_rope_layer_interval-th layer, as transformers fills it in (4 by default).
    const { no_rope_layers: _, ...interval } = SMOLLM3_3B;
    expect(parseModelConfig(interval).layers).toEqual(config.layers);
    const every2 = parseModelConfig({ ...interval, no_rope_layer_interval: 2 });
    expect(every2.layers.filter((l) => l.rope === 1)).toHaveLength(18);
    const none = parseModelConfig({ ...SMOLLM3_3B, no_rope_layers: new Array(36).fill(1) });
    expect(none.ropes).toHaveLength(1);
    expect(() => parseModelConfig({ ...SMOLLM3_3B, no_rope_layers: [1, 0] })).toThrow(/no_rope_layers must be/);
    expect(() => parseModelConfig({ ...interval, no_rope_layer_interval: 0 })).toThrow(/no_rope_layer_interval/);
    // A window where its layer_types say so.
    const windowed = parseModelConfig({
      ...SMOLLM3_3B,
      sliding_window: 4096,
      layer_types: Array.from({ length: 36 }, (_, i) => (i < 28 ? 'full_attention' : 'sliding_attention')),
    });
    expect(windowed.layers.map((l) => l.window)).toEqual([...new Array(28).fill(null), ...new Array(8).fill(4096)]);
    // A NoPE layer's table passes every value: cos 1, sin 0.
    const tables = ropeTables(config.ropes[1], 128, 16);
    expect(tables.cos.every((c) => c === 1) && tables.sin.every((s) => s === 0)).toBe(true);
  });

  it('gives Qwen2 its q/k/v biases', () => {
    const config = parseModelConfig({ ...SMOLLM2_135M, architectures: ['Qwen2ForCausalLM'] });
    expect(config.qkvBias).toBe(true);
    expect(config.outputBias).toBe(false);
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

  it('reads Qwen3: per-head q/k norms, an explicit head_dim, no biases, no window unless asked', () => {
    const config = parseModelConfig(QWEN3_06B);
    expect(config).toMatchObject({ qkNorm: 'head', headDim: 128, qkvBias: false, normOffset: 0, activation: 'silu' });
    expect(config.layers.every((l) => l.window === null)).toBe(true);
    expect(expectedTensors(config).get('model.layers.3.self_attn.q_norm.weight')).toEqual([128]);
    expect(expectedTensors(config).get('model.layers.3.self_attn.q_proj.weight')).toEqual([16 * 128, 1024]);
    expect(config.unknownKeys).toEqual([]);
  });

  it("reads Gemma 1: (1 + w) norms on each branch's input only, GELU, a scaled embedding, one KV head", () => {
    const config = parseModelConfig(GEMMA_2B);
    expect(config).toMatchObject({
      normOffset: 1,
      sandwichNorms: false,
      activation: 'gelu-tanh',
      attentionSoftcap: null,
      finalSoftcap: null,
      tieWordEmbeddings: true,
      numKvHeads: 1,
      headDim: 256,
    });
    expect(config.embeddingScale).toBeCloseTo(Math.sqrt(2048));
    expect(config.attentionScale).toBe(1 / 16);
    expect(config.layers.every((l) => l.window === null)).toBe(true);
    const names = expectedTensors(config);
    expect(names.get('model.layers.17.post_attention_layernorm.weight')).toEqual([2048]);
    expect(names.has('model.layers.0.pre_feedforward_layernorm.weight')).toBe(false);
    expect(names.has('lm_head.weight')).toBe(false);
  });

  it('reads Gemma 2: (1 + w) norms on both ends of each branch, GELU, soft caps, a window every other layer', () => {
    const config = parseModelConfig(GEMMA2_2B);
    expect(config).toMatchObject({
      normOffset: 1,
      sandwichNorms: true,
      activation: 'gelu-tanh',
      attentionSoftcap: 50,
      finalSoftcap: 30,
      tieWordEmbeddings: true,
    });
    expect(config.embeddingScale).toBeCloseTo(Math.sqrt(2304));
    expect(config.attentionScale).toBeCloseTo(1 / 16);
    expect(config.layers.slice(0, 4).map((l) => l.window)).toEqual([4096, null, 4096, null]);
    const names = expectedTensors(config);
    expect(names.has('model.layers.0.pre_feedforward_layernorm.weight')).toBe(true);
    expect(names.has('model.layers.0.post_feedforward_layernorm.weight')).toBe(true);
    expect(names.has('lm_head.weight')).toBe(false);
  });

  it('reads Gemma 3: five windowed layers to one global, each kind with its own RoPE', () => {
    const config = parseModelConfig(GEMMA3_1B);
    expect(config.qkNorm).toBe('head');
    expect(config.attentionSoftcap).toBeNull();
    expect(config.layers.slice(0, 7)).toEqual([
      { window: 512, rope: 1 },
      { window: 512, rope: 1 },
      { window: 512, rope: 1 },
      { window: 512, rope: 1 },
      { window: 512, rope: 1 },
      { window: null, rope: 0 },
      { window: 512, rope: 1 },
    ]);
    expect(config.ropes.map((r) => r.theta)).toEqual([1000000, 10000]);
    // transformers 5 writes layer_types and rope_parameters instead.
    const layerTypes = config.layers.map((l) => (l.window ? 'sliding_attention' : 'full_attention'));
    const v5 = parseModelConfig({
      ...GEMMA3_1B,
      layer_types: layerTypes,
      rope_parameters: {
        full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1000000 },
        sliding_attention: { rope_type: 'default', rope_theta: 10000 },
      },
    });
    expect(v5.layers).toEqual(config.layers);
    expect(v5.ropes[0]).toEqual({ theta: 1000000, scaling: { type: 'linear', factor: 8 } });
  });

  it("reads Phi-3.5: fused weights, LongRoPE's factors and scale, a window on every layer", () => {
    const config = parseModelConfig(PHI35_MINI);
    expect(config.fused).toEqual({ qkv: true, gateUp: true });
    expect(expectedTensors(config).get('model.layers.0.self_attn.qkv_proj.weight')).toEqual([3 * 3072, 3072]);
    expect(expectedTensors(config).get('model.layers.0.mlp.gate_up_proj.weight')).toEqual([2 * 8192, 3072]);
    expect(config.layers[0].window).toBe(262144);
    const rope = config.ropes[0];
    if (rope.scaling.type !== 'longrope') throw new Error('expected longrope');
    expect(rope.scaling.attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(32) / Math.log(4096)));
    // Positions below the original context take the short factors, the others the long ones.
    const tables = ropeTables(rope, 96, 4097);
    const base = 1 / 10000 ** (2 / 96); // frequency 1 of 48
    const { short_factor: short, long_factor: long } = PHI35_MINI.rope_scaling;
    const scale = rope.scaling.attentionFactor;
    expect(tables.cos[1 * 48 + 1]).toBeCloseTo(Math.cos(base / short[1]) * scale, 6);
    expect(tables.cos[4095 * 48 + 1]).toBeCloseTo(Math.cos((4095 * base) / short[1]) * scale, 5);
    expect(tables.cos[4096 * 48 + 1]).toBeCloseTo(Math.cos((4096 * base) / long[1]) * scale, 5);
  });

  it("reads Phi-4-mini: RoPE over the first 96 of a head's 128 values, LongRoPE's factors for those", () => {
    const config = parseModelConfig(PHI4_MINI);
    expect(config).toMatchObject({ headDim: 128, rotaryDim: 96, numKvHeads: 8, tieWordEmbeddings: true });
    expect(expectedTensors(config).get('model.layers.0.self_attn.qkv_proj.weight')).toEqual([(24 + 16) * 128, 3072]);
    // Frequencies over the 96 turned values; the table's last 16 entries a position pass.
    const rope = config.ropes[0];
    if (rope.scaling.type !== 'longrope') throw new Error('expected longrope');
    expect(inverseFrequencies(rope, config.rotaryDim)[1]).toBeCloseTo(1 / 10000 ** (2 / 96), 12);
    const tables = ropeTables(rope, 128, 2, 96);
    expect(tables.cos[64 + 47]).toBeCloseTo(Math.cos(10000 ** (-94 / 96)) * rope.scaling.attentionFactor, 6);
    expect([...tables.cos.subarray(64 + 48, 128)]).toEqual(Array(16).fill(1));
    expect([...tables.sin.subarray(64 + 48, 128)]).toEqual(Array(16).fill(0));
    // 48 LongRoPE factors, one per turned frequency: 64 are refused.
    const sixtyFour = { ...PHI4_MINI.rope_scaling, long_factor: Array(64).fill(1), short_factor: Array(64).fill(1) };
    expect(() => parseModelConfig({ ...PHI4_MINI, rope_scaling: sixtyFour })).toThrow(/48 positive factors/);
    expect(parseModelConfig(PHI35_MINI).rotaryDim).toBe(96);
  });

  it("reads Ministral 3: YaRN's ramp over a head's frequencies, and Llama 4's query scale past the original context", () => {
    const config = parseModelConfig(MINISTRAL3_3B);
    expect(config).toMatchObject({ headDim: 128, numKvHeads: 8, tieWordEmbeddings: true, maxPositions: 262144 });
    const rope = config.ropes[0];
    expect(rope).toEqual({
      theta: 1e6,
      scaling: {
        type: 'yarn',
        factor: 16,
        originalMaxPositions: 16384,
        betaFast: 32,
        betaSlow: 1,
        truncate: true,
        attentionFactor: 1, // mscale(16, 1) / mscale(16, 1)
      },
      queryScaling: { beta: 0.1, interval: 16384 },
    });
    // Frequencies that turn more than 32 times over 16,384 positions (i < 20) are kept, fewer
    // than once (i >= 37) divided by 16, the ones between blended linearly.
    const inv = inverseFrequencies(rope, 128);
    const plain = (i: number) => 1e6 ** (-(2 * i) / 128);
    expect(inv[0]).toBe(1);
    expect(inv[19]).toBeCloseTo(plain(19), 15);
    expect(inv[37]).toBeCloseTo(plain(37) / 16, 15);
    expect(inv[28]).toBeCloseTo(plain(28) * (9 / 17) + (plain(28) / 16) * (8 / 17), 15);
    // Queries are scaled from 16,384 positions on, so shorter tables are shared with the keys.
    expect(queryScale(rope, 16383)).toBe(1);
    expect(queryScale(rope, 16384)).toBeCloseTo(1 + 0.1 * Math.log(2), 15);
    expect(queryScale(rope, 40000)).toBeCloseTo(1 + 0.1 * Math.log(3), 15);
    expect(ropeTables(rope, 128, 16384).queryTable).toBe(0);
    const tables = ropeTables(rope, 128, 16385);
    expect(tables.queryTable).toBe(16385 * 64);
    expect(tables.cos.length).toBe(2 * 16385 * 64);
    const at = 16384 * 64 + 5;
    expect(tables.cos[tables.queryTable + at]).toBeCloseTo(tables.cos[at] * (1 + 0.1 * Math.log(2)), 6);
    expect(tables.sin[tables.queryTable + 5]).toBe(tables.sin[5]); // position 0: scale 1
    expect(parseModelConfig(MINISTRAL3_3B).unknownKeys).toEqual([]);
  });

  it("reads OLMo 2: norms on each branch's output only, q and k normed over their whole projections", () => {
    const config = parseModelConfig(OLMO2_1B);
    expect(config).toMatchObject({
      qkNorm: 'projection',
      sandwichNorms: true,
      branchInputNorms: false,
      normOffset: 0,
      normEps: 1e-6,
      bosTokenId: null,
      eosTokenIds: [100257],
      unknownKeys: [],
    });
    const tensors = expectedTensors(config);
    expect(tensors.get('model.layers.15.self_attn.q_norm.weight')).toEqual([2048]);
    expect(tensors.get('model.layers.15.self_attn.k_norm.weight')).toEqual([2048]);
    expect(tensors.get('model.layers.0.post_attention_layernorm.weight')).toEqual([2048]);
    expect(tensors.get('model.layers.0.post_feedforward_layernorm.weight')).toEqual([2048]);
    expect(tensors.has('model.layers.0.input_layernorm.weight')).toBe(false);
    expect(tensors.has('model.layers.0.pre_feedforward_layernorm.weight')).toBe(false);
    // Grouped-query attention: k's norm spans its narrower projection.
    const gqa = expectedTensors(parseModelConfig({ ...OLMO2_1B, num_key_value_heads: 4 }));
    expect(gqa.get('model.layers.0.self_attn.k_norm.weight')).toEqual([512]);
  });

  it('reads StableLM 2: LayerNorms with biases, q/k/v biases, RoPE over a quarter of each head', () => {
    const config = parseModelConfig(STABLELM2_16B);
    expect(config).toMatchObject({
      norm: 'layer',
      normEps: 1e-5,
      headDim: 64,
      rotaryDim: 16,
      qkvBias: true,
      outputBias: false,
      mlpBias: false,
      qkNorm: null,
      sandwichNorms: false,
      tieWordEmbeddings: false,
      unknownKeys: [],
    });
    const tensors = expectedTensors(config);
    for (const norm of ['model.layers.23.input_layernorm', 'model.layers.0.post_attention_layernorm', 'model.norm']) {
      expect(tensors.get(`${norm}.weight`)).toEqual([2048]);
      expect(tensors.get(`${norm}.bias`)).toEqual([2048]);
    }
    expect(tensors.get('model.layers.0.self_attn.q_proj.bias')).toEqual([2048]);
    expect(tensors.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    expect(parseModelConfig({ ...STABLELM2_16B, use_qkv_bias: false }).qkvBias).toBe(false);
    // StableLM 2 12B's per-head q/k LayerNorms and parallel branches are refused by name.
    expect(() => parseModelConfig({ ...STABLELM2_16B, qk_layernorm: true })).toThrow(/qk_layernorm/);
    expect(() => parseModelConfig({ ...STABLELM2_16B, use_parallel_residual: true })).toThrow(/use_parallel_residual/);
    // Every other architecture's norms are RMSNorms.
    expect(parseModelConfig(OLMO2_1B).norm).toBe('rms');
  });

  it('reads Phi-2: one LayerNorm for attention and the MLP side by side, an MLP without a gate, biases everywhere', () => {
    const config = parseModelConfig(PHI2);
    expect(config).toMatchObject({
      norm: 'layer',
      normEps: 1e-5,
      headDim: 80,
      rotaryDim: 32,
      activation: 'gelu-tanh',
      qkvBias: true,
      outputBias: true,
      mlpBias: true,
      headBias: true,
      parallelBranches: true,
      gatedMlp: false,
      unknownKeys: [],
    });
    const tensors = expectedTensors(config);
    expect(tensors.get('model.layers.31.mlp.up_proj.weight')).toEqual([10240, 2560]);
    expect(tensors.get('model.layers.31.mlp.up_proj.bias')).toEqual([10240]);
    expect(tensors.has('model.layers.0.mlp.gate_proj.weight')).toBe(false);
    expect(tensors.has('model.layers.0.post_attention_layernorm.weight')).toBe(false);
    expect(tensors.get('lm_head.bias')).toEqual([51200]);
    // Its checkpoints' own names, as the loaders look them up.
    const names = [...tensors.keys()].map((name) => checkpointTensorName(config, name));
    for (const name of [
      'model.layers.0.self_attn.dense.bias',
      'model.layers.0.mlp.fc1.weight',
      'model.layers.0.mlp.fc2.bias',
      'model.final_layernorm.bias',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.self_attn.q_proj.weight',
    ]) {
      expect(names).toContain(name);
    }
    expect(checkpointTensorName(parseModelConfig(OLMO2_1B), 'model.norm.weight')).toBe('model.norm.weight');
    expect(() => parseModelConfig({ ...PHI2, qk_layernorm: true })).toThrow(/qk_layernorm/);
  });

  it('reads GPT-NeoX (RedPajama): branches side by side on norms of their own, the exact GELU, q|k|v fused head by head', () => {
    const config = parseModelConfig(REDPAJAMA_3B);
    expect(config).toMatchObject({
      norm: 'layer',
      activation: 'gelu',
      headDim: 80,
      rotaryDim: 80,
      numKvHeads: 32,
      qkvBias: true,
      outputBias: true,
      mlpBias: true,
      headBias: false,
      parallelBranches: true,
      sharedBranchNorm: false,
      gatedMlp: false,
      fused: { qkv: true, gateUp: false },
      unknownKeys: [],
    });
    expect(config.ropes[0].theta).toBe(10000);
    const tensors = expectedTensors(config);
    expect(tensors.get('model.layers.0.post_attention_layernorm.bias')).toEqual([2560]);
    expect(tensors.get('model.layers.0.self_attn.qkv_proj.weight')).toEqual([3 * 2560, 2560]);
    const names = [...tensors.keys()].map((name) => checkpointTensorName(config, name));
    for (const name of [
      'gpt_neox.embed_in.weight',
      'gpt_neox.layers.31.attention.query_key_value.bias',
      'gpt_neox.layers.0.attention.dense.weight',
      'gpt_neox.layers.0.mlp.dense_h_to_4h.bias',
      'gpt_neox.layers.0.mlp.dense_4h_to_h.weight',
      'gpt_neox.layers.0.post_attention_layernorm.weight',
      'gpt_neox.final_layer_norm.bias',
      'embed_out.weight',
    ]) {
      expect(names).toContain(name);
    }
    // Pythia's: RoPE over a quarter of each head; the branches one after the other where asked.
    const pythia = parseModelConfig({ ...REDPAJAMA_3B, rotary_pct: 0.25, use_parallel_residual: false });
    expect(pythia).toMatchObject({ rotaryDim: 20, parallelBranches: false });
    // Everyone but Gemma (whose gelu is the approximation it was trained with) gets the exact GELU.
    expect(parseModelConfig({ ...SMOLLM2_135M, hidden_act: 'gelu' }).activation).toBe('gelu');
  });

  it("reads YaRN's attention factor as transformers does: given, from mscale and mscale_all_dim, or from the factor", () => {
    const yarn = (parameters: Record<string, unknown>) => {
      const rope = parseModelConfig({ ...QWEN3_06B, rope_scaling: { rope_type: 'yarn', ...parameters } }).ropes[0];
      return rope.scaling.type === 'yarn' ? rope.scaling : undefined;
    };
    // Qwen3's long-context recipe: 4 times its original 32,768 positions.
    expect(yarn({ factor: 4, original_max_position_embeddings: 32768 })).toMatchObject({
      factor: 4,
      originalMaxPositions: 32768,
      betaFast: 32,
      betaSlow: 1,
      attentionFactor: 0.1 * Math.log(4) + 1,
    });
    expect(yarn({ factor: 4, mscale: 2, mscale_all_dim: 1 })?.attentionFactor).toBeCloseTo(
      (0.2 * Math.log(4) + 1) / (0.1 * Math.log(4) + 1),
      15,
    );
    expect(yarn({ factor: 4, attention_factor: 1.5 })?.attentionFactor).toBe(1.5);
    expect(yarn({ factor: 4 })?.originalMaxPositions).toBe(QWEN3_06B.max_position_embeddings);
    expect(yarn({ factor: 4, truncate: false })?.truncate).toBe(false);
    expect(() => yarn({ original_max_position_embeddings: 32768 })).toThrow(/"factor"/);
    // Llama 4's query scale is Ministral 3's: another architecture asking for it is refused.
    const llama4 = { ...LLAMA_32_1B, rope_scaling: { ...LLAMA_32_1B.rope_scaling, llama_4_scaling_beta: 0.1 } };
    expect(() => parseModelConfig(llama4)).toThrow(/llama_4_scaling_beta/);
  });

  it('applies attention_bias, mlp_bias and a Mistral window, and refuses what it cannot compute', () => {
    const biased = parseModelConfig({ ...SMOLLM2_135M, attention_bias: true, mlp_bias: true });
    const names = expectedTensors(biased);
    for (const name of ['self_attn.o_proj.bias', 'mlp.gate_proj.bias', 'mlp.up_proj.bias', 'mlp.down_proj.bias']) {
      expect(names.has(`model.layers.0.${name}`)).toBe(true);
    }
    const mistral = parseModelConfig({ ...SMOLLM2_135M, architectures: ['MistralForCausalLM'], sliding_window: 4096 });
    expect(mistral.layers.every((l) => l.window === 4096)).toBe(true);
    const refuse = (fields: Record<string, unknown>) => () => parseModelConfig({ ...SMOLLM2_135M, ...fields });
    expect(refuse({ rope_scaling: { rope_type: 'llama3', factor: 32 } })).toThrow(/low_freq_factor/);
    expect(refuse({ quantization_config: { quant_method: 'gptq' } })).toThrow(/quantized/);
    expect(refuse({ num_local_experts: 8 })).toThrow(/mixture of experts/);
    // Part of a head turned is Phi-3's attention only; an odd count of values cannot pair.
    expect(refuse({ partial_rotary_factor: 0.75 })).toThrow(/LlamaForCausalLM turns whole heads/);
    expect(() => parseModelConfig({ ...PHI4_MINI, partial_rotary_factor: 1.5 })).toThrow(/at most 1/);
    expect(() => parseModelConfig({ ...PHI4_MINI, partial_rotary_factor: 0.7 })).toThrow(/turns 89 .* even count/);
    expect(refuse({ rope_theta: Number.POSITIVE_INFINITY })).toThrow(/rope_theta/);
    expect(refuse({ num_hidden_layers: 2147483648 })).toThrow(/num_hidden_layers/);
    expect(refuse({ intermediate_size: 383 })).toThrow(/intermediate_size is 383; .* multiple of 8/);
    expect(refuse({ attention_bias: [1, 2] })).toThrow(/"attention_bias" must be true or false/);
    expect(refuse({ tie_word_embeddings: 'yes' })).toThrow(/"tie_word_embeddings" must be true or false/);
    expect(refuse({ eos_token_id: 49152 })).toThrow(/eos_token_id 49152 is not a token id below vocab_size/);
    expect(refuse({ bos_token_id: 'text' })).toThrow(/bos_token_id "text"/);
  });

  it('decides about every key of these configs: read, irrelevant with a reason, or reported', () => {
    for (const json of [
      SMOLLM2_135M,
      LLAMA_32_1B,
      QWEN3_06B,
      GEMMA_2B,
      GEMMA2_2B,
      GEMMA3_1B,
      PHI35_MINI,
      PHI4_MINI,
      OLMO2_1B,
      STABLELM2_16B,
      PHI2,
      REDPAJAMA_3B,
      SMOLLM3_3B,
    ]) {
      expect(parseModelConfig(json).unknownKeys).toEqual([]);
    }
    expect(Object.values(CONFIG_KEYS).every((why) => why.length > 5)).toBe(true);
    expect(parseModelConfig({ ...SMOLLM2_135M, brand_new_feature: 1 }).unknownKeys).toEqual(['brand_new_feature']);
  });

  it("reads Qwen3.5's text model out of its vision-language config: Gated DeltaNet layers among gated attention", () => {
    const config = parseModelConfig(QWEN35_08B);
    expect(config).toMatchObject({
      architecture: 'Qwen3_5ForCausalLM',
      numLayers: 24,
      hiddenSize: 1024,
      numHeads: 8,
      numKvHeads: 2,
      headDim: 256,
      rotaryDim: 64,
      normOffset: 1,
      qkNorm: 'head',
      tieWordEmbeddings: true,
      eosTokenIds: [248044],
      attentionOutputGate: true,
      languageModelOfMultimodal: true,
      linearAttention: { keyHeads: 16, valueHeads: 16, keyDim: 128, valueDim: 128, convKernel: 4 },
      unknownKeys: [],
    });
    expect(config.ropes[0]).toMatchObject({ theta: 10000000, scaling: { type: 'default' } });
    expect(config.layers.map((layer) => layer.linear === true)).toEqual(
      QWEN35_LAYER_TYPES.map((t) => t !== 'full_attention'),
    );
    const tensors = expectedTensors(config);
    expect(tensors.get('model.layers.0.linear_attn.in_proj_qkv.weight')).toEqual([6144, 1024]);
    expect(tensors.get('model.layers.0.linear_attn.conv1d.weight')).toEqual([6144, 1, 4]);
    expect(tensors.get('model.layers.0.linear_attn.A_log')).toEqual([16]);
    expect(tensors.get('model.layers.0.linear_attn.norm.weight')).toEqual([128]);
    expect(tensors.get('model.layers.0.linear_attn.out_proj.weight')).toEqual([1024, 2048]);
    expect(tensors.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
    // Each head's query, then its gate: twice the rows.
    expect(tensors.get('model.layers.3.self_attn.q_proj.weight')).toEqual([4096, 1024]);
    expect(tensors.get('model.layers.3.self_attn.o_proj.weight')).toEqual([1024, 2048]);
    expect(tensors.get('model.layers.3.self_attn.q_norm.weight')).toEqual([256]);
    expect(tensors.has('lm_head.weight')).toBe(false);
    // The text model's tensors sit under model.language_model. in the checkpoint.
    expect(checkpointTensorName(config, 'model.layers.3.self_attn.q_proj.weight')).toBe(
      'model.language_model.layers.3.self_attn.q_proj.weight',
    );
    expect(checkpointTensorName(config, 'model.embed_tokens.weight')).toBe('model.language_model.embed_tokens.weight');
  });

  it('reads a text-only Qwen3.5 config, and refuses what it does not describe', () => {
    const text = { ...QWEN35_08B.text_config, architectures: ['Qwen3_5ForCausalLM'] };
    const config = parseModelConfig(text);
    expect(config.languageModelOfMultimodal).toBeUndefined();
    expect(checkpointTensorName(config, 'model.embed_tokens.weight')).toBe('model.embed_tokens.weight');
    // Without layer_types, every full_attention_interval-th layer attends.
    const { layer_types: _, ...byInterval } = text;
    expect(parseModelConfig(byInterval).layers.map((layer) => layer.linear === true)).toEqual(
      QWEN35_LAYER_TYPES.map((t) => t !== 'full_attention'),
    );
    expect(() =>
      parseModelConfig({ ...text, layer_types: ['sliding_attention', ...QWEN35_LAYER_TYPES.slice(1)] }),
    ).toThrow(/linear_attention or full_attention/);
    expect(() => parseModelConfig({ ...text, linear_num_value_heads: 24, linear_num_key_heads: 16 })).toThrow(
      /not a multiple of linear_num_key_heads/,
    );
    expect(() => parseModelConfig({ ...text, attn_output_gate: false })).toThrow(/output gate/);
    expect(() => parseModelConfig({ ...QWEN35_08B, text_config: undefined })).toThrow(/text_config/);
    expect(parseModelConfig({ ...QWEN35_08B, brand_new_feature: 1 }).unknownKeys).toEqual(['brand_new_feature']);
  });

  it('refuses a missing or bad field, naming it', () => {
    const { hidden_size: _, ...noHidden } = SMOLLM2_135M;
    expect(() => parseModelConfig(noHidden)).toThrow(/"hidden_size" must be a whole number/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, num_key_value_heads: 4 })).toThrow(/not a multiple/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, hidden_act: 'quick_gelu' })).toThrow(/quick_gelu/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { rope_type: 'dynamic', factor: 2 } })).toThrow(
      /dynamic/,
    );
  });
});
