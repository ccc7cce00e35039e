/**
 * A GGUF file as a model: its metadata read back into the config.json that llama.cpp's
 * converter read (so that one parser checks every format), its tensors under their Hugging
 * Face names, and its tokenizer (tokenizer/gguf-tokenizer.ts).
 *
 * The converter changed things that are undone here:
 *  - llama's q and k rows are permuted for llama.cpp's RoPE, which rotates adjacent pairs
 *    (x[2i], x[2i+1]) where Hugging Face's rotates halves (x[i], x[i + hd/2]): within each head,
 *    GGUF row 2i + h is Hugging Face row h hd/2 + i. Qwen's, Phi-3's and Gemma's files keep
 *    Hugging Face's order.
 *  - Llama 3's RoPE scaling is stored as its per-frequency divisors (rope_freqs.weight); they
 *    are checked against Llama 3's formula and read back as its rope_scaling. Phi-3's LongRoPE
 *    factors are tensors too (rope_factors_long, rope_factors_short).
 *  - Gemma's norm weights are stored plus one (llama.cpp multiplies by the weight, Gemma by one
 *    plus it), and Qwen3.5's but the gated one of its Gated DeltaNet layers.
 *  - Qwen3.5's Gated DeltaNet layers: A_log as ssm_a = -exp(A_log), the convolution squeezed,
 *    and the value heads of every tensor that has them in tiled order (key head h mod keyHeads
 *    serves value head h: `valueHeadOrder`), which the kernels read as they are.
 *
 * Weights (matrixStorage): float matrices stay as stored; Q4_0, Q4_1 and Q4_K ones stay 4-bit,
 * Q5_0, Q5_1 and Q5_K ones 5-bit, Q6_K ones 6-bit with their own scales and Q2_K ones 6-bit
 * with (scale, min) pairs (their blocks are groups of 32 or 16 in other bit orders:
 * gguf-quants.ts repacks them into the layouts the kernels read, q4.ts, q5.ts and q6.ts).
 * IQ4_NL and IQ4_XS ones stay 4-bit indices into their 16 levels, as do the 1- to 3-bit
 * i-quants and Q3_K into their own (iq4.ts); Q8_0 ones stay 8-bit with an f16 scale a block of
 * 32 (q8.ts). Matrices fused on the GPU (q|k|v, gate|up) share one layout, the smallest that
 * holds all of them: a Q4_K_M file's layers whose attn_v is Q6_K hold q, k and v as 6-bit
 * groups with (scale, min) pairs (Q6A); an i-quant beside a K-quant makes 8-bit groups with
 * (scale, min) pairs (an IQ4_XS file's q and k beside its Q5_K v, as llama.cpp makes them for
 * models with 4 or more query heads a key head); a float matrix beside a quantized one f16.
 */

import { ModelConfigError, TensorMissingError, TensorShapeError, UnsupportedArchitectureError } from '../errors';
import { type GgufTokenizer, ggufTokenizer } from '../tokenizer/gguf-tokenizer';
import { type Architecture, type ModelConfig, parseModelConfig } from './config';
import { type GgufHeader, type GgufTensorInfo, type GgufValue, readGguf } from './gguf';
import {
  DEQUANTIZED_TYPES,
  dequantize,
  IQ4_TYPES,
  isFloatType,
  OWN_LEVEL_TYPES,
  Q4_AFFINE_TYPES,
  Q5_AFFINE_TYPES,
  Q6_AFFINE_TYPES,
  Q8_TYPES,
  repackLevels,
  repackQ4_0,
  repackQ4Affine,
  repackQ5Affine,
  repackQ6_K,
  repackQ6Affine,
  repackQ8,
  repackQ8_0,
  repackQ8A,
} from './gguf-quants';
import { f32ToF16, widenBF16 } from './half';
import { isLevelDType, type LevelDType } from './iq4';
import type { FileProgress, ModelSource } from './source';
import { expectedTensors } from './tensor-names';
import { minusOne } from './tensors';
import type { ModelWeights, WeightDType, WeightTensor } from './weights';

/**
 * llama.cpp's architectures Tandem runs: whether its converter permuted q and k, stored each
 * norm weight plus one (Gemma, whose norms multiply by one plus the weight), and which names
 * differ from llama's.
 */
