/**
 * config.json of the architectures Tandem runs, as published checkpoints spell it, reduced to
 * what the forward pass needs (its RoPE through rope-config.ts; the tensor names and shapes it
 * implies are tensor-names.ts's).
 *
 *   Llama, Mistral, Qwen2   the Llama layer (RMSNorm, RoPE, grouped-query attention, SwiGLU)
 *   Qwen3                   + an RMSNorm over each head of q and k before RoPE
 *   Phi-3, Phi-3.5          + q|k|v and gate|up fused in the file; LongRoPE
 *   Phi-4-mini              Phi-3 with RoPE over three quarters of each head
 *   Gemma                   + norms scaled by (1 + w), GELU, a scaled embedding
 *   Gemma 2                 + norms scaled by (1 + w) and on both ends of each branch, GELU,
 *                             a scaled embedding, soft-capped attention and logits,
 *                             sliding-window attention every other layer
 *   Gemma 3 (text)          Gemma 2 without soft caps, with Qwen3's q/k norms, five
 *                             sliding-window layers to one global, and a RoPE for each kind
 *   Ministral 3 (text)      the Llama layer with YaRN RoPE and Llama 4's query scaling
 *   OLMo 2                  norms on each branch's output only, and over the whole q and k
 *                             projections before RoPE
 *   StableLM 2              LayerNorm (with a bias) for RMSNorm, q/k/v biases, RoPE over a
 *                             quarter of each head
 *   Phi-1, Phi-1.5, Phi-2   StableLM's norms and partial RoPE; attention and the MLP side by side
 *                             on one norm; an MLP without a gate (fc1, GELU, fc2); biases
 *                             everywhere, the LM head's too. Its checkpoints' own tensor names
 *                             (dense, fc1, fc2, final_layernorm) are read as Llama's (tensor-names.ts)
 *   GPT-NeoX (RedPajama)    Phi's layer with a norm of its own for each branch (or the branches
 *                             one after the other: use_parallel_residual), the exact GELU; q|k|v
 *                             fused head by head in its checkpoints (tensor-names.ts; weights.ts)
 *   Qwen3.5                 hybrid: Gated DeltaNet layers (linear attention with a recurrent
 *                             state, `linearAttention`) among Qwen3 attention layers whose output
 *                             is gated; every norm by (1 + w). Published as a vision-language
 *                             model: the text model's config under text_config, its tensors under
 *                             model.language_model. (the vision tower is not read)
 *
 * Nothing in a config.json is ignored without a decision: every key is read, or listed in
 * CONFIG_KEYS as irrelevant to the forward pass (with why), or refused by name when it asks
 * for something Tandem does not compute. Keys no list knows are reported (`unknownKeys`) so
 * the engine can warn about them.
 */

import { ModelConfigError, UnsupportedArchitectureError } from '../errors';
import { parseQueryScaling, parseRopeLayers, parseRopeScaling, parseRotaryDim, positiveNumber } from './rope-config';

export const SUPPORTED_ARCHITECTURES = [
  'LlamaForCausalLM',
  'SmolLM3ForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
  'Qwen3ForCausalLM',
  'Phi3ForCausalLM',
  'GemmaForCausalLM',
  'Gemma2ForCausalLM',
  'Gemma3ForCausalLM',
  'Ministral3ForCausalLM',
  'Olmo2ForCausalLM',
  'StableLmForCausalLM',
  'PhiForCausalLM',
  'GPTNeoXForCausalLM',
  'Qwen3_5ForCausalLM',
] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** RoPE frequency scaling. */
export type RopeScaling =
  | { type: 'default' }
  /** Positions divided by `factor` (Gemma 3's global layers). */
  | { type: 'linear'; factor: number }
  /** Llama 3: long wavelengths slowed by `factor`, short ones kept, smooth in between. */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  /**
   * LongRoPE (Phi-3, Phi-3.5): each frequency divided by its own factor, `short` below
   * `originalMaxPositions` and `long` from there (chosen per position, so a position's rotation
   * never depends on the sequence around it), cos and sin scaled by `attentionFactor`.
   */
  | { type: 'longrope'; short: number[]; long: number[]; originalMaxPositions: number; attentionFactor: number }
  /**
   * YaRN (Ministral 3, and Qwen's long-context configs): frequencies that turn fewer than
   * `betaSlow` times over the original context divided by `factor`, those that turn more than
   * `betaFast` times kept, a linear ramp between (over dimension indices, their ends rounded
   * out unless `truncate` is false); cos and sin scaled by `attentionFactor`.
   */
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositions: number;
      betaFast: number;
      betaSlow: number;
      truncate: boolean;
      attentionFactor: number;
    };

