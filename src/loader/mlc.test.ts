/**
 * MLC model folders: mlc-chat-config.json (the fixtures' and a published one), tensor-cache.json
 * and its shards, the conversation template, and every way such a folder can be wrong.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixturePath, loadFixture } from '../testing/fixtures';
import { f16ToF32, f32ToF16 } from './half';
import { mlcTensorName, parseMlcConfig } from './mlc-config';
import type { ModelFolder } from './model-folder';
import { loadModelFolder } from './model-folder';
import { memorySource } from './source';
import { expectedTensors } from './tensor-names';
import { toFloat32 } from './tensors';
import type { WeightTensor } from './weights';

/** mlc-chat-config.json of Qwen2.5-1.5B-Instruct-q4f16_1-MLC as published (conv_template abridged). */
const QWEN25_15B_MLC = {
  version: '0.1.0',
  model_type: 'qwen2',
  quantization: 'q4f16_1',
  model_config: {
    hidden_act: 'silu',
    hidden_size: 1536,
    intermediate_size: 8960,
    num_attention_heads: 12,
    num_hidden_layers: 28,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    vocab_size: 151936,
    tie_word_embeddings: true,
    context_window_size: 32768,
    prefill_chunk_size: 2048,
    tensor_parallel_shards: 1,
    head_dim: 128,
    dtype: 'float32',
    max_batch_size: 80,
  },
  vocab_size: 151936,
  context_window_size: 32768,
  sliding_window_size: -1,
  prefill_chunk_size: 2048,
  attention_sink_size: -1,
  tensor_parallel_shards: 1,
  temperature: 0.7,
  presence_penalty: 0.0,
  frequency_penalty: 0.0,
  repetition_penalty: 1.1,
  top_p: 0.8,
  tokenizer_files: ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json'],
  tokenizer_info: { token_postproc_method: 'byte_level', prepend_space_in_encode: false, strip_space_in_decode: false },
  conv_template: {
    name: 'chatml',
    system_template: '<|im_start|>system\n{system_message}<|im_end|>\n',
    system_message: 'A conversation between a user and an LLM-based AI assistant.',
    roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
    seps: ['<|im_end|>\n'],
    role_content_sep: '\n',
    role_empty_sep: '\n',
    stop_str: ['<|im_end|>'],
    stop_token_ids: [151643, 151645],
  },
  pad_token_id: 151643,
  bos_token_id: 151643,
  eos_token_id: [151645, 151643],
};

/** model_config of gemma-2-2b-it-q4f16_1-MLC as mlc-llm's Gemma2Config writes it (its context: the sliding window). */
const GEMMA2_2B_MODEL_CONFIG = {
  hidden_size: 2304,
  intermediate_size: 9216,
  attention_bias: false,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  num_hidden_layers: 26,
  rms_norm_eps: 1e-6,
  vocab_size: 256000,
  hidden_activation: 'gelu_pytorch_tanh',
  position_embedding_base: 10000.0,
  context_window_size: 4096,
  prefill_chunk_size: 2048,
  tensor_parallel_shards: 1,
  max_batch_size: 80,
  attn_logit_softcapping: 50.0,
  final_logit_softcapping: 30.0,
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
};

/**
 * model_config of Phi-3.5-mini-instruct-q4f16_1-MLC as mlc-llm's Phi3Config writes it (no
 * sliding window, LongRoPE with the context and the original context copied into rope_scaling),
 * each list of 48 factors here one value repeated.
 */
const PHI35_MINI_MODEL_CONFIG = {
  model_type: 'phi3',
  hidden_size: 3072,
  vocab_size: 32064,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  intermediate_size: 8192,
  rms_norm_eps: 1e-5,
  num_key_value_heads: 32,
  max_position_embeddings: 131072,
  position_embedding_base: 10000.0,
  rope_scaling: {
    long_factor: Array(48).fill(1.5),
    short_factor: Array(48).fill(1.0),
    type: 'longrope',
    rope_type: 'longrope',
    max_position_embeddings: 131072,
    original_max_position_embeddings: 4096,
  },
  original_max_position_embeddings: 4096,
  context_window_size: 131072,
  prefill_chunk_size: 8192,
  head_dim: 96,
  tensor_parallel_shards: 1,
  max_batch_size: 128,
  tie_word_embeddings: false,
  partial_rotary_factor: 1.0,
};