interface GgufArchitecture {
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
const ARCHITECTURES: Record<string, GgufArchitecture> = {
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
/** RoPE held as tensors: Llama 3's divisors, Phi-3's LongRoPE factors. Read into the config. */
const ROPE_FREQS = 'rope_freqs.weight';
const ROPE_FACTORS = ['rope_factors_long.weight', 'rope_factors_short.weight'];
const isRopeTensor = (name: string) => name === ROPE_FREQS || ROPE_FACTORS.includes(name);

/** The Hugging Face name of a GGUF tensor, or undefined for one Tandem does not use. */
function huggingFaceName(name: string, layerNames: Record<string, string>): string | undefined {
  const own = (table: Record<string, string>, key: string) => (Object.hasOwn(table, key) ? table[key] : undefined);
  const layer = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!layer) return own(GLOBAL_NAMES, name);
  const rest = own(layerNames, layer[2]);
  return rest && `model.layers.${layer[1]}.${rest}`;
}

export interface GgufModel {
  config: ModelConfig;
  weights: ModelWeights;
  tokenizer: GgufTokenizer;
}

/** `file` of `source`, a GGUF file, read as a model. */
export async function loadGgufModel(
  source: ModelSource,
  file: string,
  onProgress?: (progress: FileProgress) => void,
): Promise<GgufModel> {
  const where = source.name;
  let config: ModelConfig | undefined;
  let configJson: Record<string, unknown> = {};
  let tokenizer: GgufTokenizer | undefined;
  let arch: GgufArchitecture = ARCHITECTURES.llama;
  let storage = new Map<string, Storage>();
  const ropeTensors = new Map<string, Float32Array>();
  const weights: ModelWeights = new Map();

  const onHeader = (header: GgufHeader) => {
    tokenizer = ggufTokenizer(header.metadata, where);
    ({ json: configJson, arch } = configFromMetadata(header, tokenizer, where));
    config = parseModelConfig(configJson, `${where} (its metadata)`);
    checkTensors(header, config, arch.layerNames, where);
    storage = matrixStorage(header);
  };
  // Layers past the model's (Qwen3.5's multi-token prediction layer) are not read.
  const ownLayer = (name: string) => Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? 0) < (config?.numLayers ?? 0);
  const wanted = (info: GgufTensorInfo) =>
    isRopeTensor(info.name) || (huggingFaceName(info.name, arch.layerNames) !== undefined && ownLayer(info.name));
  const onTensor = (info: GgufTensorInfo, bytes: Uint8Array) => {
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (isRopeTensor(info.name)) {
      if (info.type.name !== 'F32') throw new TensorShapeError(`${where}: ${info.name} is ${info.type.name}, not F32`);
      ropeTensors.set(info.name, new Float32Array(bytes.buffer, bytes.byteOffset, count));
      return;
    }
    const name = huggingFaceName(info.name, arch.layerNames) as string;
    const { shape } = info;
    let tensor: WeightTensor;
    const how = storage.get(info.name);
    if (how === 'Q4_0' || how === 'Q4_K') {
      const { weights: data, scales } =
        how === 'Q4_0' ? repackQ4_0(bytes, count) : repackQ4Affine(info.type, bytes, count);
      tensor = { name, dtype: how, shape, data, scales };
    } else if (how === 'Q6_K') {
      const { weights: data, scales } = repackQ6_K(bytes, count, `${where}: tensor "${info.name}"`);
      tensor = { name, dtype: how, shape, data, scales };
    } else if (how === 'Q5_K' || how === 'Q6A') {
      const repack = how === 'Q5_K' ? repackQ5Affine : repackQ6Affine;
      const { weights: data, scales } = repack(info.type, bytes, count, `${where}: tensor "${info.name}"`);
      tensor = { name, dtype: how, shape, data, scales };
    } else if (how !== undefined && isLevelDType(how)) {
      const { weights: data, scales } = repackLevels(info.type, bytes, count, `${where}: tensor "${info.name}"`);
      tensor = { name, dtype: how, shape, data, scales };
    } else if (how === 'Q8_0') {
      const { weights: data, scales } = repackQ8_0(bytes, count);
      tensor = { name, dtype: how, shape, data, scales };
    } else if (how === 'Q8' || how === 'Q8A') {
      const { weights: data, scales } = (how === 'Q8' ? repackQ8 : repackQ8A)(info.type, bytes, count);
      tensor = { name, dtype: how, shape, data, scales };
    } else if (isFloatType(info.type)) {
      const data =
        info.type.name === 'F32'
          ? new Float32Array(bytes.buffer, bytes.byteOffset, count)
          : new Uint16Array(bytes.buffer, bytes.byteOffset, count);
      tensor = { name, dtype: info.type.name as WeightDType, shape, data };
    } else {
      tensor = {
        name,
        dtype: 'F32',
        shape,
        data: dequantize(info.type, bytes, count, `${where}: tensor "${info.name}"`),
      };
    }
    if (how === 'F16') tensor = toF16(tensor);
    // The gated norm of Qwen3.5's Gated DeltaNet layers (ssm_norm) multiplies by its weight.
    if (arch.normPlusOne && info.name.endsWith('norm.weight') && !info.name.endsWith('ssm_norm.weight')) {
      tensor = minusOne(tensor);
    }
    if (info.name.endsWith('.ssm_a')) tensor = aLogOf(tensor); // stored as -exp(A_log)
    if (info.name.endsWith('.ssm_conv1d.weight')) tensor = { ...tensor, shape: [shape[0], 1, shape[1]] };
    const c = config as ModelConfig;
    const heads = !arch.permuted
      ? 0
      : /\.q_proj\./.test(name)
        ? c.numHeads
        : /\.k_proj\./.test(name)
          ? c.numKvHeads
          : 0;
    if (heads > 0) {
      const [data, scales] = [tensor.data, tensor.scales].map((a) => a && unpermuteRows(a, heads, c.headDim));
      tensor = { ...tensor, data: data as WeightTensor['data'], scales: scales as WeightTensor['scales'] };
    }
    weights.set(name, tensor);
  };

