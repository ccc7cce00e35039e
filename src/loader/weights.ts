/**
 * The weights of a model: one `model.safetensors`, or the shards listed by
 * `model.safetensors.index.json`, each read as a stream, every tensor straight into its own
 * array. Every tensor the config implies must be present with the shape it implies, in a float
 * dtype, and no layer past the config's count may be in the files; this is checked from the
 * headers (and the index), before any tensor's bytes are read. Otherwise TensorMissingError /
 * TensorShapeError name the tensor.
 */

import { ModelFileMissingError, SafetensorsFormatError, TensorMissingError, TensorShapeError } from '../errors';
import type { ModelConfig } from './config';
import { readSafetensors, type SafetensorsHeader } from './safetensors';
import { confined, type FileProgress, type ModelSource, readJson } from './source';
import { checkpointTensorName, expectedTensors } from './tensor-names';

/**
 * Floats as stored, or 4-bit groups of 32 (q4.ts): MLC's with f16 or f32 scales, values
 * (q - 7) scale; ggml's Q4_0 in MLC's layout, f16 scales, values (q - 8) scale; ggml's Q4_K
 * (or Q4_1) in MLC's layout, an f16 (scale, min) pair a group, values q scale - min. Or 8-bit
 * groups (q8.ts): of 32 with f16 scales, values q scale (Q8_0: ggml's Q8_0); of 16 with f32
 * scales, values q scale (Q8: the i-quants, and Q8_0 beside other signed types); of 16 with
 * f32 (scale, min) pairs, values q scale - min (Q8A: mixed groups). Or 5-bit groups of 32
 * (q5.ts: ggml's Q5_K, Q5_0 and Q5_1), 4-bit groups with their fifth bits and an f16
 * (scale, min) pair a group, values q scale - min. Or 6-bit groups of 32 (q6.ts), 4-bit groups
 * with their high 2 bits: with an f16 (scale, min) pair a half (Q6A: ggml's K-quants), or with
 * ggml's Q6_K's own d and int8 scales (Q6_K), values (q - 32) d sc. Or 4-bit
 * level groups of 32 (iq4.ts), indices into 16 levels with an f32 scale a group, values level
 * scale: IQ4's levels (ggml's IQ4_NL and IQ4_XS), or a lattice type's (IQ3_XXS, IQ3_S,
 * IQ2_XXS, IQ1_S, and with a scale a 16 IQ2_XS, IQ2_S, IQ1_M: ggml's type of that name), or
 * Q3_K's integers -4 .. 3 with a scale a 16.
 */
export type WeightDType =
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'Q4F16'
  | 'Q4F32'
  | 'Q4_0'
  | 'Q4_K'
  | 'Q5_K'
  | 'Q6A'
  | 'Q6_K'
  | 'IQ4'
  | 'IQ3_XXS'
  | 'IQ3_S'
  | 'IQ2_XXS'
  | 'IQ1_S'
  | 'IQ2_XS'
  | 'IQ2_S'
  | 'IQ1_M'
  | 'Q3_K'
  | 'Q8_0'
  | 'Q8'
  | 'Q8A';

export interface WeightTensor {
  name: string;
  dtype: WeightDType;
  /** The logical shape, (rows, k) for a quantized matrix. */
  shape: number[];
  /** F32: the values; F16 / BF16: the packed 16-bit patterns; Q4, Q5, Q8: the packed 4-bit (Q5: their low 4 bits) or 8-bit values. */
  data: Float32Array | Uint16Array | Uint32Array;
  /**
   * 4-bit groups: one scale per group of 32 values of a row (f16 bit patterns or f32); Q4_K:
   * (scale, min) f16 pairs; Q5_K: per group of 32, a u32 of fifth bits, then a (scale, min) f16
   * pair in one u32; Q6A: per group of 32, two u32s of high bits, then two such pairs; Q6_K:
   * the two u32s of high bits, then one of d (f16) and the halves' int8 scales; IQ4
   * and the other level groups: one f32 scale per group of 32 (IQ2_XS, IQ2_S, IQ1_M, Q3_K:
   * per 16); Q8_0: one f16 scale per group of 32; Q8: one f32 scale per
   * group of 16; Q8A: an f32 (scale, min) pair per group of 16.
   */
  scales?: Uint16Array | Float32Array | Uint32Array;
}

export const isQuantized = (dtype: WeightDType) => dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16';

export type ModelWeights = Map<string, WeightTensor>;

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

