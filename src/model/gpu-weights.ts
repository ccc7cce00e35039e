/**
 * Uploading a model's weights to the GPU, once, in the layout the kernels read:
 *   - q, k, v concatenated by rows into one (q_rows + 2 kv_rows, d) matrix, and gate, up into
 *     one (2f, d) matrix, so each is one dispatch instead of three or two;
 *   - matrices stay in their file's format (f32, or f16 / bf16 packed two to a u32);
 *   - norms and biases widened to f32 (they are tiny);
 *   - a tied LM head is the embedding buffer itself.
 * Every buffer is checked against the adapter's limits before anything is allocated, so a
 * model that cannot fit is refused with ModelTooLargeError naming the tensor and the limit.
 */

import { ModelTooLargeError, TensorShapeError } from '../errors';
import { STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { ModelWeights, WeightDType, WeightTensor } from '../loader/weights';
import { toFloat32 } from '../ref/model';
import type { ModelConfig } from './config';

export interface GpuMatrix {
  buffer: GPUBuffer;
  dtype: WeightDType;
  rows: number;
  cols: number;
}

export interface GpuLayerWeights {
  inputNorm: GPUBuffer; // (d) f32
  qkv: GpuMatrix; // ((nh + 2 nkv) hd, d)
  qkvBias: GPUBuffer; // ((nh + 2 nkv) hd) f32, zeros without biases
  o: GpuMatrix; // (d, nh hd)
  postNorm: GPUBuffer; // (d) f32
  gateUp: GpuMatrix; // (2f, d)
  down: GpuMatrix; // (d, f)
}

export interface GpuWeights {
  embed: GpuMatrix; // (vocab, d)
  layers: GpuLayerWeights[];
  finalNorm: GPUBuffer; // (d) f32
  lmHead: GpuMatrix; // (vocab, d), the embedding buffer when tied
  zeros: GPUBuffer; // biases of layers that have none: max(rows) f32 zeros
  bytes: number;
}

const BYTES: Record<WeightDType, number> = { F32: 4, F16: 2, BF16: 2 };

/** Bytes of the largest single buffer the model needs, and its name, for the limit check. */
export function largestWeightBuffer(config: ModelConfig, dtype: WeightDType): { name: string; bytes: number } {
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim, vocabSize } = config;
  const candidates = [
    { name: 'model.embed_tokens.weight', bytes: vocabSize * d * BYTES[dtype] },
    { name: 'mlp.gate_proj + up_proj (fused)', bytes: 2 * f * d * BYTES[dtype] },
    { name: 'mlp.down_proj', bytes: d * f * BYTES[dtype] },
    { name: 'self_attn.q/k/v_proj (fused)', bytes: (numHeads + 2 * numKvHeads) * headDim * d * BYTES[dtype] },
  ];
  return candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
}

export function checkLimits(gpu: Gpu, what: string, bytes: number): void {
  const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = gpu.info.limits;
  const limit = Math.min(binding, buffer);
  if (bytes > limit) {
    const name = binding <= buffer ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    throw new ModelTooLargeError(
      `${what} needs a ${mib(bytes)} buffer, but this GPU's ${name} is ${mib(limit)} ` +
        `(${mib(bytes - limit)} too many). Use a smaller model, or half-precision weights.`,
    );
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export function uploadWeights(gpu: Gpu, config: ModelConfig, weights: ModelWeights): GpuWeights {
  const { device } = gpu;
  const get = (name: string) => weights.get(name) as WeightTensor;
  const dtype = get('model.embed_tokens.weight').dtype;
  const largest = largestWeightBuffer(config, dtype);
  checkLimits(gpu, `Tensor ${largest.name}`, largest.bytes);
  let bytes = 0;

  const upload = (data: ArrayBufferView, label: string) => {
    bytes += data.byteLength;
    return uploadBuffer(device, data, STORAGE, label);
  };
  const matrix = (label: string, parts: WeightTensor[]): GpuMatrix => {
    const formats = new Set(parts.map((p) => p.dtype));
    if (formats.size !== 1) {
      throw new TensorShapeError(
        `${label}: its parts are stored in different dtypes (${[...formats]}); they must share one`,
      );
    }
    const [first] = parts;
    const data = concat(parts.map((p) => p.data));
    const rows = parts.reduce((sum, p) => sum + p.shape[0], 0);
    return { buffer: upload(data, label), dtype: first.dtype, rows, cols: first.shape[1] };
  };
  const vector = (label: string, parts: (WeightTensor | undefined)[], length: number) => {
    const values = new Float32Array(length);
    let at = 0;
    for (const part of parts) {
      if (part) values.set(toFloat32(part), at);
      at += part ? part.shape[0] : 0;
    }
    return upload(values, label);
  };

  const embed = matrix('embed_tokens', [get('model.embed_tokens.weight')]);
  const qkvRows = (config.numHeads + 2 * config.numKvHeads) * config.headDim;
  const layers = Array.from({ length: config.numLayers }, (_, l): GpuLayerWeights => {
    const p = `model.layers.${l}`;
    const projections = ['q', 'k', 'v'].map((x) => get(`${p}.self_attn.${x}_proj.weight`));
    const biases = ['q', 'k', 'v'].map((x) => weights.get(`${p}.self_attn.${x}_proj.bias`));
    const qkvBias = vector(`${p}.qkv_bias`, config.attentionBias ? biases : [], qkvRows);
    return {
      inputNorm: vector(`${p}.input_layernorm`, [get(`${p}.input_layernorm.weight`)], config.hiddenSize),
      qkv: matrix(`${p}.qkv_proj`, projections),
      qkvBias,
      o: matrix(`${p}.o_proj`, [get(`${p}.self_attn.o_proj.weight`)]),
      postNorm: vector(
        `${p}.post_attention_layernorm`,
        [get(`${p}.post_attention_layernorm.weight`)],
        config.hiddenSize,
      ),
      gateUp: matrix(`${p}.gate_up_proj`, [get(`${p}.mlp.gate_proj.weight`), get(`${p}.mlp.up_proj.weight`)]),
      down: matrix(`${p}.down_proj`, [get(`${p}.mlp.down_proj.weight`)]),
    };
  });
  const finalNorm = vector('norm', [get('model.norm.weight')], config.hiddenSize);
  const lmHead = config.tieWordEmbeddings ? embed : matrix('lm_head', [get('lm_head.weight')]);
  const maxRows = Math.max(qkvRows, 2 * config.intermediateSize, config.hiddenSize, config.vocabSize);
  const zeros = upload(new Float32Array(maxRows), 'zeros');
  return { embed, layers, finalNorm, lmHead, zeros, bytes };
}

function concat(parts: (Float32Array | Uint16Array)[]): Float32Array | Uint16Array {
  if (parts.length === 1) return parts[0];
  const total = parts.reduce((sum, p) => sum + p.length, 0);
  const out = parts[0] instanceof Float32Array ? new Float32Array(total) : new Uint16Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Frees every buffer of `uploadWeights`. */
export function destroyWeights(w: GpuWeights): void {
  const matrices = [w.embed, ...w.layers.flatMap((l) => [l.qkv, l.o, l.gateUp, l.down]), w.lmHead];
  for (const m of new Set(matrices.map((m) => m.buffer))) m.destroy();
  for (const l of w.layers) for (const b of [l.inputNorm, l.postNorm, l.qkvBias]) b.destroy();
  w.finalNorm.destroy();
  w.zeros.destroy();
}
