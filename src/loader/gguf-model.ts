/**
 * A GGUF file as a model: its metadata read back into the config.json that llama.cpp's
 * converter read (gguf-config.ts: so that one parser checks every format), its tensors under
 * their Hugging Face names (gguf-names.ts), and its tokenizer (tokenizer/gguf-tokenizer.ts).
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

import { ModelConfigError, TensorMissingError, TensorShapeError } from '../errors';
import { type GgufTokenizer, ggufTokenizer } from '../tokenizer/gguf-tokenizer';
import { type ModelConfig, parseModelConfig } from './config';
import { type GgufHeader, type GgufTensorInfo, readGguf } from './gguf';
import { configFromMetadata, llama3Scaling } from './gguf-config';
import { ARCHITECTURES, type GgufArchitecture, ggufName, huggingFaceName } from './gguf-names';
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

/** RoPE held as tensors: Llama 3's divisors, Phi-3's LongRoPE factors. Read into the config. */
const ROPE_FREQS = 'rope_freqs.weight';
const ROPE_FACTORS = ['rope_factors_long.weight', 'rope_factors_short.weight'];
const isRopeTensor = (name: string) => name === ROPE_FREQS || ROPE_FACTORS.includes(name);

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