/** model_config of gemma3-1b-it-q4f16_1-MLC as mlc-llm's Gemma3Config writes it: the model's fields in text_config. */
const GEMMA3_1B_MODEL_CONFIG = {
  text_config: {
    hidden_size: 1152,
    intermediate_size: 6912,
    num_hidden_layers: 26,
    attention_bias: false,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    head_dim: 256,
    rms_norm_eps: 1e-6,
    hidden_activation: 'gelu_pytorch_tanh',
    position_embedding_base: 1000000,
    rope_scaling: null,
    context_window_size: 8192,
    prefill_chunk_size: 8192,
    query_pre_attn_scalar: 256,
    sliding_window_size: 512,
  },
  vocab_size: 262144,
  tensor_parallel_shards: 1,
  max_batch_size: 128,
  context_window_size: 8192,
  sliding_window_size: 512,
  prefill_chunk_size: 8192,
  is_text_model: true,
};

/**
 * model_config of Ministral-3-3B-Instruct-2512-BF16-q4f16_1-MLC as mlc-llm's Ministral3Config
 * writes it (asdict after from_dict): text_config's fields at the top, rope_theta moved out of
 * rope_parameters into position_embedding_base, the context in context_window_size.
 */
const MINISTRAL3_3B_MODEL_CONFIG = {
  hidden_size: 3072,
  intermediate_size: 9216,
  num_attention_heads: 32,
  num_hidden_layers: 26,
  rms_norm_eps: 1e-5,
  vocab_size: 131072,
  attention_sink_size: 0,
  context_window_size: 262144,
  dtype: 'bfloat16',
  head_dim: 128,
  hidden_act: 'silu',
  max_batch_size: 128,
  num_key_value_heads: 8,
  position_embedding_base: 1000000.0,
  prefill_chunk_size: 8192,
  rope_parameters: {
    beta_fast: 32.0,
    beta_slow: 1.0,
    factor: 16.0,
    llama_4_scaling_beta: 0.1,
    mscale: 1.0,
    mscale_all_dim: 1.0,
    original_max_position_embeddings: 16384,
    rope_type: 'yarn',
    type: 'yarn',
  },
  sliding_window_size: -1,
  tensor_parallel_shards: 1,
  tie_word_embeddings: true,
  weight_block_size: null,
  modules_to_not_convert: [],
};

/** model_config of OLMo-2-0425-1B-Instruct-q4f16_1-MLC as mlc-llm's OLMo2Config writes it. */
const OLMO2_1B_MODEL_CONFIG = {
  vocab_size: 100352,
  hidden_size: 2048,
  num_attention_heads: 16,
  num_key_value_heads: 16,
  head_dim: 128,
  position_embedding_base: 500000,
  rope_scaling: null,
  intermediate_size: 8192,
  hidden_act: 'silu',
  num_hidden_layers: 16,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  context_window_size: 4096,
  prefill_chunk_size: 4096,
  tensor_parallel_shards: 1,
  pipeline_parallel_stages: 1,
  max_batch_size: 128,
};

/** stablelm-2-zephyr-1_6b-q4f16_1-MLC's model_config: mlc-llm's StableLmConfig, rope_theta and layer_norm_eps by their own names. */
const STABLELM2_16B_MODEL_CONFIG = {
  vocab_size: 100352,
  hidden_size: 2048,
  num_hidden_layers: 24,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  layer_norm_eps: 1e-5,
  partial_rotary_factor: 0.25,
  rope_theta: 10000,
  intermediate_size: 5632,
  use_qkv_bias: true,
  head_dim: 64,
  context_window_size: 4096,
  prefill_chunk_size: 4096,
  tensor_parallel_shards: 1,
  max_batch_size: 128,
};

/** A published mlc-chat-config.json (Qwen's) with another model type, model_config and token ids in its vocabulary. */
const publishedAs = (
  model_type: string,
  model_config: object,
  bos_token_id: number,
  eos_token_id: number[],
  stop_token_ids = eos_token_id,
) => ({
  ...QWEN25_15B_MLC,
  model_type,
  model_config,
  bos_token_id,
  eos_token_id,
  conv_template: { ...QWEN25_15B_MLC.conv_template, stop_token_ids },
});

const folderFiles = (name: string) => {
  const folder = fixturePath(name);
  return Object.fromEntries(readdirSync(folder).map((f) => [f, new Uint8Array(readFileSync(join(folder, f)))]));
};
const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));
const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

async function loadError(files: Record<string, Uint8Array>): Promise<Error> {
  const error = await loadModelFolder(memorySource('mlc', files)).then(
    (folder) => {
      folder.tokenizer.dispose();
      return undefined;
    },
    (e: Error) => e,
  );
  if (!error) throw new Error('expected the load to fail');
  return error;
}

