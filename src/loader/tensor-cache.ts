/**
 * The weights of an MLC model folder: `tensor-cache.json` (older folders: `ndarray-cache.json`)
 * lists shards (`params_shard_N.bin`, format "raw-shard", `nbytes`) and in each the records of
 * its tensors (name, shape, dtype, format, nbytes, byteOffset). With a q4 quantization each
 * matrix `X.weight` is two records, `X.q_weight` (uint32) and `X.q_scale` (f16 or f32; q4.ts);
 * norms and biases are plain records in the model's dtype (Gemma's norms plus one, which the
 * load takes away: tensors.ts, `minusOne`). A record of format "f32-to-bf16" is an f32 tensor
 * stored as bf16.
 *
 * Everything is checked from tensor-cache.json before a shard is read: every tensor the config
 * implies, with its shape and dtype; records inside their shard, apart from each other, of the
 * size their shape says; no layer past the config's. Each shard is then streamed once, each
 * record's bytes straight into its tensor's array. A shard shorter than its records, or longer,
 * is refused with the file and the record named.
 */

import { TensorCacheFormatError, TensorMissingError, TensorShapeError } from '../errors';
import { ByteReader } from './byte-reader';
import { type MlcFolderConfig, mlcTensorName } from './mlc-config';
import { Q4_GROUP } from './q4';
import { confined, type FileProgress, type ModelSource, readJson } from './source';
import { expectedTensors } from './tensor-names';
import { minusOne } from './tensors';
import type { ModelWeights, WeightDType, WeightTensor } from './weights';

const MANIFESTS = ['tensor-cache.json', 'ndarray-cache.json'];

interface CacheRecord {
  name: string;
  shape: number[];
  dtype: string;
  format: string;
  nbytes: number;
  byteOffset: number;
}

interface CacheShard {
  dataPath: string;
  nbytes: number;
  records: CacheRecord[];
}

const ITEM_BYTES: Record<string, number> = { float32: 4, float16: 2, bfloat16: 2, uint32: 4 };

/** Where one part of a tensor comes from: a record of a shard, and the array it fills. */
interface Read {
  record: CacheRecord;
  into: Uint8Array;
}

export async function loadMlcWeights(
  source: ModelSource,
  { config, quantization, normsPlusOne, modelType }: MlcFolderConfig,
  onProgress?: (progress: FileProgress) => void,
): Promise<ModelWeights> {
  const { manifest, shards } = await readManifest(source);
  const where = `${source.name}/${manifest}`;
  const records = new Map<string, { record: CacheRecord; shard: CacheShard }>();
  for (const shard of shards) for (const record of shard.records) records.set(record.name, { record, shard });

  // Every tensor the config implies, as the records it is made of, each checked.
  const weights: ModelWeights = new Map();
  const reads = new Map<CacheShard, Read[]>();
  const read = (name: string, dtypes: string[], shape: number[]) => {
    const found = records.get(name);
    if (!found) throw new TensorMissingError(`${where}: no record "${name}"`);
    const { record, shard } = found;
    if (!dtypes.includes(record.dtype) || !sameShape(record.shape, shape)) {
      throw new TensorShapeError(
        `${where}: "${name}" is ${record.dtype} [${record.shape}]; ${quantization.name} and the config imply ` +
          `${dtypes.join(' or ')} [${shape}]`,
      );
    }
    const into = new Uint8Array(record.nbytes);
    reads.set(shard, [...(reads.get(shard) ?? []), { record, into }]);
    return { record, into };
  };
  for (const [name, shape] of expectedTensors(config)) {
    const tensor: WeightTensor = { name, shape, dtype: 'F32', data: new Float32Array(0) };
    const stored = mlcTensorName(modelType, name);
    if (shape.length === 2 && quantization.matrices.startsWith('Q4')) {
      const base = stored.slice(0, -'.weight'.length);
      const [rows, k] = shape;
      if (k % Q4_GROUP !== 0) {
        throw new TensorShapeError(
          `${where}: "${stored}" has ${k} columns, not a whole number of groups of ${Q4_GROUP}`,
        );
      }
      const values = read(`${base}.q_weight`, ['uint32'], [rows, k / 8]);
      const scales = read(`${base}.q_scale`, [quantization.vectors], [rows, k / Q4_GROUP]);
      tensor.dtype = quantization.matrices;
      tensor.data = view(values.into, 'uint32') as Uint32Array;
      tensor.scales = view(scales.into, quantization.vectors) as Uint16Array | Float32Array;
    } else {
      const { record, into } = read(stored, ['float16', 'float32', 'bfloat16'], shape);
      const dtype = record.format === 'f32-to-bf16' ? 'bfloat16' : record.dtype;
      tensor.dtype = ({ float32: 'F32', float16: 'F16', bfloat16: 'BF16' } as Record<string, WeightDType>)[dtype];
      tensor.data = view(into, dtype) as Float32Array | Uint16Array;
    }
    weights.set(name, tensor);
  }
  for (const name of records.keys()) {
    const layer = /^(?:language_model\.)?(?:model\.layers|transformer\.h)\.(\d+)\./.exec(name);
    if (layer && Number(layer[1]) >= config.numLayers) {
      throw new TensorShapeError(`${where}: "${name}" is past the config's ${config.numLayers} layers`);
    }
  }

  for (const shard of shards) {
    const wanted = (reads.get(shard) ?? []).sort((a, b) => a.record.byteOffset - b.record.byteOffset);
    await readShard(source, shard, wanted, onProgress);
  }
  if (normsPlusOne) {
    // Qwen3.5's gated norm (linear_attn.norm) multiplies by w: stored as it is.
    for (const [name, tensor] of weights) {
      if (name.endsWith('norm.weight') && !name.endsWith('linear_attn.norm.weight'))
        weights.set(name, minusOne(tensor));
    }
  }
  return weights;
}