  const opened = await source.open(file, onProgress);
  try {
    await readGguf(opened.stream, file, wanted, onTensor, onHeader);
  } catch (error) {
    await opened.settle(false);
    throw error;
  }
  await opened.settle(true);
  if (!config || !tokenizer) throw new ModelConfigError(`${where}: the file has no header`); // readGguf read one
  const ropeFreqs = ropeTensors.get(ROPE_FREQS);
  const [long, short] = ROPE_FACTORS.map((name) => ropeTensors.get(name));
  if (ropeFreqs) configJson.rope_scaling = llama3Scaling(ropeFreqs, config, where);
  if (long || short) {
    if (!long || !short) {
      throw new TensorMissingError(`${where} holds one of ${ROPE_FACTORS.join(' and ')} without the other`);
    }
    // Phi-3's LongRoPE, as its config.json has it; the parser checks one factor per frequency.
    configJson.rope_scaling = { type: 'longrope', long_factor: Array.from(long), short_factor: Array.from(short) };
  }
  if (ropeFreqs || long) config = parseModelConfig(configJson, `${where} (its metadata)`);
  // llama.cpp's converter puts Qwen3.5's value heads in tiled order (a no-op where there are as
  // many as key heads): the kernels read them so.
  if (config.linearAttention)
    config = { ...config, linearAttention: { ...config.linearAttention, valueHeadOrder: 'tiled' } };
  return { config, weights, tokenizer };
}

/** A_log from llama.cpp's ssm_a, which holds -exp(A_log). */
function aLogOf(tensor: WeightTensor): WeightTensor {
  const a = tensor.data;
  if (!(a instanceof Float32Array)) throw new TensorShapeError(`${tensor.name} is ${tensor.dtype}, not F32`);
  return { ...tensor, data: a.map((v) => Math.log(-v)) };
}

/** The config.json the metadata stands for, and how the converter wrote the architecture. */
function configFromMetadata(header: GgufHeader, tokenizer: GgufTokenizer, where: string) {
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

/** Every tensor the config implies, with the shape it implies: checked before any tensor is read. */
function checkTensors(
  header: GgufHeader,
  config: ModelConfig,
  layerNames: Record<string, string>,
  where: string,
): void {
  const byName = new Map(header.tensors.map((t) => [huggingFaceName(t.name, layerNames), t]));
  for (const [name, implied] of expectedTensors(config)) {
    const info = byName.get(name);
    if (!info)
      throw new TensorMissingError(
        `${where}: the file has no tensor for ${name} (llama.cpp's name: ${ggufName(name, layerNames)})`,
      );
    // The converter squeezes a Gated DeltaNet layer's convolution to (channels, taps).
    const shape = name.endsWith('conv1d.weight') ? [implied[0], implied[2]] : implied;
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new TensorShapeError(
        `${where}: tensor "${info.name}" has shape [${info.shape}] but the metadata implies [${shape}]`,
      );
    }
  }
  // Qwen3.5's multi-token prediction layers follow the model's own (nextn_predict_layers).
  const arch = header.metadata.get('general.architecture');
  const nextn = header.metadata.get(`${String(arch)}.nextn_predict_layers`);
  const blocks = config.numLayers + (typeof nextn === 'number' ? nextn : 0);
  for (const info of header.tensors) {
    const layer = /^blk\.(\d+)\./.exec(info.name);
    if (layer && Number(layer[1]) >= blocks) {
      throw new TensorShapeError(
        `${where} holds "${info.name}", but its metadata says the model has ${config.numLayers} layers`,
      );
    }
  }
}