describe('mlc-chat-config.json', () => {
  it("reads a published config: Qwen2's fields, MLC's context, sampling defaults and stop tokens", () => {
    const { config, quantization, stopTokenIds, generation, conv } = parseMlcConfig(QWEN25_15B_MLC, 'qwen');
    expect(config.architecture).toBe('Qwen2ForCausalLM');
    expect(config.qkvBias).toBe(true);
    expect(config.fused).toEqual({ qkv: true, gateUp: true });
    expect(config.tieWordEmbeddings).toBe(true);
    expect(config.headDim).toBe(128);
    expect(config.maxPositions).toBe(32768);
    expect(config.ropes[0].theta).toBe(1000000);
    expect(config.unknownKeys).toEqual([]);
    expect(quantization).toMatchObject({ name: 'q4f16_1', matrices: 'Q4F16', vectors: 'float16' });
    expect(stopTokenIds).toEqual([151643, 151645]);
    expect(generation).toEqual({ temperature: 0.7, topP: 0.8, repetitionPenalty: 1.1 });
    expect(conv?.roles.user).toBe('<|im_start|>user');
  });

  it("reads Gemma 2's: soft-caps, query scale, window, a tied embedding, norms stored plus one", () => {
    const gemma2 = { ...QWEN25_15B_MLC, model_type: 'gemma2', model_config: GEMMA2_2B_MODEL_CONFIG };
    const { config, normsPlusOne } = parseMlcConfig(gemma2, 'gemma');
    expect(config).toMatchObject({
      architecture: 'Gemma2ForCausalLM',
      headDim: 256,
      tieWordEmbeddings: true,
      sandwichNorms: true,
      fused: { qkv: true, gateUp: true },
      maxPositions: 4096,
    });
    expect(config.unknownKeys).toEqual([]);
    expect(normsPlusOne).toBe(true);
    expect(parseMlcConfig(QWEN25_15B_MLC, 'qwen').normsPlusOne).toBe(false);
    // gemma-2b-it-q4f16_1-MLC, as mlc-llm's GemmaConfig writes it: Gemma 1, its norms stored plus one too.
    const gemma = {
      ...QWEN25_15B_MLC,
      model_type: 'gemma',
      model_config: {
        hidden_size: 2048,
        intermediate_size: 16384,
        attention_bias: false,
        num_attention_heads: 8,
        num_key_value_heads: 1,
        head_dim: 256,
        num_hidden_layers: 18,
        rms_norm_eps: 1e-6,
        vocab_size: 256000,
        hidden_activation: 'gelu',
        position_embedding_base: 10000,
        context_window_size: 8192,
        prefill_chunk_size: 2048,
        tensor_parallel_shards: 1,
        max_batch_size: 80,
      },
    };
    const gemma1 = parseMlcConfig(gemma, 'gemma1');
    expect(gemma1.config).toMatchObject({
      architecture: 'GemmaForCausalLM',
      activation: 'gelu-tanh',
      sandwichNorms: false,
      normOffset: 1,
      tieWordEmbeddings: true,
      fused: { qkv: true, gateUp: true },
      maxPositions: 8192,
    });
    expect(gemma1.config.unknownKeys).toEqual([]);
    expect(gemma1.normsPlusOne).toBe(true);
  });

  it("reads Phi-3's: LongRoPE from rope_scaling, its attention factor from the two contexts, no window", () => {
    const phi3 = publishedAs('phi3', PHI35_MINI_MODEL_CONFIG, 1, [32007, 32000], [32007, 32001, 32000]);
    const { config, normsPlusOne } = parseMlcConfig(phi3, 'phi');
    expect(config).toMatchObject({ architecture: 'Phi3ForCausalLM', headDim: 96, maxPositions: 131072 });
    expect(config.ropes[0].scaling).toMatchObject({
      type: 'longrope',
      originalMaxPositions: 4096,
      attentionFactor: Math.sqrt(1 + Math.log(32) / Math.log(4096)),
    });
    expect(config.unknownKeys).toEqual([]);
    expect(normsPlusOne).toBe(false);
    // Phi-4-mini-instruct-q4f16_1-MLC: the same model type, RoPE over 96 of a head's 128 values.
    const phi4 = publishedAs(
      'phi3',
      {
        ...PHI35_MINI_MODEL_CONFIG,
        vocab_size: 200064,
        num_attention_heads: 24,
        num_key_value_heads: 8,
        head_dim: 128,
        tie_word_embeddings: true,
        partial_rotary_factor: 0.75,
      },
      199999,
      [200020, 199999],
    );
    expect(parseMlcConfig(phi4, 'phi4').config).toMatchObject({ headDim: 128, rotaryDim: 96, tieWordEmbeddings: true });
  });

  it("reads Gemma 3's from text_config: a window of 512 on five layers in six, two RoPE bases, q, k, v apart", () => {
    const gemma3 = publishedAs('gemma3_text', GEMMA3_1B_MODEL_CONFIG, 2, [1, 106]);
    const { config, normsPlusOne } = parseMlcConfig(gemma3, 'gemma3');
    expect(config).toMatchObject({ architecture: 'Gemma3ForCausalLM', headDim: 256, maxPositions: 8192 });
    expect(config.fused).toEqual({ qkv: false, gateUp: true });
    expect(config.layers.map((l) => l.window)).toEqual(
      Array.from({ length: 26 }, (_, i) => ((i + 1) % 6 === 0 ? null : 512)),
    );
    expect(config.ropes.map((r) => r.theta)).toEqual([1000000, 10000]);
    expect(config.unknownKeys).toEqual([]);
    expect(normsPlusOne).toBe(true);
    expect(() => parseMlcConfig({ ...gemma3, model_config: GEMMA3_1B_MODEL_CONFIG.text_config }, 'x')).toThrow(
      expect.objectContaining({ name: 'ModelConfigError', message: expect.stringMatching(/text_config/) }),
    );
  });

  it("reads Ministral 3's: YaRN and Llama 4's query scale from rope_parameters, its base from position_embedding_base", () => {
    const ministral = publishedAs('ministral3', MINISTRAL3_3B_MODEL_CONFIG, 1, [2]);
    const { config, normsPlusOne } = parseMlcConfig(ministral, 'ministral3');
    expect(config).toMatchObject({ architecture: 'Ministral3ForCausalLM', headDim: 128, maxPositions: 262144 });
    expect(config.fused).toEqual({ qkv: true, gateUp: true });
    expect(config.ropes).toEqual([
      {
        theta: 1e6,
        scaling: expect.objectContaining({ type: 'yarn', factor: 16, originalMaxPositions: 16384, attentionFactor: 1 }),
        queryScaling: { beta: 0.1, interval: 16384 },
      },
    ]);
    expect(config.layers.every((l) => l.window === null)).toBe(true);
    expect(config.unknownKeys).toEqual([]);
    expect(normsPlusOne).toBe(false);
    expect(mlcTensorName('ministral3', 'model.layers.0.self_attn.qkv_proj.weight')).toBe(
      'model.layers.0.self_attn.qkv_proj.weight',
    );
  });

  it("reads OLMo 2's: norms on the branches' outputs only, q and k norms over whole projections", () => {
    const { config, normsPlusOne } = parseMlcConfig(publishedAs('olmo2', OLMO2_1B_MODEL_CONFIG, 100257, [100257]), 'o');
    expect(config).toMatchObject({
      architecture: 'Olmo2ForCausalLM',
      qkNorm: 'projection',
      sandwichNorms: true,
      branchInputNorms: false,
      fused: { qkv: true, gateUp: true },
      maxPositions: 4096,
      unknownKeys: [],
    });
    expect(config.ropes[0].theta).toBe(500000);
    expect(normsPlusOne).toBe(false);
  });

  it("reads StableLM 2's: LayerNorms, q/k/v biases, RoPE over a quarter of each head", () => {
    const published = publishedAs('stablelm', STABLELM2_16B_MODEL_CONFIG, 100257, [100257]);
    const { config } = parseMlcConfig(published, 's');
    expect(config).toMatchObject({
      architecture: 'StableLmForCausalLM',
      norm: 'layer',
      normEps: 1e-5,
      qkvBias: true,
      rotaryDim: 16,
      fused: { qkv: true, gateUp: true },
      maxPositions: 4096,
      unknownKeys: [],
    });
    expect(config.ropes[0].theta).toBe(10000);
    expect(expectedTensors(config).get('model.layers.0.self_attn.qkv_proj.bias')).toEqual([6144]);
  });

  it("reads Qwen3.5's (Qwen35Config: text_config's fields flattened): Gated DeltaNet layers, q_proj's rows in c_attn", () => {
    // mlc-llm's Qwen35Config.asdict() for Qwen3.5-0.8B; what it does not name goes into kwargs.
    const model = {
      hidden_size: 1024,
      intermediate_size: 3584,
      num_attention_heads: 8,
      num_hidden_layers: 24,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      vocab_size: 248320,
      rope_theta: 10000000,
      head_dim: 256,
      hidden_act: 'silu',
      attention_bias: false,
      tie_word_embeddings: true,
      linear_key_head_dim: 128,
      linear_value_head_dim: 128,
      linear_num_key_heads: 16,
      linear_num_value_heads: 16,
      linear_conv_kernel_dim: 4,
      full_attention_interval: 4,
      partial_rotary_factor: 0.25,
      context_window_size: 262144,
      prefill_chunk_size: 2048,
      tensor_parallel_shards: 1,
      dtype: 'float16',
      max_batch_size: 1,
      kwargs: { attn_output_gate: true, mtp_num_hidden_layers: 1 },
    };
    const parsed = parseMlcConfig(publishedAs('qwen3_5', model, 248044, [248046, 248044]), 'q');
    expect(parsed).toMatchObject({ normsPlusOne: true, stopTokenIds: [248044, 248046] });
    expect(parsed.config).toMatchObject({
      architecture: 'Qwen3_5ForCausalLM',
      headDim: 256,
      rotaryDim: 64,
      normOffset: 1,
      attentionOutputGate: true,
      linearAttention: { keyHeads: 16, valueHeads: 16, keyDim: 128, valueDim: 128, convKernel: 4 },
      fused: { qkv: true, gateUp: true },
      unknownKeys: [],
    });
    // Every fourth layer attends, as full_attention_interval says.
    expect(parsed.config.layers.map((l) => l.linear === true).slice(0, 8)).toEqual([
      true,
      true,
      true,
      false,
      true,
      true,
      true,
      false,
    ]);
    const tensors = expectedTensors(parsed.config);
    expect(tensors.get('model.layers.3.self_attn.qkv_proj.weight')).toEqual([2 * 2048 + 2 * 512, 1024]);
    expect(mlcTensorName('qwen3_5', 'model.layers.3.self_attn.qkv_proj.weight')).toBe(
      'model.layers.3.self_attn.c_attn.weight',
    );
    expect(mlcTensorName('qwen3_5', 'model.layers.0.linear_attn.conv1d.weight')).toBe(
      'model.layers.0.linear_attn.conv1d_weight',
    );
    expect(mlcTensorName('qwen3_5', 'model.layers.0.linear_attn.A_log')).toBe('model.layers.0.linear_attn.A_log');
  });

  it("reads Phi-2's in both of mlc-llm's spellings: Hugging Face's names (Phi1Config) and GPT-2's (PhiConfig)", () => {
    const phi1Config = {
      vocab_size: 51200,
      hidden_size: 2560,
      intermediate_size: 10240,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      layer_norm_eps: 1e-5,
      position_embedding_base: 10000,
      partial_rotary_factor: 0.4,
      num_key_value_heads: 32,
      context_window_size: 2048,
      prefill_chunk_size: 2048,
      head_dim: 80,
      tensor_parallel_shards: 1,
      max_batch_size: 80,
    };
    const phiConfig = {
      model_type: 'phi',
      vocab_size: 51200,
      n_positions: 2048,
      n_embd: 2560,
      n_layer: 32,
      n_inner: 10240,
      n_head: 32,
      rotary_dim: 32,
      position_embedding_base: 10000,
      layer_norm_epsilon: 1e-5,
      context_window_size: 2048,
      prefill_chunk_size: 2048,
      n_head_kv: 32,
      head_dim: 80,
      tensor_parallel_shards: 1,
    };
    const [a, b] = [phi1Config, phiConfig].map(
      (modelConfig) => parseMlcConfig(publishedAs('phi', modelConfig, 50256, [50256]), 'phi').config,
    );
    expect(a).toMatchObject({
      architecture: 'PhiForCausalLM',
      hiddenSize: 2560,
      numLayers: 32,
      rotaryDim: 32,
      norm: 'layer',
      activation: 'gelu-tanh',
      parallelBranches: true,
      gatedMlp: false,
      headBias: true,
      fused: { qkv: true, gateUp: false },
      unknownKeys: [],
    });
    expect(b).toEqual(a);
    // mlc-llm's names: the layers under transformer.h, the head's norm and matrix under lm_head.
    expect(mlcTensorName('phi', 'model.layers.3.self_attn.qkv_proj.bias')).toBe('transformer.h.3.mixer.Wqkv.bias');
    expect(mlcTensorName('phi', 'model.layers.3.mlp.up_proj.weight')).toBe('transformer.h.3.mlp.fc1.weight');
    expect(mlcTensorName('phi', 'model.norm.bias')).toBe('lm_head.ln.bias');
    expect(mlcTensorName('phi', 'lm_head.weight')).toBe('lm_head.linear.weight');
  });

  it("reads Llama's position_embedding_base as the RoPE base", () => {
    const fixture = json(folderFiles(FIXTURES.targetQ4)['mlc-chat-config.json']);
    const { config } = parseMlcConfig(fixture, 'fixture');
    expect(config.ropes[0].theta).toBe(10000);
    expect(config.maxPositions).toBe(2048);
    expect(config.architecture).toBe('LlamaForCausalLM');
  });

  it('refuses a quantization or a model type it does not run, saying which and why', () => {
    expect(() => parseMlcConfig({ ...QWEN25_15B_MLC, quantization: 'q3f16_1' }, 'x')).toThrow(
      expect.objectContaining({ name: 'UnsupportedQuantizationError', message: expect.stringMatching(/q3f16_1/) }),
    );
    expect(() => parseMlcConfig({ ...QWEN25_15B_MLC, model_type: 'rwkv6' }, 'x')).toThrow(
      expect.objectContaining({ name: 'UnsupportedArchitectureError', message: expect.stringMatching(/RWKV/) }),
    );
    expect(() => parseMlcConfig({ ...QWEN25_15B_MLC, model_config: undefined }, 'x')).toThrow(
      expect.objectContaining({ name: 'ModelConfigError' }),
    );
  });
});