export async function loadWeights(
  source: ModelSource,
  config: ModelConfig,
  onProgress?: (progress: FileProgress) => void,
  /** Tensors to read besides the model's: a key to hold each under, its name in the files, its shape. */
  extra: Map<string, { file: string; shape: number[] }> = new Map(),
): Promise<ModelWeights> {
  // The tensors under the checkpoint's names (Phi-1/2's own), each read back under Tandem's.
  const ours = new Map([...expectedTensors(config).keys()].map((name) => [checkpointTensorName(config, name), name]));
  const expected = new Map(
    [...expectedTensors(config)].map(([name, shape]) => [checkpointTensorName(config, name), shape]),
  );
  for (const [key, { file, shape }] of extra) {
    ours.set(file, key);
    expected.set(file, shape);
  }
  const weights: ModelWeights = new Map();
  for (const { file, names } of await weightFiles(source, expected)) {
    const opened = await source.open(file, onProgress);
    let tensors: Awaited<ReturnType<typeof readSafetensors>>;
    try {
      tensors = await readSafetensors(
        opened.stream,
        file,
        (info) => expected.has(info.name),
        (header) => checkHeader(header, names, expected, config, source.name),
      );
    } catch (error) {
      await opened.settle(false);
      throw error;
    }
    await opened.settle(true);
    for (const [fileName, { info, data }] of tensors) {
      const name = ours.get(fileName) as string;
      const tensor: WeightTensor = { name, dtype: info.dtype as WeightDType, shape: info.shape, data: data as never };
      weights.set(name, config.architecture === 'GPTNeoXForCausalLM' ? neoxQkvInOrder(tensor, config) : tensor);
    }
  }
  return weights;
}

/**
 * GPT-NeoX's query_key_value rows go head by head, each head's q, k and v rows together; Tandem
 * reads q|k|v as all the q rows, then k's, then v's (as MLC's and llama.cpp's converters store
 * them). Other tensors pass as they are.
 */
function neoxQkvInOrder(tensor: WeightTensor, config: ModelConfig): WeightTensor {
  if (!/\.qkv_proj\.(weight|bias)$/.test(tensor.name)) return tensor;
  const { numHeads: nh, headDim: hd } = config;
  const width = tensor.data.length / (3 * nh * hd); // values a row
  const data = new (tensor.data.constructor as new (length: number) => WeightTensor['data'])(tensor.data.length);
  for (let h = 0; h < nh; h++) {
    for (let part = 0; part < 3; part++) {
      const from = (h * 3 + part) * hd * width;
      data.set(tensor.data.subarray(from, from + hd * width), (part * nh + h) * hd * width);
    }
  }
  return { ...tensor, data };
}

/** The weight files and the expected tensors each must hold: the single file, or the index's shards. */
async function weightFiles(source: ModelSource, expected: Map<string, number[]>) {
  let index: unknown;
  try {
    index = await readJson(source, INDEX_FILE, SafetensorsFormatError);
  } catch (error) {
    if ((error as Error).name !== 'ModelFileMissingError') throw error;
    return [{ file: SINGLE_FILE, names: [...expected.keys()] }];
  }
  const weightMap = (index as { weight_map?: Record<string, unknown> }).weight_map;
  if (typeof weightMap !== 'object' || weightMap === null) {
    throw new SafetensorsFormatError(`${source.name}/${INDEX_FILE} has no weight_map`);
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string') {
      throw new SafetensorsFormatError(`${source.name}/${INDEX_FILE}: "${name}" maps to ${JSON.stringify(shard)}`);
    }
    confined(source.name, shard);
    if (!shards.has(shard)) shards.set(shard, []);
    if (expected.has(name)) shards.get(shard)?.push(name);
  }
  for (const name of expected.keys()) {
    if (!Object.hasOwn(weightMap, name)) {
      throw new TensorMissingError(`${source.name}: tensor "${name}" is not in ${INDEX_FILE}'s weight_map`);
    }
  }
  if (shards.size === 0) throw new ModelFileMissingError(`${source.name}/${INDEX_FILE} lists no shard`);
  return [...shards].sort(([a], [b]) => a.localeCompare(b)).map(([file, names]) => ({ file, names }));
}

/** The header of a file that should hold `names`: each there with the config's shape and a float dtype. */
function checkHeader(
  header: SafetensorsHeader,
  names: string[],
  expected: Map<string, number[]>,
  config: ModelConfig,
  where: string,
): void {
  for (const name of names) {
    const info = header.tensors.get(name);
    if (!info) throw new TensorMissingError(`${where}: tensor "${name}" is missing from ${header.fileName}`);
    const shape = expected.get(name) as number[];
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new TensorShapeError(
        `${where}: tensor "${name}" has shape [${info.shape}] but config.json implies [${shape}]`,
      );
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
      throw new TensorShapeError(`${where}: tensor "${name}" is ${info.dtype}; weights must be F32, F16 or BF16`);
    }
  }
  for (const name of header.tensors.keys()) {
    const layer = /^model\.layers\.(\d+)\./.exec(name);
    if (layer && Number(layer[1]) >= config.numLayers) {
      throw new TensorShapeError(
        `${where}: ${header.fileName} holds "${name}", but config.json says the model has ${config.numLayers} layers`,
      );
    }
  }
}
