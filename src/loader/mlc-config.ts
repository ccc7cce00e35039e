/**
 * mlc-chat-config.json, the config of an MLC model folder (every model in web-llm's catalogue):
 * `model_type`, `quantization`, `model_config` (the Hugging Face config's fields, MLC-named
 * where MLC renames them), the sampling defaults, the stop tokens and the conversation template.
 *
 * The model config is read by translating it back into a Hugging Face config.json and parsing
 * that (config.ts), so both formats meet every check config.ts makes; MLC's fused q|k|v and
 * gate|up matrices are the layout Tandem already runs for Phi-3 (`fused`).
 */

import { ModelConfigError, UnsupportedArchitectureError, UnsupportedQuantizationError } from '../errors';
import { type ModelConfig, parseModelConfig } from './config';
import { neoxTensorName } from './tensor-names';
import type { WeightDType } from './weights';

/**
 * MLC's model types that Tandem runs, as Hugging Face architectures: the Llama family, Phi-3
 * (and Phi-4-mini), Gemma, Gemma 2, Gemma 3 (text), Ministral 3 (its text model: mlc-llm
 * converts no vision tower), OLMo 2, StableLM 2, Phi-1, 1.5 and 2, GPT-NeoX (RedPajama) and
 * Qwen3.5 (its text model too). A
 * folder's model is what its config
 * says: mlc-llm keeps no sliding window for Phi-3 (Phi-3-mini-4k's 2,047 positions), so its
 * runtime and Tandem attend to every position.
 */
const ARCHITECTURES: Record<string, string> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
  phi3: 'Phi3ForCausalLM',
  gemma: 'GemmaForCausalLM',
  gemma2: 'Gemma2ForCausalLM',
  gemma3: 'Gemma3ForCausalLM',
  gemma3_text: 'Gemma3ForCausalLM',
  ministral3: 'Ministral3ForCausalLM',
  olmo2: 'Olmo2ForCausalLM',
  stablelm: 'StableLmForCausalLM',
  phi: 'PhiForCausalLM',
  gpt_neox: 'GPTNeoXForCausalLM',
  qwen3_5: 'Qwen3_5ForCausalLM',
  qwen3_5_text: 'Qwen3_5ForCausalLM',
};

/** Qwen3.5's types: q|k|v fused as c_attn (q_proj's rows as they are, each head's query then its gate). */
const QWEN35 = ['qwen3_5', 'qwen3_5_text'];

/** Gemma 3's types: its model_config nests the model's fields in text_config, its tensors under language_model. */
const GEMMA3 = ['gemma3', 'gemma3_text'];

/**
 * The record name of a tensor of Hugging Face name `name` in an MLC folder of `modelType`:
 * mlc-llm keeps Hugging Face's names (q|k|v and gate|up fused), but for Phi-1/2 and Phi-3,
 * whose module names follow Phi-2's original code (phi_loader.py, phi3_loader.py):
 * transformer.embd, transformer.h.N (ln, mixer.Wqkv or mixer.qkv_proj, mixer.out_proj,
 * post_attention_layernorm, mlp: fc1 and fc2 for Phi-1/2), transformer.norm (Phi-1/2: the head's
 * lm_head.ln, and lm_head.linear); Gemma 3, whose tensors sit under language_model. with q,
 * k and v apart (gemma3_loader.py); and Qwen3.5, whose q|k|v is self_attn.c_attn and whose
 * convolution is linear_attn.conv1d_weight (qwen35_loader.py).
 */
export function mlcTensorName(modelType: string, name: string): string {
  if (GEMMA3.includes(modelType)) return `language_model.${name}`;
  if (QWEN35.includes(modelType)) {
    return name.replace(/\.self_attn\.qkv_proj\./, '.self_attn.c_attn.').replace(/\.conv1d\.weight$/, '.conv1d_weight');
  }
  if (modelType === 'gpt_neox') return neoxTensorName(name); // q|k|v in that order (gpt_neox_loader.py)
  if (modelType === 'phi') {
    return name
      .replace(/^lm_head\./, 'lm_head.linear.')
      .replace(/^model\.embed_tokens\./, 'transformer.embd.')
      .replace(/^model\.norm\./, 'lm_head.ln.')
      .replace(/^model\.layers\.(\d+)\.input_layernorm\./, 'transformer.h.$1.ln.')
      .replace(/^model\.layers\.(\d+)\.self_attn\.qkv_proj\./, 'transformer.h.$1.mixer.Wqkv.')
      .replace(/^model\.layers\.(\d+)\.self_attn\.o_proj\./, 'transformer.h.$1.mixer.out_proj.')
      .replace(/^model\.layers\.(\d+)\.mlp\.up_proj\./, 'transformer.h.$1.mlp.fc1.')
      .replace(/^model\.layers\.(\d+)\.mlp\.down_proj\./, 'transformer.h.$1.mlp.fc2.');
  }
  if (modelType !== 'phi3') return name;
  return name
    .replace(/^model\.embed_tokens\./, 'transformer.embd.')
    .replace(/^model\.norm\./, 'transformer.norm.')
    .replace(/^model\.layers\.(\d+)\.input_layernorm\./, 'transformer.h.$1.ln.')
    .replace(/^model\.layers\.(\d+)\.self_attn\.qkv_proj\./, 'transformer.h.$1.mixer.qkv_proj.')
    .replace(/^model\.layers\.(\d+)\.self_attn\.o_proj\./, 'transformer.h.$1.mixer.out_proj.')
    .replace(/^model\.layers\./, 'transformer.h.');
}

