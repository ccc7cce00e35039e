/**
 * The weights of a model: one `model.safetensors`, or the shards listed by
 * `model.safetensors.index.json`. Every tensor the config implies must be present with the
 * shape it implies, in a float dtype; otherwise TensorMissingError / TensorShapeError name it.
 */

import { ModelFileMissingError, SafetensorsFormatError, TensorMissingError, TensorShapeError } from '../errors';
import { expectedTensors, type ModelConfig } from '../model/config';
import { parseSafetensors, type Safetensors, tensorData } from './safetensors';
import { type FileProgress, type ModelSource, readJson } from './source';

export type WeightDType = 'F32' | 'F16' | 'BF16';

export interface WeightTensor {
  name: string;
  dtype: WeightDType;
  shape: number[];
  /** F32: the values; F16 / BF16: the packed 16-bit patterns. */
  data: Float32Array | Uint16Array;
}

export type ModelWeights = Map<string, WeightTensor>;

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

export async function loadWeights(
  source: ModelSource,
  config: ModelConfig,
  onProgress?: (progress: FileProgress) => void,
): Promise<ModelWeights> {
  return checkWeights(await readWeightFiles(source, onProgress), config, source.name);
}

async function readWeightFiles(source: ModelSource, onProgress?: (p: FileProgress) => void): Promise<Safetensors[]> {
  let single: Uint8Array;
  try {
    single = await source.read(SINGLE_FILE, onProgress);
  } catch (error) {
    if ((error as Error).name !== 'ModelFileMissingError') throw error;
    const index = await readJson(source, INDEX_FILE, SafetensorsFormatError).catch(() => {
      throw new ModelFileMissingError(`${source.name}: neither ${SINGLE_FILE} nor ${INDEX_FILE} could be read`, {
        cause: error,
      });
    });
    const weightMap = (index as { weight_map?: Record<string, string> }).weight_map;
    if (!weightMap) throw new SafetensorsFormatError(`${source.name}/${INDEX_FILE} has no weight_map`);
    const shards = [...new Set(Object.values(weightMap))].sort();
    const files: Safetensors[] = [];
    for (const shard of shards) files.push(parseSafetensors(await source.read(shard, onProgress), shard));
    return files;
  }
  return [parseSafetensors(single, SINGLE_FILE)];
}

export function checkWeights(files: Safetensors[], config: ModelConfig, where: string): ModelWeights {
  const weights: ModelWeights = new Map();
  for (const [name, shape] of expectedTensors(config)) {
    const file = files.find((f) => f.tensors.has(name));
    const info = file?.tensors.get(name);
    if (!file || !info) {
      throw new TensorMissingError(
        `${where}: tensor "${name}" is missing from ${files.map((f) => f.fileName).join(', ')}`,
      );
    }
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new TensorShapeError(
        `${where}: tensor "${name}" has shape [${info.shape}] but config.json implies [${shape}]`,
      );
    }
    if (info.dtype === 'I32')
      throw new TensorShapeError(`${where}: tensor "${name}" is I32; weights must be F32, F16 or BF16`);
    weights.set(name, { name, dtype: info.dtype, shape, data: tensorData(file, info) as Float32Array | Uint16Array });
  }
  return weights;
}