/** tensor-cache.json (or the older ndarray-cache.json), checked record by record against its shards. */
async function readManifest(source: ModelSource): Promise<{ manifest: string; shards: CacheShard[] }> {
  let json: unknown;
  let manifest = MANIFESTS[0];
  for (const name of MANIFESTS) {
    try {
      json = await readJson(source, name, TensorCacheFormatError);
      manifest = name;
      break;
    } catch (error) {
      if ((error as Error).name !== 'ModelFileMissingError' || name === MANIFESTS.at(-1)) throw error;
    }
  }
  const where = `${source.name}/${manifest}`;
  const fail = (what: string) => new TensorCacheFormatError(`${where}: ${what}`);
  const list = (json as { records?: unknown })?.records;
  if (!Array.isArray(list) || list.length === 0) throw fail('no "records" (the list of shards)');
  const names = new Set<string>();
  const shards = list.map((entry, i): CacheShard => {
    const shard = entry as Partial<CacheShard>;
    if (typeof shard.dataPath !== 'string' || !isBytes(shard.nbytes) || !Array.isArray(shard.records)) {
      throw fail(`shard ${i} needs a dataPath, nbytes and records`);
    }
    confined(source.name, shard.dataPath);
    const nbytes = shard.nbytes as number;
    let end = 0;
    const records = [...shard.records].sort((a, b) => a?.byteOffset - b?.byteOffset);
    for (const record of records as CacheRecord[]) {
      const what = `${shard.dataPath}: record "${record?.name}"`;
      if (typeof record?.name !== 'string' || !Array.isArray(record.shape) || !record.shape.every(isBytes)) {
        throw fail(`${what} needs a name and a shape`);
      }
      if (names.has(record.name)) throw fail(`${what} is listed twice`);
      names.add(record.name);
      const item = record.format === 'f32-to-bf16' && record.dtype === 'float32' ? 2 : ITEM_BYTES[record.dtype];
      if (item === undefined || (record.format !== 'raw' && record.format !== 'f32-to-bf16')) {
        throw fail(`${what} has dtype ${JSON.stringify(record.dtype)} in format ${JSON.stringify(record.format)}`);
      }
      const size = record.shape.reduce((a, b) => a * b, 1) * item;
      if (record.nbytes !== size) throw fail(`${what} has nbytes ${record.nbytes}; its shape and dtype make ${size}`);
      if (!isBytes(record.byteOffset) || record.byteOffset < end || record.byteOffset + size > nbytes) {
        throw fail(
          `${what} at bytes ${record.byteOffset}..${record.byteOffset + size} overlaps another or leaves its shard of ${nbytes}`,
        );
      }
      end = record.byteOffset + size;
    }
    return { dataPath: shard.dataPath, nbytes, records: records as CacheRecord[] };
  });
  return { manifest, shards };
}

/** Streams one shard, filling each wanted record's array and passing over the rest. */
async function readShard(
  source: ModelSource,
  shard: CacheShard,
  wanted: Read[],
  onProgress?: (progress: FileProgress) => void,
): Promise<void> {
  const file = shard.dataPath;
  const opened = await source.open(file, onProgress);
  const reader = new ByteReader(opened.stream.getReader(), (position, missing, cause) => {
    const record = wanted.find((r) => r.record.byteOffset + r.record.nbytes > position)?.record.name;
    return new TensorCacheFormatError(
      `${source.name}/${file} ends at byte ${position}${missing ? `, ${missing} bytes short` : ''}` +
        `${record ? ` (in record "${record}")` : ''}: the shard is shorter than tensor-cache.json says` +
        `${cause ? ` (${String(cause)})` : ''}`,
      { cause },
    );
  });
  try {
    for (const { record, into } of wanted) {
      await reader.skip(record.byteOffset - reader.position);
      await reader.fill(into);
    }
    await reader.skip(shard.nbytes - reader.position);
    if (!(await reader.atEnd())) {
      throw new TensorCacheFormatError(
        `${source.name}/${file} is longer than the ${shard.nbytes} bytes tensor-cache.json says`,
      );
    }
  } catch (error) {
    await reader.cancel();
    await opened.settle(false);
    throw error;
  }
  await opened.settle(true);
}

const isBytes = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A record's bytes as the array of its dtype (its own buffer: always aligned). */
function view(bytes: Uint8Array, dtype: string): Float32Array | Uint16Array | Uint32Array {
  const { buffer } = bytes;
  if (dtype === 'float32') return new Float32Array(buffer);
  if (dtype === 'uint32') return new Uint32Array(buffer);
  return new Uint16Array(buffer);
}