/**
 * The model types whose norm weights mlc-llm's loader stores plus one (its Gemma and Qwen3.5
 * loaders: the model multiplies by 1 + w, and MLC's runtime by the weight). Qwen3.5's gated norm
 * in its Gated DeltaNet layers multiplies by w, and is stored as it is.
 */
const NORMS_PLUS_ONE = ['gemma', 'gemma2', ...GEMMA3, ...QWEN35];

/** Why the other model types of web-llm's catalogue are not offered. */
export const UNSUPPORTED_MODEL_TYPES: Record<string, string> = {
  gpt2: 'GPT-2 is not an architecture Tandem runs',
  rwkv6: 'RWKV is not a transformer',
  gpt_bigcode: 'GPTBigCode is not an architecture Tandem runs',
  phi3_v: 'vision-language models are not run',
  qwen2_moe: 'mixtures of experts are not run',
  mixtral: 'mixtures of experts are not run',
};

/** MLC's quantizations Tandem runs, by the dtype their matrices load as (q0: unquantized). */
const QUANTIZATIONS: Record<string, { matrices: WeightDType; vectors: 'float16' | 'float32' }> = {
  q4f16_1: { matrices: 'Q4F16', vectors: 'float16' },
  q4f32_1: { matrices: 'Q4F32', vectors: 'float32' },
  q0f16: { matrices: 'F16', vectors: 'float16' },
  q0f32: { matrices: 'F32', vectors: 'float32' },
};

export type MlcQuantization = { name: string } & (typeof QUANTIZATIONS)[string];

/** MLC's conversation template (mlc-llm's conversation_protocol.py), as much of it as a chat needs. */
export interface ConvTemplate {
  name?: string;
  system_template: string;
  system_message: string;
  render_empty_system_message?: boolean;
  system_prefix_token_ids?: number[] | null;
  add_role_after_system_message?: boolean;
  roles: Record<string, string>;
  role_templates?: Record<string, string>;
  seps: string[];
  role_content_sep?: string;
  role_empty_sep?: string;
  stop_str?: string[];
  stop_token_ids?: number[];
}

export interface MlcFolderConfig {
  /** mlc-chat-config.json's model_type: how its tensors are named (`mlcTensorName`). */
  modelType: string;
  config: ModelConfig;
  quantization: MlcQuantization;
  conv: ConvTemplate | undefined;
  /** Ids that end a reply: eos_token_id and the template's stop_token_ids. */
  stopTokenIds: number[];
  /** Whether the norm weights are stored as 1 + w (NORMS_PLUS_ONE): the loader takes the 1 away. */
  normsPlusOne: boolean;
  generation: { temperature?: number; topP?: number; repetitionPenalty?: number };
}

/** model_config keys that only steer MLC's compiler and runtime: not part of the model. */
const MLC_ONLY_KEYS = [
  'position_embedding_base',
  'context_window_size',
  'prefill_chunk_size',
  'sliding_window_size',
  'attention_sink_size',
  'tensor_parallel_shards',
  'pipeline_parallel_stages',
  'max_batch_size',
  'disaggregation',
  'dtype',
  'kwargs',
  'is_text_model',
  // Ministral 3: the block size of the FP8 checkpoint it was converted from, and the modules left
  // unquantized there; the folder's own quantization is what its weights are.
  'weight_block_size',
  'modules_to_not_convert',
  // GPT-NeoX: the dtype MLC's runtime computes the MLP in.
  'ffn_out_dtype',
];