const ggufName = (name: string, layerNames: Record<string, string>) =>
  Object.entries(GLOBAL_NAMES).find(([, hf]) => hf === name)?.[0] ??
  name.replace(/^model\.layers\.(\d+)\.(.+)$/, (_, l, rest) => {
    const gguf = Object.entries(layerNames).find(([, hf]) => hf === rest)?.[0];
    return `blk.${l}.${gguf ?? rest}`;
  });

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
function llama3Scaling(freqs: Float32Array, config: ModelConfig, where: string) {
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
 * How each matrix is kept: as stored where the kernels read its type (F32, F16, BF16, and
 * Q4_0 as 4-bit groups) and the matrices fused with it on the GPU (q|k|v, gate|up) share it;
 * as 4-bit groups with a (scale, min) pair (the layout named Q4_K) where they are all Q4_1 or
 * Q4_K; as 5-bit groups with a pair (Q5_K) where they are all Q5_K, Q5_0, Q5_1 or 4-bit ones;
 * as level groups with their own levels (the layout of the type's name) where they are all of
 * one 1- to 3-bit i-quant type or Q3_K; as Q6_K's blocks, 6-bit with their own scales, where
 * they are Q6_K; as 6-bit groups with a pair a half (Q6A) where they are all K-quants or those;
 * as 4-bit level groups (IQ4) where they are all IQ4_NL or IQ4_XS;
 * as Q8_0's blocks where they are Q8_0; as 8-bit groups of 16, exactly, where they are all
 * quantized: with a scale each where they are all Q8_0, Q6_K, Q5_0, Q4_0, Q3_K or i-quants,
 * else with a (scale, min) pair; else (floats beside quantized ones) in f16. Vectors (norms,
 * biases) are kept as stored, or dequantized to f32.
 */
type Storage = 'stored' | 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'Q6A' | LevelDType | 'Q8_0' | 'Q8' | 'Q8A' | 'F16';

function matrixStorage(header: GgufHeader): Map<string, Storage> {
  const types = new Map(header.tensors.map((t) => [t.name, t.type.name]));
  // A layer's q, k and v share a group, and its gate and up (a file that fuses them already,
  // as Phi-3's do, has one tensor in the group).
  const groups = new Map<string, string[]>();
  for (const t of header.tensors) {
    if (t.shape.length !== 2) continue;
    const fused = /^(blk\.\d+\.)(?:(attn)_[qkv]|(ffn)_(?:gate|up))\.weight$/.exec(t.name);
    const key = fused ? `${fused[1]}${fused[2] ?? fused[3]}` : t.name;
    groups.set(key, [...(groups.get(key) ?? []), t.name]);
  }
  const storage = new Map<string, Storage>();
  for (const group of groups.values()) {
    const how = groupStorage(group.map((name) => types.get(name) as string));
    for (const name of group) storage.set(name, how);
  }
  return storage;
}

/**
 * How a group of matrices (a layer's q|k|v, its gate|up, or a matrix alone) of these ggml types
 * is kept on the GPU: the smallest layout that holds every one of them (gguf-quants.ts says
 * which values each keeps exactly and which it rounds).
 */
function groupStorage(kinds: string[]): Storage {
  const only = new Set(kinds).size === 1 ? kinds[0] : undefined;
  const all = (types: readonly string[]) => kinds.every((kind) => types.includes(kind));
  if (only === 'Q4_0') return only;
  if (all(Q4_AFFINE_TYPES)) return 'Q4_K';
  if (all(Q5_AFFINE_TYPES)) return 'Q5_K';
  if (only === 'F32' || only === 'F16' || only === 'BF16') return 'stored';
  // A type with levels of its own, alone (Q3_K before the 6-bit groups, which would hold it too).
  const own = OWN_LEVEL_TYPES.find((type) => type === only);
  if (own) return own;
  if (only === 'Q6_K') return only;
  if (all(Q6_AFFINE_TYPES)) return 'Q6A';
  if (all(IQ4_TYPES)) return 'IQ4';
  if (only === 'Q8_0') return only;
  if (all(Q8_TYPES)) return 'Q8';
  if (all(DEQUANTIZED_TYPES)) return 'Q8A';
  return 'F16';
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

function toF16(tensor: WeightTensor): WeightTensor {
  if (tensor.dtype === 'F16') return tensor;
  const floats = tensor.dtype === 'BF16' ? widenBF16(tensor.data as Uint16Array) : (tensor.data as Float32Array);
  return { ...tensor, dtype: 'F16', data: Uint16Array.from(floats, f32ToF16) };
}

/** Rows of a q or k matrix (or bias) back in Hugging Face's order: GGUF row 2i + h of a head is row h hd/2 + i. */
function unpermuteRows<T extends Float32Array | Uint16Array | Uint32Array>(data: T, heads: number, headDim: number): T {
  const rows = heads * headDim;
  const width = data.length / rows;
  const out = new (data.constructor as new (length: number) => T)(data.length);
  const half = headDim / 2;
  for (let head = 0; head < heads; head++) {
    for (let i = 0; i < half; i++) {
      for (let h = 0; h < 2; h++) {
        const from = head * headDim + 2 * i + h;
        const to = head * headDim + h * half + i;
        out.set(data.subarray(from * width, (from + 1) * width), to * width);
      }
    }
  }
  return out;
}
