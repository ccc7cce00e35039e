/**
 * A GGUF file's metadata read back into the config.json that llama.cpp's converter read, so
 * that one parser (config.ts) checks every format: each architecture's keys as its converter
 * writes them, and what llama.cpp assumes where no key says (Gemma 2's and 3's query scales,
 * Gemma 3's windows). Llama 3's RoPE scaling, stored as per-frequency divisors, is read back
 * from them and checked against its formula.
 */

import { ModelConfigError, UnsupportedArchitectureError } from '../errors';
import type { GgufTokenizer } from '../tokenizer/gguf-tokenizer';
import type { ModelConfig } from './config';
import type { GgufHeader, GgufTensorInfo, GgufValue } from './gguf';
import { ARCHITECTURES } from './gguf-names';

/** The config.json the metadata stands for, and how the converter wrote the architecture. */
export function configFromMetadata(header: GgufHeader, tokenizer: GgufTokenizer, where: string) {
  const { metadata, tensors } = header;
  const arch = metadata.get('general.architecture');
  const known = typeof arch === 'string' && Object.hasOwn(ARCHITECTURES, arch) ? ARCHITECTURES[arch] : undefined;
  if (!known) {
    throw new UnsupportedArchitectureError(
      `${where}: general.architecture "${String(arch)}" is not one Tandem runs from a GGUF file ` +
        `(${Object.keys(ARCHITECTURES).join(', ')}).`,
    );
  }
  const value = (key: string): GgufValue | undefined => metadata.get(`${arch}.${key}`);
  const number = (key: string, fallback?: number) => {
    const v = value(key) ?? fallback;
    if (v !== undefined && typeof v !== 'number') {
      throw new ModelConfigError(`${where}: ${arch}.${key} is ${String(v)}, not a number`);
    }
    return v;
  };
  const heads = number('attention.head_count');
  const headDim = number('attention.key_length');
  const ropeDims = number('rope.dimension_count');
  const embedding = tensors.find((t) => t.name === 'token_embd.weight');
  const width = number('embedding_length');
  const dims = headDim ?? (width !== undefined && heads ? width / heads : undefined);
  // llama.cpp turns the first rope.dimension_count values of a Phi-3, StableLM, Phi-2 or NeoX head as halves
  // (its NEOX RoPE), as transformers does with partial_rotary_factor; Llama's turns adjacent pairs.
  const partial = ropeDims !== undefined && dims !== undefined && ropeDims !== dims;
  const stableLm = known.architecture === 'StableLmForCausalLM';
  const phi = known.architecture === 'PhiForCausalLM';
  const neox = known.architecture === 'GPTNeoXForCausalLM';
  const qwen35 = known.architecture === 'Qwen3_5ForCausalLM';
  if (partial && known.architecture !== 'Phi3ForCausalLM' && !stableLm && !phi && !neox && !qwen35) {
    throw new ModelConfigError(`${where}: RoPE over ${ropeDims} of a head's ${dims} values is not supported`);
  }
  // llama.cpp's olmo2 files hold OLMo 3 too: sliding windows on three layers in four.
  if (arch === 'olmo2' && value('attention.sliding_window') !== undefined) {
    throw new UnsupportedArchitectureError(
      `${where}: an olmo2 file with a sliding window is OLMo 3, which Tandem does not run (OLMo 2 has none).`,
    );
  }
  const scaling = value('rope.scaling.type');
  const json: Record<string, unknown> = {
    architectures: [known.architecture],
    model_type: arch,
    hidden_size: width,
    intermediate_size: number('feed_forward_length'),
    num_hidden_layers: number('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: number('attention.head_count_kv', heads),
    head_dim: headDim,
    // Half a value over rope.dimension_count: int(head_dim x factor) is then that count, however
    // the division rounds.
    partial_rotary_factor: partial ? ((ropeDims as number) + 0.5) / (dims as number) : undefined,
    rms_norm_eps: number('attention.layer_norm_rms_epsilon'),
    rope_theta: number('rope.freq_base'),
    max_position_embeddings: number('context_length'),
    vocab_size: embedding?.shape[0],
    tie_word_embeddings: !tensors.some((t) => t.name === 'output.weight'),
    attention_bias:
      (known.architecture === 'LlamaForCausalLM' || neox) &&
      tensors.some((t) => t.name === 'blk.0.attn_q.bias' || t.name === 'blk.0.attn_qkv.bias'),
    rope_scaling: scaling === undefined || scaling === 'none' ? null : ropeScaling(scaling, number),
    // Phi-3: the context LongRoPE's short factors serve. The window only where llama.cpp reads
    // one (Phi-3 and Gemma 2; 0 is none, as Phi-4 writes it).
    original_max_position_embeddings: number('rope.scaling.original_context_length'),
    sliding_window: known.windowed ? number('attention.sliding_window') || null : null,
    ...(known.architecture === 'Gemma2ForCausalLM' ? gemma2Config(number, headDim, heads) : {}),
    ...(known.architecture === 'Gemma3ForCausalLM' ? gemma3Config(value, number, headDim, heads, where) : {}),
    ...(stableLm ? stableLmConfig(value, number, tensors) : {}),
    ...(phi || neox ? { rms_norm_eps: undefined, layer_norm_eps: number('attention.layer_norm_epsilon') } : {}),
    ...(neox ? { use_parallel_residual: value('use_parallel_residual') ?? true } : {}),
    ...(qwen35 ? qwen35Config(number) : {}),
    bos_token_id: metadata.get('tokenizer.ggml.bos_token_id'),
    eos_token_id: tokenizer.stopTokenIds,
  };
  return { json, arch: known };
}

/**
 * Qwen3.5's keys, as its converter writes them (Qwen3NextModel): the Gated DeltaNet layers' shape
 * under ssm.* (the state size is a key head's width, the group count the key heads, the time
 * step rank the value heads, the inner size their values), every full_attention_interval-th
 * layer attending; a multi-token prediction layer (nextn_predict_layers) after the model's own,
 * which is not read.
 */
function qwen35Config(number: (key: string, fallback?: number) => GgufValue | undefined): Record<string, unknown> {
  const valueHeads = number('ssm.time_step_rank') as number | undefined;
  const inner = number('ssm.inner_size') as number | undefined;
  const blocks = number('block_count') as number | undefined;
  return {
    num_hidden_layers: blocks === undefined ? undefined : blocks - ((number('nextn_predict_layers', 0) as number) ?? 0),
    full_attention_interval: number('full_attention_interval', 4),
    attn_output_gate: true,
    linear_conv_kernel_dim: number('ssm.conv_kernel'),
    linear_key_head_dim: number('ssm.state_size'),
    linear_num_key_heads: number('ssm.group_count'),
    linear_num_value_heads: valueHeads,
    linear_value_head_dim: inner !== undefined && valueHeads ? inner / valueHeads : undefined,
  };
}

/**
 * StableLM's keys, as its converter writes them: LayerNorm's epsilon, whether the branches run
 * side by side (true where not written, as for the first StableLMs), and per-head q/k norms and
 * q/k/v biases where their tensors are (config.ts refuses what it does not compute).
 */
function stableLmConfig(
  value: (key: string) => GgufValue | undefined,
  number: (key: string) => GgufValue | undefined,
  tensors: GgufTensorInfo[],
): Record<string, unknown> {
  const has = (name: string) => tensors.some((t) => t.name === name);
  return {
    rms_norm_eps: undefined,
    layer_norm_eps: number('attention.layer_norm_epsilon'),
    use_parallel_residual: value('use_parallel_residual') ?? true,
    qk_layernorm: has('blk.0.attn_q_norm.weight'),
    use_qkv_bias: has('blk.0.attn_q.bias'),
  };
}

/**
 * rope.scaling.* as transformers' rope_scaling. YaRN: its original context and betas;
 * yarn_log_multiplier is transformers' mscale_all_dim (llama.cpp takes mscale as 1 beside it),
 * and attention.temperature_scale Ministral 3's llama_4_scaling_beta, over the original context.
 */
function ropeScaling(type: GgufValue, number: (key: string) => GgufValue | undefined): Record<string, unknown> {
  const factor = number('rope.scaling.factor');
  if (type !== 'yarn') return { type, factor };
  const logMultiplier = number('rope.scaling.yarn_log_multiplier');
  const temperature = number('attention.temperature_scale');
  return {
    type,
    factor,
    original_max_position_embeddings: number('rope.scaling.original_context_length'),
    beta_fast: number('rope.scaling.yarn_beta_fast'),
    beta_slow: number('rope.scaling.yarn_beta_slow'),
    ...(logMultiplier === undefined ? {} : { mscale: 1, mscale_all_dim: logMultiplier }),
    ...(temperature ? { llama_4_scaling_beta: temperature } : {}),
  };
}

/**
 * Llama 3's rope_scaling whose divisors are `freqs` (rope_freqs.weight), as llama.cpp's
 * converter computes them: 1 for wavelengths under original / high_freq_factor, `factor` over
 * original / low_freq_factor, 1 / ((1 - s) / factor + s) between, s = (original / wavelength
 * - low) / (high - low). Llama 3.1 and 3.2 share low 1, high 4 and 8,192 original positions.
 */
export function llama3Scaling(freqs: Float32Array, config: ModelConfig, where: string) {
  const theta = config.ropes[0].theta;
  const dim = config.headDim;
  const scaling = {
    rope_type: 'llama3',
    factor: Math.max(...freqs),
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 8192,
  };
  const { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: original } = scaling;
  const expected = Array.from({ length: dim / 2 }, (_, i) => {
    const wavelength = (2 * Math.PI) / Math.fround(1 / theta ** ((2 * i) / dim));
    if (wavelength < original / high) return 1;
    if (wavelength > original / low) return factor;
    const s = (original / wavelength - low) / (high - low);
    return 1 / ((1 - s) / factor + s);
  });
  const matches =
    freqs.length === dim / 2 && expected.every((e, i) => Math.abs(freqs[i] - e) <= 1e-4 * Math.max(1, Math.abs(e)));
  if (!matches) {
    throw new ModelConfigError(
      `${where}: rope_freqs.weight holds RoPE divisors that are not Llama 3's (factor ${factor}, low 1, high 4, ` +
        '8192 original positions); Tandem cannot tell which scaling this file uses.',
    );
  }
  return scaling;
}

/**
 * What llama.cpp's Gemma 2 reads from the metadata and what it assumes: GELU (tanh), the
 * soft-caps, and queries scaled by head_dim^-1/2, but by (hidden / heads)^-1/2 for the 27B model
 * (46 layers), as its query_pre_attn_scalar says (llama-model.cpp).
 */
function gemma2Config(
  number: (key: string) => number | undefined,
  headDim: number | undefined,
  heads: number | undefined,
): Record<string, unknown> {
  const hidden = number('embedding_length');
  const is27B = number('block_count') === 46 && hidden !== undefined && heads !== undefined;
  return {
    hidden_activation: 'gelu_pytorch_tanh',
    query_pre_attn_scalar: is27B ? hidden / heads : headDim,
    attn_logit_softcapping: number('attn_logit_softcapping'),
    final_logit_softcapping: number('final_logit_softcapping'),
  };
}

/**
 * What llama.cpp's Gemma 3 reads from the metadata and what it assumes (llama-model.cpp): GELU
 * (tanh); windowed attention in five layers of six (unless the file gives
 * attention.sliding_window_pattern: a period, or a flag per layer), with RoPE base 10,000
 * there (unless rope.freq_base_swa says); queries scaled as Gemma 2's, the 27B model having 62
 * layers.
 */
function gemma3Config(
  value: (key: string) => GgufValue | undefined,
  number: (key: string) => number | undefined,
  headDim: number | undefined,
  heads: number | undefined,
  where: string,
): Record<string, unknown> {
  const hidden = number('embedding_length');
  const layers = number('block_count');
  const is27B = layers === 62 && hidden !== undefined && heads !== undefined;
  const pattern = value('attention.sliding_window_pattern') ?? 6;
  let windows: Record<string, unknown>;
  if (Array.isArray(pattern)) {
    if (!pattern.every((p) => typeof p === 'boolean')) {
      throw new ModelConfigError(`${where}: gemma3.attention.sliding_window_pattern is not a flag for each layer`);
    }
    windows = { layer_types: pattern.map((p) => (p ? 'sliding_attention' : 'full_attention')) };
  } else {
    windows = { sliding_window_pattern: pattern };
  }
  return {
    hidden_activation: 'gelu_pytorch_tanh',
    query_pre_attn_scalar: is27B ? hidden / heads : headDim,
    rope_local_base_freq: number('rope.freq_base_swa') ?? 10000,
    ...windows,
  };
}