export function parseMlcConfig(json: unknown, where: string): MlcFolderConfig {
  const fail = (what: string) => new ModelConfigError(`${where}: ${what}`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw fail('not a JSON object');
  const raw = json as Record<string, unknown>;
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') throw fail('"model_type" is missing');
  const architecture = ARCHITECTURES[modelType];
  if (!architecture) {
    const why = UNSUPPORTED_MODEL_TYPES[modelType] ?? 'not an architecture Tandem runs';
    throw new UnsupportedArchitectureError(
      `${where}: model_type "${modelType}": ${why}. Tandem runs ${Object.keys(ARCHITECTURES).join(', ')}.`,
    );
  }
  const quantizationName = raw.quantization;
  const quantization = typeof quantizationName === 'string' ? QUANTIZATIONS[quantizationName] : undefined;
  if (!quantization) {
    throw new UnsupportedQuantizationError(
      `${where}: quantization ${JSON.stringify(quantizationName)} is not one Tandem runs ` +
        `(${Object.keys(QUANTIZATIONS).join(', ')})`,
    );
  }
  const model = raw.model_config;
  if (typeof model !== 'object' || model === null || Array.isArray(model)) throw fail('"model_config" is missing');
  const gemma3 = GEMMA3.includes(modelType);
  const text = (model as Record<string, unknown>).text_config;
  if (gemma3 && (typeof text !== 'object' || text === null)) throw fail('"model_config.text_config" is missing');
  // Gemma 3's fields in text_config, beside the vocabulary and the runtime's keys.
  const { text_config: _, ...outer } = model as Record<string, unknown>;
  const m = gemma3 ? { ...outer, ...(text as Record<string, unknown>) } : (model as Record<string, unknown>);
  // Back into a Hugging Face config.json: MLC's names for the RoPE base and the context (for
  // Gemma 2, mlc-llm writes its sliding window as the context: 4,096 positions, kept here;
  // Gemma 3's window pattern and local RoPE base are not written: Hugging Face's defaults, one
  // global layer in six and 10,000, are what its models have).
  const hf: Record<string, unknown> = Object.fromEntries(
    Object.entries(modelType === 'phi' ? phiConfig(m) : m).filter(([k]) => !MLC_ONLY_KEYS.includes(k)),
  );
  hf.architectures = [architecture];
  hf.model_type = modelType;
  hf.rope_theta ??= m.position_embedding_base;
  hf.max_position_embeddings ??= m.context_window_size ?? raw.context_window_size;
  const window = m.sliding_window_size ?? raw.sliding_window_size;
  if (typeof window === 'number' && window > 0) hf.sliding_window ??= window;
  hf.eos_token_id = raw.eos_token_id ?? hf.eos_token_id;
  hf.bos_token_id = raw.bos_token_id ?? hf.bos_token_id;
  const parsed = parseModelConfig(hf, `${where} (model_config)`);
  const config = { ...parsed, fused: { qkv: !gemma3, gateUp: parsed.gatedMlp } };

  const conv = raw.conv_template;
  const template = typeof conv === 'object' && conv !== null ? checkConvTemplate(conv, fail) : undefined;
  const stops = new Set([...config.eosTokenIds, ...(template?.stop_token_ids ?? [])]);
  const number = (key: string) => (typeof raw[key] === 'number' ? (raw[key] as number) : undefined);
  return {
    modelType,
    config,
    quantization: { name: quantizationName as string, ...quantization },
    conv: template,
    stopTokenIds: [...stops].sort((a, b) => a - b),
    normsPlusOne: NORMS_PLUS_ONE.includes(modelType),
    generation: {
      temperature: number('temperature'),
      topP: number('top_p'),
      repetitionPenalty: number('repetition_penalty'),
    },
  };
}

/**
 * Phi-1/2's model_config: mlc-llm's Phi1Config writes Hugging Face's names, its older PhiConfig
 * (Phi-2's first folders) GPT-2's (n_embd, n_layer, ...), and the turned values of a head as
 * rotary_dim: read back as Hugging Face's.
 */
function phiConfig(m: Record<string, unknown>): Record<string, unknown> {
  if (m.n_embd === undefined) return m;
  const { n_embd, n_layer, n_inner, n_head, n_head_kv, rotary_dim, layer_norm_epsilon, n_positions, ...rest } = m;
  const headDim = typeof m.head_dim === 'number' ? m.head_dim : Number(n_embd) / Number(n_head);
  return {
    ...rest,
    hidden_size: n_embd,
    num_hidden_layers: n_layer,
    intermediate_size: n_inner,
    num_attention_heads: n_head,
    num_key_value_heads: n_head_kv,
    layer_norm_eps: layer_norm_epsilon,
    max_position_embeddings: n_positions,
    // Half a value over: int(head_dim x factor) is then rotary_dim, however the division rounds.
    partial_rotary_factor: rotary_dim === undefined ? undefined : (Number(rotary_dim) + 0.5) / headDim,
  };
}

function checkConvTemplate(conv: object, fail: (what: string) => Error): ConvTemplate {
  const c = conv as Record<string, unknown>;
  const strings = (key: string) => Array.isArray(c[key]) && (c[key] as unknown[]).every((s) => typeof s === 'string');
  if (typeof c.system_template !== 'string' || typeof c.roles !== 'object' || !strings('seps')) {
    throw fail('conv_template needs system_template, roles and seps');
  }
  if ((c.seps as string[]).length === 0) throw fail('conv_template has no seps');
  const ids = (key: string) =>
    c[key] == null || (Array.isArray(c[key]) && (c[key] as unknown[]).every(Number.isSafeInteger));
  if (!ids('stop_token_ids') || !ids('system_prefix_token_ids')) throw fail('conv_template token ids must be integers');
  return { system_message: '', ...c } as ConvTemplate;
}
