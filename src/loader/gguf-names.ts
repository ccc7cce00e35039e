/**
 * llama.cpp's names in a GGUF file, and Hugging Face's: the architectures Tandem runs from a
 * GGUF file (`general.architecture`), what llama.cpp's converter did to each, and its tensor
 * names mapped to the Hugging Face names the rest of the loader uses.
 */

import type { Architecture } from './config';

/**
 * llama.cpp's architectures Tandem runs: whether its converter permuted q and k, stored each
 * norm weight plus one (Gemma, whose norms multiply by one plus the weight), and which names
 * differ from llama's.
 */
export interface GgufArchitecture {
  architecture: Architecture;
  permuted: boolean;
  normPlusOne: boolean;
  /** Whether llama.cpp reads attention.sliding_window for it. */
  windowed: boolean;
  layerNames: Record<string, string>;
}

/** llama.cpp's tensor names -> Hugging Face's, per layer. */
const LAYER_NAMES: Record<string, string> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_q.bias': 'self_attn.q_proj.bias',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_k.bias': 'self_attn.k_proj.bias',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_v.bias': 'self_attn.v_proj.bias',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'attn_output.bias': 'self_attn.o_proj.bias',
  'attn_q_norm.weight': 'self_attn.q_norm.weight',
  'attn_k_norm.weight': 'self_attn.k_norm.weight',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_up.weight': 'mlp.up_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
};
/** Phi-3 keeps Hugging Face's fused projections: q|k|v in attn_qkv, gate|up in ffn_up. */
const PHI3_LAYER_NAMES: Record<string, string> = {
  ...LAYER_NAMES,
  'attn_qkv.weight': 'self_attn.qkv_proj.weight',
  'ffn_up.weight': 'mlp.gate_up_proj.weight',
};
/**
 * Gemma 2 and 3 norm each branch's input and output: ffn_norm is the MLP's input norm here.
 * OLMo 2 has the output norms only (and q and k norms over whole projections, same names).
 */
const GEMMA_LAYER_NAMES: Record<string, string> = {
  ...LAYER_NAMES,
  'post_attention_norm.weight': 'post_attention_layernorm.weight',
  'ffn_norm.weight': 'pre_feedforward_layernorm.weight',
  'post_ffw_norm.weight': 'post_feedforward_layernorm.weight',
};
/** Phi-2's MLP has no gate (ffn_up is fc1) and biases on its projections; its norm is attn_norm alone. */
const PHI2_LAYER_NAMES: Record<string, string> = {
  ...LAYER_NAMES,
  'attn_norm.bias': 'input_layernorm.bias',
  'ffn_up.bias': 'mlp.up_proj.bias',
  'ffn_down.bias': 'mlp.down_proj.bias',
};
/** GPT-NeoX: q|k|v fused (in q|k|v order: the converter reorders its heads), every norm and projection biased. */
const NEOX_LAYER_NAMES: Record<string, string> = {
  ...PHI2_LAYER_NAMES,
  'attn_qkv.weight': 'self_attn.qkv_proj.weight',
  'attn_qkv.bias': 'self_attn.qkv_proj.bias',
  'ffn_norm.bias': 'post_attention_layernorm.bias',
};
/** StableLM's LayerNorms have biases beside their weights. */
const STABLELM_LAYER_NAMES: Record<string, string> = {
  ...LAYER_NAMES,
  'attn_norm.bias': 'input_layernorm.bias',
  'ffn_norm.bias': 'post_attention_layernorm.bias',
};
/**
 * Qwen3.5 (qwen35): its Gated DeltaNet layers' tensors under llama.cpp's SSM names (the converter
 * stores -exp(A_log) as ssm_a, dt_bias as ssm_dt.bias and the convolution squeezed to two
 * dimensions), the output gate z as attn_gate; its attention's norm after it as post_attention_norm.
 */