/**
 * Llama 4's attention temperature (Ministral 3's llama_4_scaling_beta): the queries of position
 * p are multiplied by 1 + beta ln(1 + floor(p / interval)), exactly 1 below `interval`.
 */
export interface QueryScaling {
  beta: number;
  interval: number;
}

export interface Rope {
  theta: number;
  scaling: RopeScaling;
  /** No rotation at all (NoPE: SmolLM3's every fourth layer): cos 1 and sin 0 pass the values. */
  passes?: true;
  /** The queries' scaling by position (Ministral 3), or none. */
  queryScaling?: QueryScaling;
}

/** SiLU, GELU's tanh approximation, or the exact GELU, x/2 (1 + erf(x / sqrt 2)) (GPT-NeoX). */
export type Activation = 'silu' | 'gelu-tanh' | 'gelu';

export interface LayerAttention {
  /** Keys a query attends to: the last `window` positions (its own included), or all (null). */
  window: number | null;
  /** Index into `ropes` of the rotation this layer's queries and keys take. */
  rope: number;
  /** A Gated DeltaNet layer (Qwen3.5) in place of attention: no keys and values, a recurrent state. */
  linear?: true;
}

/**
 * The shape of Qwen3.5's Gated DeltaNet layers (Yang et al. 2025). Per token, with C = 2 keyHeads
 * keyDim + valueHeads valueDim channels:
 *   q|k|v = silu(conv(in_proj_qkv(x)))      a causal depthwise convolution over the last convKernel rows
 *   q, k  = l2norm per head (q also by 1/sqrt(keyDim)); key head h / (valueHeads / keyHeads) serves value head h
 *   g = -exp(A_log) softplus(in_proj_a(x) + dt_bias),  beta = sigmoid(in_proj_b(x))   (per value head)
 *   S = exp(g) S;  S += k (beta (v - S^T k))^T;  o = S^T q          S: (keyDim, valueDim) per value head
 *   out = out_proj(rmsnorm(o) w * silu(in_proj_z(x)))               per value head
 */
export interface LinearAttention {
  keyHeads: number;
  valueHeads: number;
  keyDim: number;
  valueDim: number;
  convKernel: number;
  /**
   * How value heads follow key heads in every tensor that has one part per value head (v's
   * rows of q|k|v and of the convolution, z, b, a, A_log, dt_bias, out_proj's columns):
   * 'grouped' (Hugging Face's: value head h is key head h / (valueHeads / keyHeads)'s), or
   * 'tiled' (llama.cpp's GGUF files: key head h mod keyHeads).
   */
  valueHeadOrder?: 'grouped' | 'tiled';
}

