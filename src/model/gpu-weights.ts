/**
 * Uploading a model's weights to the GPU, once, in the layout the kernels read:
 *   - q, k, v concatenated by rows into one (q_rows + 2 kv_rows, d) matrix, and gate, up into
 *     one (2f, d) matrix, so each is one dispatch instead of three or two (Phi-3's files hold
 *     them so already);
 *   - matrices stay in their file's format (f32, or f16 / bf16 packed two to a u32);
 *   - for partial RoPE (Phi-4-mini), each head's q and k rows in rope.ts's `rotaryOrder`, so the
 *     kernels turn pairs (i, i + hd/2) as for any model;
 *   - norms and biases widened to f32 (they are tiny);
 *   - a tied LM head is the embedding buffer itself;
 *   - Qwen3.5: a Gated DeltaNet layer's in-projections as one (q|k|v|z|b|a) matrix, its
 *     convolution and small parameters as f32; an attention layer's q_proj rows taken apart into
 *     the queries (with k and v) and the output gate (a matrix of its own).
 * Every buffer is checked against the adapter's limits before anything is allocated, so a
 * model that cannot fit is refused with ModelTooLargeError naming the tensor and the limit.
 */

import { ModelTooLargeError, TensorShapeError } from '../errors';
import { STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { ModelConfig } from '../loader/config';
import { layerTensorNames, linearTensorNames } from '../loader/tensor-names';
import { toFloat32 } from '../loader/tensors';
import type { ModelWeights, WeightDType, WeightTensor } from '../loader/weights';
import { rotaryOrder } from '../ref/rope';
import { mib } from '../util/bytes';

export interface GpuMatrix {
  /**
   * The rows, in one buffer, or in consecutive parts of `partRows[i]` rows each where the
   * whole would exceed the adapter's binding or buffer size (a large vocabulary's embedding).
   */
  parts: GPUBuffer[];
  partRows: number[];
  dtype: WeightDType;
  rows: number;
  cols: number;
}

export interface GpuLayerWeights {
  inputNorm?: GPUBuffer; // (d) f32; Gemma's norms hold 1 + w; LayerNorms (2d), weight then bias. None in an EAGLE-1 head or OLMo 2
  hiddenNorm?: GPUBuffer; // (d) f32: an EAGLE head's norm of its hidden input
  qkv: GpuMatrix; // ((nh + 2 nkv) hd, d); a Gated DeltaNet layer's in-projection, q|k|v|z|b|a
  /** A Gated DeltaNet layer's convolution (channels, taps) and its -exp(A_log), dt_bias and norm weight, f32. */
  linear?: { conv: GPUBuffer; params: GPUBuffer };
  /** Qwen3.5's attention output gate, (nh hd, d): each head's output times sigmoid of it. */
  outputGate?: GpuMatrix;
  qkvBias?: GPUBuffer; // ((nh + 2 nkv) hd) f32
  qNorm?: GPUBuffer; // (hd) f32, Qwen3 and Gemma 3; (nh hd) OLMo 2
  kNorm?: GPUBuffer; // (hd) f32; (nkv hd) OLMo 2
  o: GpuMatrix; // (d, nh hd); a Gated DeltaNet layer's out_proj
  oBias?: GPUBuffer; // (d)
  attentionOutNorm?: GPUBuffer; // (d), Gemma 2 and 3, OLMo 2: the norm on the attention branch
  mlpNorm?: GPUBuffer; // (d); none in OLMo 2
  gateUp: GpuMatrix; // (2f, d)
  gateUpBias?: GPUBuffer; // (2f)
  down: GpuMatrix; // (d, f)
  downBias?: GPUBuffer; // (d)
  mlpOutNorm?: GPUBuffer; // (d), Gemma 2 and 3, OLMo 2: the norm on the MLP branch
}

export interface GpuWeights {
  embed: GpuMatrix; // (vocab, d)
  layers: GpuLayerWeights[];
  finalNorm?: GPUBuffer; // (d) f32; none in an EAGLE-1 head
  lmHead: GpuMatrix; // (vocab, d), the embedding buffer when tied
  lmHeadBias?: GPUBuffer[]; // (vocab) f32, Phi-1/2: split as the head's rows are, a buffer per part
  /**
   * An EAGLE-1 head's first projection, x = fc([embedding; hidden]) + b: (d, 2d), and (d); an MTP
   * head's, over the norms of both (`norms`: (d) f32 each, the embedding's, then the hidden's).
   */
  inputFc?: { matrix: GpuMatrix; bias?: GPUBuffer; norms?: [GPUBuffer, GPUBuffer] };
  zeros: GPUBuffer; // the bias of layers that have none: max(rows) f32 zeros
  bytes: number;
  /** The embedding belongs to another model's weights (an EAGLE head embeds with its target's table). */
  sharedEmbed?: boolean;
  /** So does the LM head (an EAGLE-1 head's logits are its target's LM head's). */
  sharedHead?: boolean;
}

/** The most bytes one buffer the kernels bind may hold on this adapter. */
export function bufferLimit(gpu: Gpu): number {
  const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = gpu.info.limits;
  return Math.min(binding, buffer);
}

export function checkLimits(gpu: Gpu, what: string, bytes: number): void {
  const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = gpu.info.limits;
  const limit = bufferLimit(gpu);
  if (bytes > limit) {
    const name = binding <= buffer ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    throw new ModelTooLargeError(
      `${what} needs a ${mib(bytes)} buffer, but this GPU's ${name} is ${mib(limit)} ` +
        `(${mib(bytes - limit)} too many). Use a smaller model, or one with half-precision or 4-bit weights.`,
    );
  }
}

/**
 * A matrix to upload: its tensors (stacked by rows) under one label; `splits` if its rows may be
 * split; `order`: row r of the upload is row order[r] of the stack (partial RoPE's q|k|v).
 */
interface MatrixPlan {
  label: string;
  parts: WeightTensor[];
  splits?: boolean;
  order?: Int32Array;
}

/**
 * Uploads `weights` for a model of `config`. An EAGLE head (config.hiddenInput) passes its
 * target's uploaded embedding as `shared.embed`, and an EAGLE-1 head its LM head as
 * `shared.lmHead`: no table is uploaded twice.
 */
export function uploadWeights(
  gpu: Gpu,
  config: ModelConfig,
  weights: ModelWeights,
  shared: { embed?: GpuMatrix; lmHead?: GpuMatrix } = {},
): GpuWeights {
  const { device } = gpu;
  const get = (name: string) => weights.get(name) as WeightTensor;
  const optional = (name: string) => weights.get(name);
  const qkvOrder = rotaryRowOrder(config);
  /** The MLP's in-projections: gate and up, or up alone (an MLP without a gate, Phi-1/2's fc1). */
  const mlpIn = (t: ReturnType<typeof layerTensorNames>) => (config.gatedMlp ? [t.gate, t.up] : [t.up]);

  // Every matrix, as it will be laid out: each checked against the limits before any upload.
  const plans = {
    embed: shared.embed
      ? undefined
      : { label: 'model.embed_tokens.weight', parts: [get('model.embed_tokens.weight')], splits: true },
    lmHead:
      config.tieWordEmbeddings || shared.lmHead
        ? undefined
        : { label: 'lm_head.weight', parts: [get('lm_head.weight')], splits: true },
    inputFc:
      config.hiddenInput === 'eagle1' || config.hiddenInput === 'mtp'
        ? { label: 'fc.weight', parts: [get('fc.weight')] }
        : undefined,
    layers: Array.from({ length: config.numLayers }, (_, l) => {
      const t = layerTensorNames(config, l);
      const { fused } = config;
      const linear = config.layers[l].linear ? linearTensorNames(l) : undefined;
      // Qwen3.5's gated attention: q_proj's rows (in MLC's folders, the first of q|k|v) taken apart.
      const gated = config.attentionOutputGate && !linear;
      const [q, gate, k, v] = gated
        ? fused.qkv
          ? gatedFromFused(config, get(`${t.qkv}.weight`))
          : [...queriesAndGates(config, get(`${t.q}.weight`)), get(`${t.k}.weight`), get(`${t.v}.weight`)]
        : [];
      return {
        qkv: linear
          ? {
              label: `model.layers.${l}.linear_attn (q|k|v|z|b|a)`,
              parts: [linear.qkv, linear.z, linear.b, linear.a].map(get),
            }
          : {
              label: `${t.qkv} (q|k|v)`,
              parts:
                q && k && v
                  ? [q, k, v]
                  : fused.qkv
                    ? [get(`${t.qkv}.weight`)]
                    : [t.q, t.k, t.v].map((n) => get(`${n}.weight`)),
              order: qkvOrder,
            },
        outputGate: gate && { label: `${t.q}.weight (the gate's rows)`, parts: [gate] },
        o: linear
          ? { label: linear.out, parts: [get(linear.out)], splits: true }
          : { label: `${t.o}.weight`, parts: [get(`${t.o}.weight`)], splits: !config.outputBias },
        gateUp: {
          label: `${t.gateUp} (gate|up)`,
          parts: fused.gateUp ? [get(`${t.gateUp}.weight`)] : mlpIn(t).map((n) => get(`${n}.weight`)),
        },
        down: { label: `${t.down}.weight`, parts: [get(`${t.down}.weight`)], splits: !config.mlpBias },
      };
    }),
  };
  const all: MatrixPlan[] = [plans.embed, plans.lmHead, plans.inputFc].filter((plan) => plan !== undefined);
  for (const layer of plans.layers) {
    all.push(layer.qkv, layer.o, layer.gateUp, layer.down, ...(layer.outputGate ? [layer.outputGate] : []));
  }
  for (const plan of all) checkPlan(gpu, plan);

  let bytes = 0;
  const upload = (data: ArrayBufferView, label: string) => {
    bytes += data.byteLength;
    return uploadBuffer(device, data, STORAGE, label);
  };
  const matrix = (plan: MatrixPlan) => uploadPlan(gpu, plan, upload);
  /** Small f32 vectors: norms (Gemma's as 1 + w, formed in f32 as PyTorch forms it) and biases. */
  const vector = (label: string, parts: (WeightTensor | undefined)[], offset = 0, order?: Int32Array) => {
    if (parts.some((p) => !p)) return undefined;
    const values = new Float32Array(parts.reduce((sum, p) => sum + (p as WeightTensor).shape[0], 0));
    let at = 0;
    for (const part of parts as WeightTensor[]) {
      values.set(
        toFloat32(part).map((w) => w + offset),
        at,
      );
      at += part.shape[0];
    }
    return upload(order ? values.map((_, i) => values[order[i]]) : values, label);
  };
  const norm = (name: string, order?: Int32Array) => vector(name, [get(name)], config.normOffset, order) as GPUBuffer;
  /** A norm of the residual stream: a LayerNorm's vector holds its weight, then its bias (norm.wgsl). */
  const streamNorm = (name: string) =>
    config.norm === 'layer'
      ? (vector(name, [get(name), get(name.replace(/weight$/, 'bias'))]) as GPUBuffer)
      : norm(name);
  const bias = (names: string[], order?: Int32Array) =>
    vector(
      `${names[0]} bias`,
      names.map((n) => optional(`${n}.bias`)),
      0,
      order,
    );
  const headOrder = qkvOrder?.subarray(0, config.headDim);

  const embed = plans.embed ? matrix(plans.embed) : (shared.embed as GpuMatrix);
  const eagle1 = config.hiddenInput === 'eagle1';
  const layers = plans.layers.map((plan, l): GpuLayerWeights => {
    const t = layerTensorNames(config, l);
    const { fused } = config;
    const linear = config.layers[l].linear ? linearTensorNames(l) : undefined;
    const attention = !linear;
    return {
      inputNorm: eagle1 || !t.inputNorm ? undefined : streamNorm(t.inputNorm),
      hiddenNorm: config.hiddenInput === 'eagle3' ? norm(`model.layers.${l}.hidden_norm.weight`) : undefined,
      qkv: matrix(plan.qkv),
      ...(linear && {
        linear: {
          conv: upload(toFloat32(get(linear.conv)), linear.conv),
          // -exp(A_log) formed in f32, as PyTorch forms it; then dt_bias and the gated norm's weight (no 1 +).
          params: upload(
            Float32Array.from([
              ...toFloat32(get(linear.aLog)).map((a) => -Math.exp(a)),
              ...toFloat32(get(linear.dtBias)),
              ...toFloat32(get(linear.norm)),
            ]),
            `model.layers.${l}.linear_attn params`,
          ),
        },
      }),
      ...(plan.outputGate && { outputGate: matrix(plan.outputGate) }),
      qkvBias: config.qkvBias && attention ? bias(fused.qkv ? [t.qkv] : [t.q, t.k, t.v], qkvOrder) : undefined,
      qNorm: config.qkNorm && attention ? norm(t.qNorm, headOrder) : undefined,
      kNorm: config.qkNorm && attention ? norm(t.kNorm, headOrder) : undefined,
      o: matrix(plan.o),
      oBias: config.outputBias && attention ? bias([t.o]) : undefined,
      attentionOutNorm: t.attentionOutNorm ? norm(t.attentionOutNorm) : undefined,
      mlpNorm: t.mlpNorm ? streamNorm(t.mlpNorm) : undefined,
      gateUp: matrix(plan.gateUp),
      gateUpBias: config.mlpBias ? bias(fused.gateUp ? [t.gateUp] : mlpIn(t)) : undefined,
      down: matrix(plan.down),
      downBias: config.mlpBias ? bias([t.down]) : undefined,
      mlpOutNorm: t.mlpOutNorm ? norm(t.mlpOutNorm) : undefined,
    };
  });
  const finalNorm = eagle1 ? undefined : streamNorm('model.norm.weight');
  const lmHead = shared.lmHead ?? (plans.lmHead ? matrix(plans.lmHead) : embed);
  let lmHeadBias: GPUBuffer[] | undefined;
  if (config.headBias) {
    const values = toFloat32(get('lm_head.bias'));
    const starts = lmHead.partRows.map((_, i) => lmHead.partRows.slice(0, i).reduce((sum, rows) => sum + rows, 0));
    lmHeadBias = starts.map((start, i) => upload(values.slice(start, start + lmHead.partRows[i]), 'lm_head.bias'));
  }
  const inputFc = plans.inputFc && {
    matrix: matrix(plans.inputFc),
    bias: vector('fc.bias', [optional('fc.bias')]),
    ...(config.hiddenInput === 'mtp' && {
      norms: [norm('pre_fc_norm_embedding.weight'), norm('pre_fc_norm_hidden.weight')] as [GPUBuffer, GPUBuffer],
    }),
  };
  const qkvRows = (config.numHeads + 2 * config.numKvHeads) * config.headDim;
  const linearRows = Math.max(0, ...plans.layers.map((plan) => plan.qkv.parts.reduce((sum, p) => sum + p.shape[0], 0)));
  const maxRows = Math.max(qkvRows, linearRows, 2 * config.intermediateSize, config.hiddenSize, config.vocabSize);
  const zeros = upload(new Float32Array(maxRows), 'zeros');
  return {
    embed,
    layers,
    finalNorm,
    lmHead,
    ...(lmHeadBias ? { lmHeadBias } : {}),
    ...(inputFc ? { inputFc } : {}),
    zeros,
    bytes,
    sharedEmbed: shared.embed !== undefined,
    // A tied head is the embedding: shared when that is.
    sharedHead: shared.lmHead !== undefined || (plans.lmHead === undefined && shared.embed !== undefined),
  };
}

/** Partial RoPE's order of the q|k|v rows: each q and k head's in `rotaryOrder`, v's as they are; none for whole heads. */
function rotaryRowOrder(config: ModelConfig): Int32Array | undefined {
  const { headDim: hd, rotaryDim, numHeads: nh, numKvHeads: nkv } = config;
  if (rotaryDim === hd) return undefined;
  const head = rotaryOrder(hd, rotaryDim);
  return Int32Array.from({ length: (nh + 2 * nkv) * hd }, (_, r) =>
    r < (nh + nkv) * hd ? r - (r % hd) + head[r % hd] : r,
  );
}

/**
 * Qwen3.5's q_proj, each head's query rows and then its gate's, as two matrices: the queries
 * (heads in order) and the gates.
 */
function queriesAndGates(config: ModelConfig, qProj: WeightTensor): [WeightTensor, WeightTensor] {
  const { numHeads: nh, headDim: hd } = config;
  const rowsOf = (second: number) =>
    Int32Array.from({ length: nh * hd }, (_, r) => (2 * Math.floor(r / hd) + second) * hd + (r % hd));
  return [selectRows(qProj, rowsOf(0)), selectRows(qProj, rowsOf(1))];
}

/** MLC's c_attn for Qwen3.5, q_proj's rows then k's and v's: the queries, the gates, k and v. */
function gatedFromFused(config: ModelConfig, qkv: WeightTensor): WeightTensor[] {
  const { numHeads: nh, numKvHeads: nkv, headDim: hd } = config;
  const range = (from: number, count: number) =>
    selectRows(
      qkv,
      Int32Array.from({ length: count }, (_, i) => from + i),
    );
  return [
    ...queriesAndGates(config, range(0, 2 * nh * hd)),
    range(2 * nh * hd, nkv * hd),
    range((2 * nh + nkv) * hd, nkv * hd),
  ];
}

/** The tensor made of rows `rows` of `t` (a quantized row's scales go with it). */
function selectRows(t: WeightTensor, rows: Int32Array): WeightTensor {
  const pick = <T extends Values>(all: T): T => {
    const per = all.length / t.shape[0];
    const out = new (all.constructor as new (length: number) => T)(rows.length * per);
    rows.forEach((from, r) => {
      out.set(all.subarray(from * per, (from + 1) * per), r * per);
    });
    return out;
  };
  return {
    ...t,
    shape: [rows.length, ...t.shape.slice(1)],
    data: pick(t.data),
    ...(t.scales && { scales: pick(t.scales) }),
  };
}

/** One matrix uploaded on its own (an EAGLE head's fc, which its target applies), checked against the limits. */
export function uploadMatrix(gpu: Gpu, label: string, tensor: WeightTensor): GpuMatrix {
  const plan = { label, parts: [tensor] };
  checkPlan(gpu, plan);
  return uploadPlan(gpu, plan, (data, name) => uploadBuffer(gpu.device, data, STORAGE, name));
}

/** A matrix's parts share one dtype, and it fits the adapter's limits: whole, or a row when it may be split. */
function checkPlan(gpu: Gpu, plan: MatrixPlan): void {
  const formats = new Set(plan.parts.map((p) => p.dtype));
  if (formats.size !== 1) {
    throw new TensorShapeError(
      `${plan.label}: its parts are stored in different dtypes (${[...formats]}); they must share one`,
    );
  }
  // A matrix that may be split needs only a row to fit; the fused ones (their epilogues pair
  // rows across the whole matrix) and biased ones must fit whole.
  const bytes = plan.splits ? rowBytes(plan.parts[0]) : plan.parts.reduce((sum, p) => sum + tensorBytes(p), 0);
  checkLimits(gpu, `Tensor ${plan.label}${plan.splits ? ' (a row of it)' : ''}`, bytes);
}

/** Uploads a matrix's rows: in one buffer, or in as many as the binding limit asks. */
function uploadPlan(
  gpu: Gpu,
  { label, parts, order }: MatrixPlan,
  upload: (data: ArrayBufferView, label: string) => GPUBuffer,
): GpuMatrix {
  const rows = parts.reduce((sum, p) => sum + p.shape[0], 0);
  const stacked = stack(parts, order);
  // Rows per buffer: all of them, or as many as the binding limit holds.
  const perPart = Math.min(rows, Math.floor(bufferLimit(gpu) / rowBytes(parts[0])));
  const partRows = Array.from({ length: Math.ceil(rows / perPart) }, (_, i) => Math.min(perPart, rows - i * perPart));
  const buffers = partRows.map((count, i) => {
    const name = partRows.length > 1 ? `${label} rows ${i * perPart}-${i * perPart + count - 1}` : label;
    return upload(stacked.rows(i * perPart, count), name);
  });
  return { parts: buffers, partRows, dtype: parts[0].dtype, rows, cols: parts[0].shape[1] };
}

type Values = Float32Array | Uint16Array | Uint32Array;

function concat<T extends Values>(parts: T[]): T {
  if (parts.length === 1) return parts[0];
  const total = parts.reduce((sum, p) => sum + p.length, 0);
  const out = new (parts[0].constructor as new (length: number) => T)(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Rows order[0], order[1], ... of `all`, a matrix of `rows` equal rows. */
function gatherRows<T extends Values>(all: T, rows: number, order: Int32Array): T {
  const per = all.length / rows;
  const out = new (all.constructor as new (length: number) => T)(all.length);
  order.forEach((from, r) => {
    out.set(all.subarray(from * per, (from + 1) * per), r * per);
  });
  return out;
}

/** One tensor as a single buffer holds it (quantized: the packed values, then the scales). */
export const matrixBuffer = (t: WeightTensor) => stack([t]).rows(0, t.shape[0]);

const tensorBytes = (t: WeightTensor) => t.data.byteLength + (t.scales?.byteLength ?? 0);

/** Bytes a row of `t` takes in a buffer: its values, and a quantized row's scales. */
const rowBytes = (t: WeightTensor) => tensorBytes(t) / t.shape[0];

/**
 * The matrix whose rows are `parts`' rows, one part after another (in `order` if given), and any
 * run of its rows as a buffer holds them: the values; quantized, the packed values and then their
 * scales (quantized.wgsl), padded to a whole word. Every dtype keeps a row's values, and its
 * scales, together and of one size.
 */
function stack(parts: WeightTensor[], order?: Int32Array) {
  const rows = parts.reduce((sum, p) => sum + p.shape[0], 0);
  const inOrder = (all: Values) => (order ? gatherRows(all, rows, order) : all);
  const values = inOrder(concat<Values>(parts.map((p) => p.data)));
  const scales = parts[0].scales ? inOrder(concat<Values>(parts.map((p) => p.scales as Values))) : undefined;
  return {
    rows(from: number, count: number): ArrayBufferView {
      const per = values.length / rows;
      const slice = values.subarray(from * per, (from + count) * per);
      if (!scales) return slice;
      const perScales = scales.length / rows;
      const scaleSlice = scales.subarray(from * perScales, (from + count) * perScales);
      const out = new Uint8Array(slice.byteLength + Math.ceil(scaleSlice.byteLength / 4) * 4);
      out.set(new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength));
      out.set(new Uint8Array(scaleSlice.buffer, scaleSlice.byteOffset, scaleSlice.byteLength), slice.byteLength);
      return out;
    },
  };
}

/** Frees every buffer of `uploadWeights`. */
export function destroyWeights(w: GpuWeights): void {
  const matrices = [
    ...(w.sharedEmbed ? [] : [w.embed]),
    ...w.layers.flatMap((l) => [l.qkv, l.o, l.gateUp, l.down, ...(l.outputGate ? [l.outputGate] : [])]),
    ...(w.sharedHead ? [] : [w.lmHead]),
    ...(w.inputFc ? [w.inputFc.matrix] : []),
  ];
  const vectors = w.layers.flatMap((l) => [
    l.inputNorm,
    l.hiddenNorm,
    l.qkvBias,
    l.qNorm,
    l.kNorm,
    l.oBias,
    l.attentionOutNorm,
    l.mlpNorm,
    l.gateUpBias,
    l.downBias,
    l.mlpOutNorm,
    l.linear?.conv,
    l.linear?.params,
  ]);
  for (const buffer of new Set([
    ...matrices.flatMap((m) => m.parts),
    ...vectors,
    w.finalNorm,
    w.inputFc?.bias,
    ...(w.inputFc?.norms ?? []),
    ...(w.lmHeadBias ?? []),
    w.zeros,
  ])) {
    buffer?.destroy();
  }
}