const QWEN35_LAYER_NAMES: Record<string, string> = {
  ...LAYER_NAMES,
  'post_attention_norm.weight': 'post_attention_layernorm.weight',
  'attn_qkv.weight': 'linear_attn.in_proj_qkv.weight',
  'attn_gate.weight': 'linear_attn.in_proj_z.weight',
  'ssm_beta.weight': 'linear_attn.in_proj_b.weight',
  'ssm_alpha.weight': 'linear_attn.in_proj_a.weight',
  ssm_a: 'linear_attn.A_log',
  'ssm_dt.bias': 'linear_attn.dt_bias',
  'ssm_conv1d.weight': 'linear_attn.conv1d.weight',
  'ssm_norm.weight': 'linear_attn.norm.weight',
  'ssm_out.weight': 'linear_attn.out_proj.weight',
};
const plain = { permuted: false, normPlusOne: false, windowed: false, layerNames: LAYER_NAMES };
export const ARCHITECTURES: Record<string, GgufArchitecture> = {
  llama: { ...plain, architecture: 'LlamaForCausalLM', permuted: true },
  // SmolLM3: a Llama to llama.cpp's converter; RoPE left out of every fourth layer, which
  // llama.cpp assumes (no key says it), as Tandem does where config.json leaves it out.
  smollm3: { ...plain, architecture: 'SmolLM3ForCausalLM', permuted: true },
  qwen2: { ...plain, architecture: 'Qwen2ForCausalLM' },
  qwen3: { ...plain, architecture: 'Qwen3ForCausalLM' },
  phi3: { ...plain, architecture: 'Phi3ForCausalLM', windowed: true, layerNames: PHI3_LAYER_NAMES },
  gemma: { ...plain, architecture: 'GemmaForCausalLM', normPlusOne: true },
  gemma2: {
    ...plain,
    architecture: 'Gemma2ForCausalLM',
    normPlusOne: true,
    windowed: true,
    layerNames: GEMMA_LAYER_NAMES,
  },
  gemma3: {
    ...plain,
    architecture: 'Gemma3ForCausalLM',
    normPlusOne: true,
    windowed: true,
    layerNames: GEMMA_LAYER_NAMES,
  },
  // llama.cpp turns OLMo 2's heads as halves (NEOX): its converter leaves q and k as they are.
  olmo2: { ...plain, architecture: 'Olmo2ForCausalLM', layerNames: GEMMA_LAYER_NAMES },
  // Ministral 3's text model: a Llama to llama.cpp's converter, q and k permuted.
  mistral3: { ...plain, architecture: 'Ministral3ForCausalLM', permuted: true },
  // llama.cpp turns StableLM's heads as halves (NEOX) too: q and k as they are.
  stablelm: { ...plain, architecture: 'StableLmForCausalLM', layerNames: STABLELM_LAYER_NAMES },
  // Phi-1, 1.5 and 2 (phi2): turned as halves too.
  phi2: { ...plain, architecture: 'PhiForCausalLM', layerNames: PHI2_LAYER_NAMES },
  // GPT-NeoX (RedPajama, Pythia): turned as halves.
  gptneox: { ...plain, architecture: 'GPTNeoXForCausalLM', layerNames: NEOX_LAYER_NAMES },
  // Qwen3.5: turned as halves; every norm plus one but the Gated DeltaNet layers' gated one.
  qwen35: { ...plain, architecture: 'Qwen3_5ForCausalLM', normPlusOne: true, layerNames: QWEN35_LAYER_NAMES },
};
const GLOBAL_NAMES: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output_norm.bias': 'model.norm.bias',
  'output.weight': 'lm_head.weight',
  'output.bias': 'lm_head.bias',
};

/** The Hugging Face name of a GGUF tensor, or undefined for one Tandem does not use. */
export function huggingFaceName(name: string, layerNames: Record<string, string>): string | undefined {
  const own = (table: Record<string, string>, key: string) => (Object.hasOwn(table, key) ? table[key] : undefined);
  const layer = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!layer) return own(GLOBAL_NAMES, name);
  const rest = own(layerNames, layer[2]);
  return rest && `model.layers.${layer[1]}.${rest}`;
}

/** llama.cpp's name of a Hugging Face tensor name (for messages). */
export const ggufName = (name: string, layerNames: Record<string, string>) =>
  Object.entries(GLOBAL_NAMES).find(([, hf]) => hf === name)?.[0] ??
  name.replace(/^model\.layers\.(\d+)\.(.+)$/, (_, l, rest) => {
    const gguf = Object.entries(layerNames).find(([, hf]) => hf === rest)?.[0];
    return `blk.${l}.${gguf ?? rest}`;
  });