describe('MLC fixture folders', () => {
  let target: ModelFolder;
  let draft: ModelFolder;
  let huggingFace: ModelFolder;
  beforeAll(async () => {
    target = await loadFixture(FIXTURES.targetQ4);
    draft = await loadFixture(FIXTURES.draftQ4);
    huggingFace = await loadFixture(FIXTURES.target);
  });
  afterAll(() => {
    for (const folder of [target, draft, huggingFace]) folder.tokenizer.dispose();
  });

  it('load as q4f16_1 matrices, f16 norms, fused q|k|v and gate|up, the stop tokens of the config', () => {
    const qkv = target.weights.get('model.layers.0.self_attn.qkv_proj.weight');
    expect(qkv).toMatchObject({ dtype: 'Q4F16', shape: [256, 128] });
    expect(qkv?.data).toBeInstanceOf(Uint32Array);
    expect(qkv?.scales?.length).toBe((256 * 128) / 32);
    expect(target.weights.get('model.layers.5.mlp.gate_up_proj.weight')?.shape).toEqual([768, 128]);
    expect(target.weights.get('model.norm.weight')?.dtype).toBe('F16');
    expect(target.weights.get('lm_head.weight')?.dtype).toBe('Q4F16');
    expect(target.stopTokenIds).toEqual([0, 2]);
  });

  it("load Gemma 2's norms as w again (stored as f16(1 + w)), its embedding tied and 4-bit", async () => {
    const gemma = await loadFixture(FIXTURES.gemma2Q4);
    const hf = await loadFixture(FIXTURES.gemma2);
    try {
      expect(gemma.weights.has('lm_head.weight')).toBe(false);
      expect(gemma.weights.get('model.embed_tokens.weight')?.dtype).toBe('Q4F16');
      for (const name of ['model.layers.1.pre_feedforward_layernorm.weight', 'model.norm.weight']) {
        const norm = gemma.weights.get(name) as WeightTensor;
        expect(norm.dtype, name).toBe('F32');
        // 1 + the loaded w is the stored f16(1 + w) of the Hugging Face folder's w, exactly.
        const w = hf.weights.get(name)?.data as Float32Array;
        const stored = Array.from(w, (x) => f16ToF32(f32ToF16(1 + x)));
        const loaded = Array.from(norm.data as Float32Array, (v) => 1 + v);
        expect(loaded, name).toEqual(stored);
      }
    } finally {
      gemma.tokenizer.dispose();
      hf.tokenizer.dispose();
    }
  });

  it("load Phi-3's tensors from their names in MLC's Phi-3 (transformer.h.N.mixer.qkv_proj, ...)", async () => {
    const phi3 = await loadFixture(FIXTURES.phi3Q4);
    try {
      expect(phi3.weights.get('model.layers.2.self_attn.qkv_proj.weight')).toMatchObject({ dtype: 'Q4F16' });
      expect(phi3.weights.get('model.layers.0.input_layernorm.weight')?.dtype).toBe('F16');
      expect(phi3.weights.get('lm_head.weight')?.dtype).toBe('Q4F16');
      // mlc-llm's Phi3Config has no sliding window
      expect(phi3.config.layers.every((layer) => layer.window === null)).toBe(true);
    } finally {
      phi3.tokenizer.dispose();
    }
  });

  it("load Gemma 3's tensors from under language_model., q, k and v apart, its q and k norms as w again", async () => {
    const gemma = await loadFixture(FIXTURES.gemma3Q4);
    const hf = await loadFixture(FIXTURES.gemma3);
    try {
      expect(gemma.weights.get('model.layers.0.self_attn.k_proj.weight')).toMatchObject({ dtype: 'Q4F16' });
      expect(gemma.weights.get('model.layers.0.mlp.gate_up_proj.weight')).toMatchObject({ dtype: 'Q4F16' });
      const name = 'model.layers.3.self_attn.q_norm.weight';
      const loaded = Array.from(gemma.weights.get(name)?.data as Float32Array, (v) => 1 + v);
      const w = hf.weights.get(name)?.data as Float32Array;
      expect(loaded).toEqual(Array.from(w, (x) => f16ToF32(f32ToF16(1 + x))));
    } finally {
      gemma.tokenizer.dispose();
      hf.tokenizer.dispose();
    }
  });

  it("load Qwen3.5's: A_log and dt_bias in f32, the convolution in f16, every norm as w again but the gated one", async () => {
    const qwen = await loadFixture(FIXTURES.qwen35Q4);
    const hf = await loadFixture(FIXTURES.qwen35);
    try {
      expect(qwen.weights.get('model.layers.3.self_attn.qkv_proj.weight')).toMatchObject({
        dtype: 'Q4F16',
        shape: [384, 64],
      });
      expect(qwen.weights.get('model.layers.0.linear_attn.in_proj_b.weight')).toMatchObject({ dtype: 'Q4F16' });
      expect(qwen.weights.get('model.layers.0.linear_attn.conv1d.weight')).toMatchObject({
        dtype: 'F16',
        shape: [128, 1, 4],
      });
      for (const name of ['model.layers.0.linear_attn.A_log', 'model.layers.0.linear_attn.dt_bias']) {
        expect(qwen.weights.get(name)?.dtype, name).toBe('F32');
        expect(Array.from(qwen.weights.get(name)?.data as Float32Array), name).toEqual(
          Array.from(hf.weights.get(name)?.data as Float32Array),
        );
      }
      const asStored = (name: string, plusOne: number) => {
        const w = hf.weights.get(name)?.data as Float32Array;
        const loaded = Array.from(toFloat32(qwen.weights.get(name) as WeightTensor), (v) => v + plusOne);
        expect(loaded, name).toEqual(Array.from(w, (x) => f16ToF32(f32ToF16(x + plusOne))));
      };
      asStored('model.layers.3.self_attn.q_norm.weight', 1);
      asStored('model.layers.0.post_attention_layernorm.weight', 1);
      asStored('model.layers.0.linear_attn.norm.weight', 0);
    } finally {
      qwen.tokenizer.dispose();
      hf.tokenizer.dispose();
    }
  });

  it("render chats through MLC's conv_template exactly as through the Jinja template", () => {
    const chats = [
      [{ role: 'user' as const, content: 'Tell me a story about a cat.' }],
      [
        { role: 'system' as const, content: 'You are a friendly storyteller.' },
        { role: 'user' as const, content: 'A story about Max, please.' },
        { role: 'assistant' as const, content: 'Once upon a time, Max the bear...' },
        { role: 'user' as const, content: 'Another one.' },
      ],
    ];
    for (const chat of chats) {
      // The draft folder has no Jinja template: its conv_template renders the chat.
      expect(draft.tokenizer.encodeChat(chat)).toEqual(huggingFace.tokenizer.encodeChat(chat));
      expect(target.tokenizer.encodeChat(chat)).toEqual(huggingFace.tokenizer.encodeChat(chat));
    }
  });
});