/** The key head whose q and k value head `h` reads. */
export function keyHeadOf(shape: LinearAttention, h: number): number {
  return shape.valueHeadOrder === 'tiled' ? h % shape.keyHeads : Math.floor(h / (shape.valueHeads / shape.keyHeads));
}

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number; // d
  intermediateSize: number; // f, the MLP's hidden width
  numLayers: number;
  numHeads: number; // query heads
  numKvHeads: number; // key/value heads (grouped-query attention when < numHeads)
  headDim: number;
  /**
   * RoPE turns the first rotaryDim values of each head of q and k, as halves of their own
   * (value i with i + rotaryDim/2), and passes the rest as they are: headDim but for Phi-4-mini
   * (partial_rotary_factor 0.75).
   */
  rotaryDim: number;
  /** The norms' epsilon (rms_norm_eps; layer_norm_eps where they are LayerNorms). */
  normEps: number;
  /**
   * What every norm of the residual stream is (the q/k norms are RMSNorms): 'rms', x / rms(x) w;
   * or 'layer' (StableLM 2, Phi-1/2, GPT-NeoX), LayerNorm: (x - mean(x)) / sqrt(var(x) + eps) w + b,
   * its bias a tensor beside each weight.
   */
  norm: 'rms' | 'layer';
  tieWordEmbeddings: boolean;
  maxPositions: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Biases on q, k, v (Qwen2 always; attention_bias elsewhere), on o (attention_bias, not Qwen2), on the MLP. */
  qkvBias: boolean;
  outputBias: boolean;
  mlpBias: boolean;
  /**
   * An RMSNorm of q and of k before RoPE: over each head (Qwen3, Gemma 3), or over the whole
   * projection, all heads at once (OLMo 2); or none.
   */
  qkNorm: 'head' | 'projection' | null;
  /** Norms multiply by (1 + weight) instead of weight (Gemma). */
  normOffset: 0 | 1;
  /** A norm at the end of the attention and MLP branches, before each is added (Gemma 2 and 3, OLMo 2). */
  sandwichNorms: boolean;
  /** A norm at the start of each branch, on its input (every architecture but OLMo 2). */
  branchInputNorms: boolean;
  activation: Activation;
  /** The embedding rows are multiplied by this (Gemma: sqrt(d)). */
  embeddingScale: number;
  /** Attention scores are q . k times this (1 / sqrt(headDim), or Gemma's query_pre_attn_scalar^-1/2). */
  attentionScale: number;
  /** Scores and final logits become c tanh(x / c) (Gemma 2), or are left alone (null). */
  attentionSoftcap: number | null;
  finalSoftcap: number | null;
  /** The rotations the layers use: one, or Gemma 3's local and global ones. */
  ropes: Rope[];
  layers: LayerAttention[];
  /** Which projections come fused in the file: q|k|v, gate|up (Phi-3's both; MLC's folders per model type). */
  fused: { qkv: boolean; gateUp: boolean };
  /**
   * Attention and the MLP both read the layer's input x, and both add to it: x += attn(n(x)) +
   * mlp(n'(x)), n' the MLP's own norm (GPT-NeoX) or attention's (`sharedBranchNorm`, Phi-1/2);
   * else the MLP reads x after attention's add.
   */
  parallelBranches: boolean;
  /** Branches side by side read one norm (Phi-1/2): the layer has no MLP norm. */
  sharedBranchNorm: boolean;
  /**
   * The MLP's in-projection: gate and up, act(gate) * up (true); or one matrix, act(up) (Phi-1/2's
   * fc1, held as up_proj).
   */
  gatedMlp: boolean;
  /** The LM head adds a bias (Phi-1/2's lm_head.bias). */
  headBias: boolean;
  /** The Gated DeltaNet layers' shape, where some layers are (`layers[l].linear`: Qwen3.5). */
  linearAttention?: LinearAttention;
  /**
   * Attention's output gated before o_proj (Qwen3.5): q_proj gives each head's query and then its
   * gate, hd rows each, and the heads' output is multiplied by sigmoid(gate).
   */
  attentionOutputGate?: boolean;
  /**
   * The checkpoint is a vision-language model's (Qwen3.5): the text model's tensors under
   * model.language_model. where Tandem's names say model., the vision tower's not read.
   */
  languageModelOfMultimodal?: boolean;
  /** Keys of config.json that no decision below covers: the engine warns about them. */
  unknownKeys: string[];
  /**
   * An EAGLE draft head (loader/eagle.ts): its one layer reads a hidden state given with each
   * token (the target's features, or the head's own last one) beside the token's embedding.
   * 'eagle3': the residual stream starts from the hidden state, and q, k and v read
   * [rmsnorm(embedding) w_in; rmsnorm(hidden) w_hidden]. 'eagle1' (EAGLE-1 and EAGLE-2 heads):
   * it starts from fc([embedding; hidden]) + b, the layer has no input norm, and the logits are
   * the target's LM head over its last state, with no final norm. 'mtp' (Qwen3.5's own
   * multi-token prediction layer, loader/mtp.ts): it starts from
   * fc([rmsnorm(embedding) w_e; rmsnorm(hidden) w_h]), then a whole layer, the final norm and the
   * target's LM head; the state it feeds itself is its output after that norm.
   */
  hiddenInput?: 'eagle3' | 'eagle1' | 'mtp';
  /**
   * Qwen3.5's multi-token prediction layers (`mtp_num_hidden_layers`, tensors under `mtp.`): a
   * draft head that ships inside the checkpoint (loader/mtp.ts); `dedicatedEmbeddings`: the head
   * embeds with a table of its own instead of the model's.
   */
  mtp?: { layers: number; dedicatedEmbeddings: boolean };
}

