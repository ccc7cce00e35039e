/**
 * config.json of the Llama family as real checkpoints spell it (Llama, Mistral, Qwen2,
 * SmolLM), reduced to the numbers the forward pass needs, and the Hugging Face tensor names
 * and shapes those numbers imply. Anything else is refused by name.
 */

import { ModelConfigError, UnsupportedArchitectureError } from '../errors';

export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** RoPE frequency scaling: none, or Llama 3's (piecewise in wavelength). */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number; // dim
  intermediateSize: number; // hidden_dim of the MLP
  numLayers: number;
  numHeads: number; // query heads
  numKvHeads: number; // key/value heads (grouped-query attention when < numHeads)
  headDim: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  attentionBias: boolean; // q/k/v projections have biases (always in Qwen2)
  maxPositions: number;
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export function parseModelConfig(json: unknown, source = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null) throw new ModelConfigError(`${source} is not a JSON object`);
  const raw = json as Record<string, unknown>;
  const architectures = raw.architectures;
  const architecture = Array.isArray(architectures) ? architectures[0] : undefined;
  if (!SUPPORTED_ARCHITECTURES.includes(architecture)) {
    throw new UnsupportedArchitectureError(
      `${source}: architecture ${JSON.stringify(architecture ?? raw.model_type ?? null)} is not supported; ` +
        `Tandem runs ${SUPPORTED_ARCHITECTURES.join(', ')}.`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0) {
      throw new ModelConfigError(`${source}: "${key}" must be a positive integer, got ${JSON.stringify(raw[key])}`);
    }
    return value as number;
  };
  const num = (key: string, fallback: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !(value > 0)) {
      throw new ModelConfigError(`${source}: "${key}" must be a positive number, got ${JSON.stringify(raw[key])}`);
    }
    return value;
  };
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ModelConfigError(`${source}: hidden_act "${act}" is not supported (only silu)`);

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const headDim = int('head_dim', hiddenSize / numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError(
      `${source}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  if (headDim % 2 !== 0) throw new ModelConfigError(`${source}: head_dim ${headDim} must be even for RoPE`);
  const eos = raw.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos : eos == null ? [] : [eos];
  if (!eosTokenIds.every((id) => Number.isSafeInteger(id))) {
    throw new ModelConfigError(`${source}: eos_token_id ${JSON.stringify(eos)} is not a token id or a list of them`);
  }
  return {
    architecture,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    ropeTheta: num('rope_theta', 10000),
    ropeScaling: parseRopeScaling(raw.rope_scaling, source),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    attentionBias: architecture === 'Qwen2ForCausalLM' || raw.attention_bias === true,
    maxPositions: int('max_position_embeddings', 2048),
    slidingWindow:
      raw.use_sliding_window === false || raw.sliding_window == null ? null : int('sliding_window', undefined),
    bosTokenId: Number.isSafeInteger(raw.bos_token_id) ? (raw.bos_token_id as number) : null,
    eosTokenIds,
  };
}

function parseRopeScaling(value: unknown, source: string): RopeScaling {
  if (value == null) return { type: 'default' };
  const raw = value as Record<string, unknown>;
  const type = raw.rope_type ?? raw.type;
  if (type === 'default') return { type: 'default' };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: Number(raw.factor),
      lowFreqFactor: Number(raw.low_freq_factor),
      highFreqFactor: Number(raw.high_freq_factor),
      originalMaxPositions: Number(raw.original_max_position_embeddings),
    };
  }
  throw new ModelConfigError(`${source}: rope_scaling type ${JSON.stringify(type)} is not supported (default, llama3)`);
}

/**
 * RoPE inverse frequencies, one per pair of dimensions (headDim / 2 values):
 * inv_freq[i] = theta^(-2i / headDim), then, for Llama 3 scaling, divided by `factor` for long
 * wavelengths, kept for short ones, and interpolated smoothly in between.
 */
export function ropeInverseFrequencies(config: ModelConfig): Float64Array {
  const half = config.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / config.ropeTheta ** ((2 * i) / config.headDim);
  const scaling = config.ropeScaling;
  if (scaling.type === 'llama3') {
    const lowWavelen = scaling.originalMaxPositions / scaling.lowFreqFactor;
    const highWavelen = scaling.originalMaxPositions / scaling.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] /= scaling.factor;
      else if (wavelen >= highWavelen) {
        const smooth =
          (scaling.originalMaxPositions / wavelen - scaling.lowFreqFactor) /
          (scaling.highFreqFactor - scaling.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / scaling.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/** Every tensor the config implies, by its Hugging Face name, with its shape [out, in] or [n]. */
export function expectedTensors(config: ModelConfig): Map<string, number[]> {
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim, vocabSize } = config;
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [vocabSize, d]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [d]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [numHeads * headDim, d]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [numKvHeads * headDim, d]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [numKvHeads * headDim, d]);
    if (config.attentionBias) {
      shapes.set(`${p}.self_attn.q_proj.bias`, [numHeads * headDim]);
      shapes.set(`${p}.self_attn.k_proj.bias`, [numKvHeads * headDim]);
      shapes.set(`${p}.self_attn.v_proj.bias`, [numKvHeads * headDim]);
    }
    shapes.set(`${p}.self_attn.o_proj.weight`, [d, numHeads * headDim]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [d]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [f, d]);
    shapes.set(`${p}.mlp.up_proj.weight`, [f, d]);
    shapes.set(`${p}.mlp.down_proj.weight`, [d, f]);
  }
  shapes.set('model.norm.weight', [d]);
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [vocabSize, d]);
  return shapes;
}