describe('MLC folders that are wrong', () => {
  const files = () => folderFiles(FIXTURES.targetQ4);
  const cache = () => json(files()['tensor-cache.json']);

  it('a shard shorter than its records: the file and the record', async () => {
    const shard = files()['params_shard_1.bin'];
    const error = await loadError({ ...files(), 'params_shard_1.bin': shard.subarray(0, 1000) });
    expect(error.name).toBe('TensorCacheFormatError');
    expect(error.message).toMatch(
      /params_shard_1\.bin ends at byte 1000, .* \(in record "[^"]+"\): the shard is shorter/,
    );
  });

  it('a record out of its shard, listed twice, or of the wrong size', async () => {
    for (const [edit, message] of [
      [(c: CacheJson) => (c.records[0].records[1].byteOffset = c.records[0].nbytes), /leaves its shard/],
      [(c: CacheJson) => c.records[1].records.push({ ...c.records[0].records[0] }), /listed twice/],
      [(c: CacheJson) => (c.records[0].records[0].nbytes += 4), /nbytes \d+; its shape and dtype make/],
      [(c: CacheJson) => (c.records[0].dataPath = '../../secret.bin'), /outside|folder/],
    ] as const) {
      const edited = cache();
      edit(edited);
      const error = await loadError({ ...files(), 'tensor-cache.json': text(edited) });
      expect(['TensorCacheFormatError', 'UnsafeFilePathError']).toContain(error.name);
      expect(error.message).toMatch(message);
    }
  });

  it('a dtype or shape the config and the quantization do not imply, and a record that is missing', async () => {
    const scaleAsF32 = cache();
    // The same bytes read as f32 scales: half as many columns.
    const scale = scaleAsF32.records[0].records.find((r: CacheRecord) => r.name.endsWith('q_scale')) as CacheRecord;
    scale.dtype = 'float32';
    scale.shape = [1024, 2];
    const dtype = await loadError({ ...files(), 'tensor-cache.json': text(scaleAsF32) });
    expect(dtype.name).toBe('TensorShapeError');
    expect(dtype.message).toMatch(
      /"model\.embed_tokens\.q_scale" is float32 \[1024,2\]; q4f16_1 and the config imply float16 \[1024,4\]/,
    );

    const config = json(files()['mlc-chat-config.json']);
    config.model_config.intermediate_size = 416;
    const shape = await loadError({ ...files(), 'mlc-chat-config.json': text(config) });
    expect(shape.name).toBe('TensorShapeError');
    expect(shape.message).toMatch(/gate_up_proj\.q_weight" is uint32 \[768,16\]; .* imply uint32 \[832,16\]/);

    const missing = cache();
    for (const shard of missing.records) {
      shard.records = shard.records.filter((r: CacheRecord) => r.name !== 'lm_head.q_weight');
    }
    const gone = await loadError({ ...files(), 'tensor-cache.json': text(missing) });
    expect(gone.name).toBe('TensorMissingError');
    expect(gone.message).toMatch(/no record "lm_head\.q_weight"/);
  });

  it("a record of a layer past the config's, whatever the model type names its layers", async () => {
    for (const [name, layers] of [
      [FIXTURES.targetQ4, 6],
      [FIXTURES.gemma3Q4, 4],
      [FIXTURES.phi3Q4, 3],
    ] as const) {
      const folder = folderFiles(name);
      const config = json(folder['mlc-chat-config.json']);
      const model = config.model_config.text_config ?? config.model_config;
      model.num_hidden_layers = layers - 1;
      const error = await loadError({ ...folder, 'mlc-chat-config.json': text(config) });
      expect(error.name, name).toBe('TensorShapeError');
      expect(error.message, name).toMatch(
        new RegExp(`(layers|h)\\.${layers - 1}\\..*" is past the config's ${layers - 1} layers`),
      );
    }
  });

  it('an unknown quantization, and a folder that mixes the two formats', async () => {
    const config = json(files()['mlc-chat-config.json']);
    const unknown = await loadError({
      ...files(),
      'mlc-chat-config.json': text({ ...config, quantization: 'q4f16_0' }),
    });
    expect(unknown.name).toBe('UnsupportedQuantizationError');

    const { 'tensor-cache.json': _, ...withoutCache } = files();
    const hf = folderFiles(FIXTURES.target);
    const mixed = await loadError({ ...withoutCache, 'model.safetensors': hf['model.safetensors'] });
    expect(mixed.name).toBe('MixedModelFormatsError');
    expect(mixed.message).toMatch(/mlc-chat-config\.json \(MLC\) but its weights are model\.safetensors/);

    const { 'mlc-chat-config.json': __, ...neither } = withoutCache;
    const none = await loadError(neither);
    expect(none.name).toBe('ModelFileMissingError');
    expect(none.message).toMatch(/neither config\.json .* nor mlc-chat-config\.json/);
  });
});

interface CacheRecord {
  name: string;
  dtype: string;
  shape: number[];
  nbytes: number;
  byteOffset: number;
}
interface CacheJson {
  records: { dataPath: string; nbytes: number; records: CacheRecord[] }[];
}