/**
 * Keys that do not change the forward pass of inference, and why; every key Tandem reads is
 * in READ_KEYS, and keys that ask for what Tandem does not compute are refused in parseModelConfig.
 */
export const CONFIG_KEYS: Record<string, string> = {
  model_type: 'named in messages only',
  torch_dtype: 'weights keep the dtype of their file',
  dtype: 'weights keep the dtype of their file',
  transformers_version: 'provenance',
  _name_or_path: 'provenance',
  auto_map: 'names Python classes; the architecture decides',
  use_cache: 'inference always keeps a KV cache',
  cache_implementation: 'the KV cache is Tandem own',
  initializer_range: 'training only',
  attention_dropout: 'training only',
  hidden_dropout: 'training only',
  classifier_dropout: 'training only (a classification head Tandem does not have)',
  embd_pdrop: 'training only',
  resid_pdrop: 'training only',
  pretraining_tp: 'splits the same products over devices in training; the sums are the same',
  pad_token_id: 'padding is never computed',
  output_attentions: 'a Python API switch',
  output_hidden_states: 'a Python API switch',
  return_dict: 'a Python API switch',
  use_return_dict: 'a Python API switch',
  max_window_layers: 'read with use_sliding_window (Qwen2, SmolLM3)',
  use_sliding_window: 'read with sliding_window (Qwen2, SmolLM3)',
  no_rope_layer_interval: 'read where no_rope_layers is left out (SmolLM3)',
  tokenizer_class: 'the tokenizer files decide',
  _attn_implementation: 'a Python kernel choice',
  rope_local_base_freq: 'read (Gemma 3)',
  sliding_window_pattern: 'read (Gemma 3)',
  original_max_position_embeddings: 'read with rope_scaling (Phi-3, YaRN)',
  is_decoder: 'every model here is a decoder',
  full_attn_mod: "Phi-4-mini's remote code only: transformers' Phi-3, which runs the model, reads it not",
  interpolate_factor: "Phi-4-mini's remote code only: transformers' Phi-3, which runs the model, reads it not",
  lm_head_bias: "Phi-4-mini's remote code only (false): transformers' Phi-3 has no LM head bias",
  full_attention_interval: 'read with layer_types (Qwen3.5)',
  mamba_ssm_dtype: "the recurrent state's dtype in training; Tandem keeps it in float32",
};

/**
 * The top level of a vision-language model's config.json (Qwen3.5), beside its text_config: the
 * vision tower and the tokens that stand for images, none of which a text model reads.
 */
const MULTIMODAL_KEYS = new Set([
  'architectures',
  'model_type',
  'text_config',
  'vision_config',
  'image_token_id',
  'video_token_id',
  'vision_start_token_id',
  'vision_end_token_id',
  'tie_word_embeddings',
  'transformers_version',
  'torch_dtype',
  'dtype',
  'language_model_only',
]);

/** Keys the forward pass reads. */
const READ_KEYS = new Set([
  'architectures',
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'hidden_act',
  'hidden_activation',
  'max_position_embeddings',
  'rms_norm_eps',
  'rope_theta',
  'rope_scaling',
  'rope_parameters',
  'tie_word_embeddings',
  'attention_bias',
  'mlp_bias',
  'bos_token_id',
  'eos_token_id',
  'sliding_window',
  'layer_types',
  'no_rope_layers',
  'query_pre_attn_scalar',
  'attn_logit_softcapping',
  'final_logit_softcapping',
  'partial_rotary_factor',
  'use_bidirectional_attention',
  'quantization_config',
  'num_experts',
  'num_local_experts',
  'layer_norm_eps',
  'use_qkv_bias',
  'qk_layernorm',
  'use_parallel_residual',
  'rotary_pct',
  'rotary_emb_base',
  'attn_output_gate',
  'linear_num_key_heads',
  'linear_num_value_heads',
  'linear_key_head_dim',
  'linear_value_head_dim',
  'linear_conv_kernel_dim',
  'mtp_num_hidden_layers',
  'mtp_use_dedicated_embeddings',
]);

