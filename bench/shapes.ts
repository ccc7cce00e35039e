/**
 * The exact shapes of real checkpoints (their config.json fields, as published on the Hugging
 * Face Hub), for benchmarks with random weights: the timings are real, the text is not.
 *
 * A draft must share its target's vocabulary. The SmolLM2 pair is a real one; for the other
 * targets the draft is SmolLM2-135M's stack of layers with the target's vocabulary (a
 * 135M-class draft trained for that tokenizer), since the embedding table and LM head it brings
 * are a real part of a draft step's cost.
 */

import { type ModelConfig, parseModelConfig } from '../src/loader/config';
import { expectedTensors } from '../src/loader/tensor-names';
import { llamaConfigJson } from '../src/model/random-weights';

/** How the weights are stored: f16 (MLC's name for it, q0f16) or MLC's 4-bit q4f16_1. */
export type Quantization = 'q0f16' | 'q4f16_1';

export interface Shape {
  name: string;
  config: ModelConfig;
  quantization: Quantization;
}

const SMOLLM2_135M = {
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  vocab_size: 49152,
  tie_word_embeddings: true,
  rope_theta: 100000,
  max_position_embeddings: 8192,
};

const SMOLLM2_360M = {
  ...SMOLLM2_135M,
  hidden_size: 960,
  intermediate_size: 2560,
  num_hidden_layers: 32,
  num_attention_heads: 15,
  num_key_value_heads: 5,
};

const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'],
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  tie_word_embeddings: true,
  rope_theta: 1000000,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 32768,
};

const LLAMA32_1B = {
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  vocab_size: 128256,
  tie_word_embeddings: true,
  rope_theta: 500000,
  rope_scaling: {
    rope_type: 'llama3',
    factor: 32,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 8192,
  },
  max_position_embeddings: 131072,
};

const LLAMA32_3B = {
  ...LLAMA32_1B,
  hidden_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 24,
  head_dim: 128,
};

const LLAMA31_8B = {
  ...LLAMA32_1B,
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  head_dim: 128,
  tie_word_embeddings: false,
  rope_scaling: { ...LLAMA32_1B.rope_scaling, factor: 8 },
};

const QWEN25_7B = {
  ...QWEN25_05B,
  hidden_size: 3584,
  intermediate_size: 18944,
  num_hidden_layers: 28,
  num_attention_heads: 28,
  num_key_value_heads: 4,
  vocab_size: 152064,
  tie_word_embeddings: false,
};

/** Qwen3.5-0.8B's text model: 18 Gated DeltaNet layers (16 key and value heads of 128) and 6 of gated attention. */
const QWEN35_08B = {
  architectures: ['Qwen3_5ForCausalLM'],
  hidden_size: 1024,
  intermediate_size: 3584,
  num_hidden_layers: 24,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  head_dim: 256,
  partial_rotary_factor: 0.25,
  linear_num_key_heads: 16,
  linear_num_value_heads: 16,
  linear_key_head_dim: 128,
  linear_value_head_dim: 128,
  vocab_size: 248320,
  tie_word_embeddings: true,
  rope_theta: 10000000,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 262144,
  mtp_num_hidden_layers: 1, // its checkpoints carry a multi-token prediction layer (loader/mtp.ts)
};

/** Qwen3.5-9B's: 24 Gated DeltaNet layers (16 key heads, 32 value heads) and 8 of gated attention. */
const QWEN35_9B = {
  ...QWEN35_08B,
  hidden_size: 4096,
  intermediate_size: 12288,
  num_hidden_layers: 32,
  num_attention_heads: 16,
  num_key_value_heads: 4,
  linear_num_value_heads: 32,
  tie_word_embeddings: false,
};

function shape(name: string, fields: Record<string, unknown>, quantization: Quantization = 'q0f16'): Shape {
  const label = quantization === 'q0f16' ? name : `${name} ${quantization}`;
  return { name: label, config: parseModelConfig(llamaConfigJson(fields), name), quantization };
}

const q4 = (name: string, fields: Record<string, unknown>) => shape(name, fields, 'q4f16_1');

export interface ShapePair {
  target: Shape;
  draft: Shape;
}

const LLAMA3_DRAFT = { ...SMOLLM2_135M, vocab_size: LLAMA32_1B.vocab_size };

/**
 * Target/draft pairs, smallest first, in f16 and as web-llm serves them (q4f16_1); the 3B and
 * 8B Llama and the 7B Qwen take the 1B Llama and the 0.5B Qwen of their families as drafts, and
 * Qwen3.5-9B (hybrid: Gated DeltaNet layers) its 0.8B.
 * `quick` keeps the first pair of each kind (QUICK_PAIRS).
 */
export const SHAPE_PAIRS: ShapePair[] = [
  { target: shape('SmolLM2-360M', SMOLLM2_360M), draft: shape('SmolLM2-135M', SMOLLM2_135M) },
  { target: q4('SmolLM2-360M', SMOLLM2_360M), draft: q4('SmolLM2-135M', SMOLLM2_135M) },
  {
    target: shape('Qwen2.5-0.5B', QWEN25_05B),
    draft: shape('135M-class draft, Qwen2.5 vocabulary', { ...SMOLLM2_135M, vocab_size: QWEN25_05B.vocab_size }),
  },
  {
    target: shape('Llama-3.2-1B', LLAMA32_1B),
    draft: shape('135M-class draft, Llama 3 vocabulary', LLAMA3_DRAFT),
  },
  { target: q4('Llama-3.2-1B', LLAMA32_1B), draft: q4('135M-class draft, Llama 3 vocabulary', LLAMA3_DRAFT) },
  { target: q4('Llama-3.2-3B', LLAMA32_3B), draft: q4('Llama-3.2-1B', LLAMA32_1B) },
  { target: q4('Llama-3.1-8B', LLAMA31_8B), draft: q4('Llama-3.2-1B', LLAMA32_1B) },
  { target: q4('Qwen2.5-7B', QWEN25_7B), draft: q4('Qwen2.5-0.5B', QWEN25_05B) },
  { target: q4('Qwen3.5-9B', QWEN35_9B), draft: q4('Qwen3.5-0.8B', QWEN35_08B) },
];

/** What a quick run measures: the smallest pair in f16 and in q4f16_1. */
export const QUICK_PAIRS = SHAPE_PAIRS.slice(0, 2);

/** The pairs a run measures (quick: QUICK_PAIRS) whose target's name holds `only`. */
export function pairsToRun(quick: boolean, only = ''): ShapePair[] {
  return (quick ? QUICK_PAIRS : SHAPE_PAIRS).filter((pair) => pair.target.name.includes(only));
}

/** Parameters in a model of this shape: every tensor its config implies (a tied LM head is the embedding). */
export function parameterCount(config: ModelConfig): number {
  let count = 0;
  for (const shape of expectedTensors(config).values()) count += shape.reduce((a, b) => a * b, 1);
  return count;
}