const MAX_LAYERS = 1024;
const MAX_DIMENSION = 1 << 20;
const MAX_VOCAB = 1 << 22;

export function parseModelConfig(json: unknown, source = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelConfigError(`${source} is not a JSON object`);
  }
  const multimodal = textModelOf(json as Record<string, unknown>, source);
  const raw = multimodal?.text ?? (json as Record<string, unknown>);
  const architectures = raw.architectures;
  const architecture = Array.isArray(architectures) ? architectures[0] : undefined;
  if (!SUPPORTED_ARCHITECTURES.includes(architecture)) {
    const named = architecture ?? (raw.model_type ? `model_type ${JSON.stringify(raw.model_type)}` : null);
    throw new UnsupportedArchitectureError(
      `${source}: ${architecture === undefined ? 'no "architectures" entry' : `architecture ${JSON.stringify(named)}`} ` +
        `is not one Tandem runs (${SUPPORTED_ARCHITECTURES.join(', ')}).`,
    );
  }
  const arch = architecture as Architecture;
  const fail = (message: string) => new ModelConfigError(`${source}: ${message}`);
  const int = (key: string, fallback?: number, max = MAX_DIMENSION): number => {
    const value = raw[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0 || (value as number) > max) {
      throw fail(`"${key}" must be a whole number from 1 to ${max}, got ${JSON.stringify(raw[key])}`);
    }
    return value as number;
  };
  const num = (key: string, fallback: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
      throw fail(`"${key}" must be a positive finite number, got ${JSON.stringify(raw[key])}`);
    }
    return value;
  };
  const optionalNum = (key: string): number | null => (raw[key] == null ? null : num(key, 0));
  const flag = (key: string, fallback: boolean): boolean => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'boolean') throw fail(`"${key}" must be true or false, got ${JSON.stringify(raw[key])}`);
    return value;
  };

  for (const key of ['quantization_config', 'num_experts', 'num_local_experts']) {
    if (raw[key] != null && raw[key] !== 0) {
      throw fail(
        `"${key}" asks for ${key === 'quantization_config' ? 'quantized weights in this folder' : 'a mixture of experts'}, which Tandem does not run`,
      );
    }
  }
  if (raw.use_bidirectional_attention === true) throw fail('bidirectional attention is not a causal language model');
  const stableLm = arch === 'StableLmForCausalLM';
  const phi = arch === 'PhiForCausalLM';
  const neox = arch === 'GPTNeoXForCausalLM';
  const qwen35 = arch === 'Qwen3_5ForCausalLM';
  if (qwen35 && raw.attn_output_gate === false)
    throw fail('Qwen3.5 without its attention output gate is not a model Tandem knows');
  if ((stableLm || phi) && raw.qk_layernorm === true) {
    throw fail('qk_layernorm (a LayerNorm over each head of q and k) is not computed by Tandem');
  }
  if (stableLm && raw.use_parallel_residual === true) {
    throw fail('use_parallel_residual (attention and MLP side by side, StableLM 2 12B) is not computed by Tandem');
  }

  const gemma = arch === 'GemmaForCausalLM' || arch === 'Gemma2ForCausalLM' || arch === 'Gemma3ForCausalLM';
  const act =
    raw.hidden_activation ??
    raw.hidden_act ??
    (gemma ? 'gelu_pytorch_tanh' : phi ? 'gelu_new' : neox ? 'gelu' : 'silu');
  // gelu_new (Phi-1/2) is GELU's tanh approximation under its older name; Gemma's gelu is the
  // approximation it was trained with, everyone else's the exact GELU.
  const activation: Activation | undefined =
    act === 'silu'
      ? 'silu'
      : act === 'gelu_pytorch_tanh' || act === 'gelu_new' || (gemma && act === 'gelu')
        ? 'gelu-tanh'
        : act === 'gelu'
          ? 'gelu'
          : undefined;
  if (!activation) {
    throw fail(`hidden activation ${JSON.stringify(act)} is not supported (silu, gelu, gelu_pytorch_tanh, gelu_new)`);
  }

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads', undefined, 4096);
  const numKvHeads = int('num_key_value_heads', numHeads, 4096);
  const headDim = int('head_dim', Math.floor(hiddenSize / numHeads), 4096);
  const numLayers = int('num_hidden_layers', undefined, MAX_LAYERS);
  if (numHeads % numKvHeads !== 0) {
    throw fail(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  if (headDim % 4 !== 0) throw fail(`head_dim ${headDim} must be a multiple of 4`);
  const rotaryDim = parseRotaryDim(raw, arch, headDim, fail);
  // A linear kernel reads a row 8 half-precision values at a time: every input width is a multiple of 8.
  const intermediateSize = int('intermediate_size');
  for (const [what, width] of [
    ['hidden_size', hiddenSize],
    ['intermediate_size', intermediateSize],
    ['num_attention_heads x head_dim', numHeads * headDim],
  ] as const) {
    if (width % 8 !== 0) throw fail(`${what} is ${width}; Tandem's kernels need a multiple of 8`);
  }
  const vocabSize = int('vocab_size', undefined, MAX_VOCAB);
  const eos = raw.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos : eos == null ? [] : [eos];
  if (!eosTokenIds.every((id) => Number.isSafeInteger(id) && id >= 0 && id < vocabSize)) {
    throw fail(`eos_token_id ${JSON.stringify(eos)} is not a token id below vocab_size or a list of them`);
  }

  const maxPositions = int('max_position_embeddings', 2048, 1 << 24);
  // transformers 5 writes rope_parameters: one set, or one per layer type (Gemma 3).
  const parameters = raw.rope_parameters as Record<string, Record<string, unknown>> | undefined;
  const perType = parameters?.full_attention ?? parameters?.sliding_attention;
  const globalParameters = (perType ? parameters?.full_attention : parameters) as Record<string, unknown> | undefined;
  const ropeOf = (from: Record<string, unknown> | undefined, theta: number, scaling: unknown): Rope => {
    const parameters = (from ?? scaling) as Record<string, unknown> | null | undefined;
    return {
      theta: from?.rope_theta === undefined ? theta : positiveNumber(from.rope_theta, 'rope_theta', fail),
      scaling: parseRopeScaling(parameters, raw, maxPositions, rotaryDim, fail),
      ...parseQueryScaling(parameters, arch, fail),
    };
  };
  // GPT-NeoX's checkpoints name the base rotary_emb_base.
  const theta = neox && raw.rope_theta == null ? num('rotary_emb_base', 10000) : num('rope_theta', 10000);
  const ropes: Rope[] = [ropeOf(globalParameters, theta, raw.rope_scaling)];
  const windowOf = () => int('sliding_window', undefined, 1 << 24);
  let layers: LayerAttention[] = Array.from({ length: numLayers }, () => ({ window: null, rope: 0 }));
  const slidingLayers = qwen35 ? [] : parseLayerTypes(raw, arch, numLayers, fail);
  if (qwen35) {
    layers = parseHybridLayers(raw, numLayers, fail).map((linear) => (linear ? { ...layers[0], linear } : layers[0]));
  } else if (arch === 'Gemma3ForCausalLM') {
    const local = perType ? parameters?.sliding_attention : undefined;
    ropes.push(ropeOf(local, num('rope_local_base_freq', 10000), null));
    layers = slidingLayers.map((sliding) => (sliding ? { window: windowOf(), rope: 1 } : { window: null, rope: 0 }));
  } else if (arch === 'Gemma2ForCausalLM') {
    layers = slidingLayers.map((sliding) => ({ window: sliding ? windowOf() : null, rope: 0 }));
  } else if (arch === 'Qwen2ForCausalLM' || arch === 'Qwen3ForCausalLM' || arch === 'SmolLM3ForCausalLM') {
    // Qwen's sliding window applies only when use_sliding_window says so, from max_window_layers
    // on; SmolLM3's where its layer_types say so, or as Qwen's when they are left out.
    if (arch === 'SmolLM3ForCausalLM' && Array.isArray(raw.layer_types)) {
      layers = slidingLayers.map((sliding) => ({ window: sliding ? windowOf() : null, rope: 0 }));
    } else if (flag('use_sliding_window', false) && raw.sliding_window != null) {
      const from = raw.max_window_layers == null ? 0 : int('max_window_layers', undefined, MAX_LAYERS);
      layers = layers.map((l, i) => ({ ...l, window: i >= from ? windowOf() : null }));
    }
    if (arch === 'SmolLM3ForCausalLM') {
      // NoPE layers: no rotation, a table of cos 1 and sin 0 (`passes`).
      const turned = parseRopeLayers(raw, numLayers, fail);
      if (turned.includes(false)) ropes.push({ ...ropes[0], passes: true });
      layers = layers.map((l, i) => ({ ...l, rope: turned[i] ? 0 : 1 }));
    }
  } else if (raw.sliding_window != null) {
    // Mistral v0.1 and Phi-3 attend within a window on every layer.
    layers = layers.map((l) => ({ ...l, window: windowOf() }));
  }

  // GPT-NeoX's attention has biases unless attention_bias says otherwise.
  const attentionBias = flag('attention_bias', neox);
  const bos = raw.bos_token_id;
  if (bos != null && !(Number.isSafeInteger(bos) && (bos as number) >= 0 && (bos as number) < vocabSize)) {
    throw fail(`bos_token_id ${JSON.stringify(bos)} is not a token id below vocab_size`);
  }
  return {
    architecture: arch,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rotaryDim,
    normEps: stableLm || phi || neox ? num('layer_norm_eps', 1e-5) : num('rms_norm_eps', 1e-6),
    norm: stableLm || phi || neox ? 'layer' : 'rms',
    tieWordEmbeddings: flag('tie_word_embeddings', gemma),
    maxPositions,
    bosTokenId: (bos as number | undefined) ?? null,
    eosTokenIds,
    qkvBias: arch === 'Qwen2ForCausalLM' || phi || attentionBias || (stableLm && flag('use_qkv_bias', false)),
    outputBias: phi || (arch !== 'Qwen2ForCausalLM' && attentionBias),
    mlpBias: phi || neox || flag('mlp_bias', false),
    qkNorm:
      arch === 'Qwen3ForCausalLM' || arch === 'Gemma3ForCausalLM' || qwen35
        ? 'head'
        : arch === 'Olmo2ForCausalLM'
          ? 'projection'
          : null,
    normOffset: gemma || qwen35 ? 1 : 0,
    sandwichNorms: arch === 'Gemma2ForCausalLM' || arch === 'Gemma3ForCausalLM' || arch === 'Olmo2ForCausalLM',
    branchInputNorms: arch !== 'Olmo2ForCausalLM',
    activation,
    embeddingScale: gemma ? Math.sqrt(hiddenSize) : 1,
    attentionScale: 1 / Math.sqrt(gemma ? num('query_pre_attn_scalar', headDim) : headDim),
    attentionSoftcap: arch === 'Gemma2ForCausalLM' ? optionalNum('attn_logit_softcapping') : null,
    finalSoftcap: arch === 'Gemma2ForCausalLM' ? optionalNum('final_logit_softcapping') : null,
    ropes,
    layers,
    fused: { qkv: arch === 'Phi3ForCausalLM' || neox, gateUp: arch === 'Phi3ForCausalLM' },
    parallelBranches: phi || (neox && flag('use_parallel_residual', true)),
    sharedBranchNorm: phi,
    gatedMlp: !phi && !neox,
    headBias: phi,
    ...(qwen35 && {
      linearAttention: parseLinearAttention(int, fail),
      attentionOutputGate: true,
      ...(multimodal && { languageModelOfMultimodal: true }),
      ...((raw.mtp_num_hidden_layers ?? 0) !== 0 && {
        mtp: { layers: int('mtp_num_hidden_layers'), dedicatedEmbeddings: flag('mtp_use_dedicated_embeddings', false) },
      }),
    }),
    unknownKeys: [
      ...Object.keys(raw).filter((key) => !READ_KEYS.has(key) && !Object.hasOwn(CONFIG_KEYS, key)),
      ...Object.keys(multimodal?.outer ?? {}).filter((key) => !MULTIMODAL_KEYS.has(key)),
    ],
  };
}

/**
 * A vision-language model's config (Qwen3.5's Qwen3_5ForConditionalGeneration): its text_config
 * as a text model's config.json would be, under the text model's architecture, with the tied
 * embedding said at the top level; undefined for any other config.
 */
function textModelOf(
  outer: Record<string, unknown>,
  source: string,
): { text: Record<string, unknown>; outer: Record<string, unknown> } | undefined {
  const architectures = outer.architectures;
  if (!Array.isArray(architectures) || architectures[0] !== 'Qwen3_5ForConditionalGeneration') return undefined;
  const text = outer.text_config;
  if (typeof text !== 'object' || text === null || Array.isArray(text)) {
    throw new ModelConfigError(`${source}: Qwen3_5ForConditionalGeneration without a "text_config" object`);
  }
  const tie = outer.tie_word_embeddings ?? (text as Record<string, unknown>).tie_word_embeddings;
  return {
    text: { ...text, architectures: ['Qwen3_5ForCausalLM'], tie_word_embeddings: tie ?? false },
    outer,
  };
}

/**
 * Which of Qwen3.5's layers are Gated DeltaNet ones: `layer_types` ("linear_attention" or
 * "full_attention" for each), else every layer but each full_attention_interval-th.
 */
function parseHybridLayers(raw: Record<string, unknown>, numLayers: number, fail: (message: string) => Error) {
  const types = raw.layer_types;
  if (types == null) {
    const every = raw.full_attention_interval ?? 4;
    if (!Number.isSafeInteger(every) || (every as number) < 1) {
      throw fail(`full_attention_interval ${JSON.stringify(every)} is not a period`);
    }
    return Array.from({ length: numLayers }, (_, i) => (i + 1) % (every as number) !== 0);
  }
  if (
    !Array.isArray(types) ||
    types.length !== numLayers ||
    !types.every((t) => t === 'linear_attention' || t === 'full_attention')
  ) {
    throw fail(`layer_types must name linear_attention or full_attention for each of the ${numLayers} layers`);
  }
  return types.map((t) => t === 'linear_attention');
}

/** The Gated DeltaNet layers' shape, with transformers' defaults for what a config leaves out. */
function parseLinearAttention(
  int: (key: string, fallback?: number, max?: number) => number,
  fail: (message: string) => Error,
): LinearAttention {
  const keyHeads = int('linear_num_key_heads', 16, 4096);
  const valueHeads = int('linear_num_value_heads', 32, 4096);
  if (valueHeads % keyHeads !== 0) {
    throw fail(`linear_num_value_heads ${valueHeads} is not a multiple of linear_num_key_heads ${keyHeads}`);
  }
  return {
    keyHeads,
    valueHeads,
    keyDim: int('linear_key_head_dim', 128, 4096),
    valueDim: int('linear_value_head_dim', 128, 4096),
    convKernel: int('linear_conv_kernel_dim', 4, 64),
  };
}

/** Which layers attend within a sliding window (Gemma): `layer_types`, else the architecture's pattern. */
function parseLayerTypes(
  raw: Record<string, unknown>,
  arch: Architecture,
  numLayers: number,
  fail: (message: string) => Error,
): boolean[] {
  const types = raw.layer_types;
  if (Array.isArray(types)) {
    if (types.length !== numLayers || !types.every((t) => t === 'sliding_attention' || t === 'full_attention')) {
      throw fail(`layer_types must name sliding_attention or full_attention for each of the ${numLayers} layers`);
    }
    return types.map((t) => t === 'sliding_attention');
  }
  // Gemma 2: every other layer, starting with the first; Gemma 3: all but every sixth.
  const every = arch === 'Gemma3ForCausalLM' ? Number(raw.sliding_window_pattern ?? 6) : 2;
  if (!Number.isSafeInteger(every) || every < 1) throw fail(`sliding_window_pattern ${every} is not a period`);
  return Array.from({ length: numLayers }, (_, i) => (i + 1) % every !== 0);
}

/** Layers that attend, and so keep keys and values: all but Gated DeltaNet layers. */
export function attentionLayerCount(config: ModelConfig): number {
  return config.numLayers - config.layers.filter((layer) => layer.linear).length;
}
