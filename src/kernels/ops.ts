/**
 * Wrappers for the small kernels of the forward pass (the linear layer and attention have
 * their own files).
 * Each is built for one model's shapes at load; `encode(pass, bindGroup, tokens)` records it
 * for a step of `tokens` tokens (the count the step uniform holds).
 */

import { createStorage } from '../gpu/buffers';
import type { WeightDType } from '../loader/weights';
import argmaxCode from './argmax.wgsl?raw';
import type { HeadShape } from './attention';
import columnsCode from './columns.wgsl?raw';
import distributionCode from './distribution.wgsl?raw';
import earlierRanksCode from './earlier_ranks.wgsl?raw';
import embedCode from './embed.wgsl?raw';
import iq4LevelsCode from './iq4_levels.wgsl?raw';
import { ComputeKernel } from './kernel';
import { type KvFormat, kvWriteCode } from './kv-cache';
import { formatConstants } from './linear-shape';
import logitRulesCode from './logit_rules.wgsl?raw';
import normCode from './norm.wgsl?raw';
import qkNormRopeCode from './qk_norm_rope.wgsl?raw';
import sampleCode from './sample.wgsl?raw';
import sigmoidGateCode from './sigmoid_gate.wgsl?raw';
import softcapCode from './softcap.wgsl?raw';
import { TREE_POSITION_CODE } from './step';
import tokenMaskCode from './token_mask.wgsl?raw';

/**
 * x[n, :] = table[tokens[n], :] * scale. A table split by rows over several buffers (one over
 * the binding limit) takes a kernel per part: `rows` says which ids its buffer holds, and
 * tokens outside them are left to the other parts. With `stride`, x's rows are that wide and
 * the embedding fills their first d columns.
 */
export class EmbedKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly d: number,
    dtype: WeightDType,
    scale = 1,
    rows?: { offset: number; count: number },
    stride?: number,
  ) {
    const part: Record<string, number> = rows ? { ROW_OFFSET: rows.offset, PART_ROWS: rows.count } : {};
    super(device, `embed ${dtype} ${d}${stride ? ` into ${stride}` : ''}`, `${embedCode}\n${iq4LevelsCode}`, {
      D: d,
      ...formatConstants(dtype),
      SCALE: Math.fround(scale),
      ...part,
      ...(stride ? { STRIDE: stride } : {}),
    });
  }
  bind(b: { step: GPUBuffer; table: GPUBuffer; tokens: GPUBuffer; x: GPUBuffer }) {
    return this.bindAll([b.step, b.table, b.tokens, b.x]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.d / 64), tokens);
  }
}

/** How a NormKernel writes: `accumulate` adds into out; `into` fills d columns of wider rows. */
export interface NormOptions {
  /** LayerNorm (the mean taken away, a bias added), else RMSNorm. */
  centred?: boolean;
  accumulate?: boolean;
  into?: { stride: number; offset: number };
  /** Two norms in one dispatch, the second (its own weight and input) into the d columns after the first's. */
  pair?: boolean;
}

/** norm.wgsl's inputs: one norm's, or a pair's (bindings 4 and 5 hold the second's weight and input). */
const ONE_NORM = `fn row_value(part: u32, i: u32) -> f32 { return x[i]; }
fn gain(part: u32, i: u32) -> f32 { return weight[i]; }`;
const TWO_NORMS = `@group(0) @binding(4) var<storage, read> weight_b: array<f32>;
@group(0) @binding(5) var<storage, read> x_b: array<f32>;
fn row_value(part: u32, i: u32) -> f32 { if (part == 1u) { return x_b[i]; } return x[i]; }
fn gain(part: u32, i: u32) -> f32 { if (part == 1u) { return weight_b[i]; } return weight[i]; }`;

/**
 * out[n, :] = rmsnorm(x[n, :]) * weight, or `centred` layernorm(x[n, :]) * weight + bias (the
 * weight buffer holds the weight, then the bias); with `accumulate` out[n, :] += that.
 */
export class NormKernel extends ComputeKernel {
  private readonly pair: boolean;

  /**
   * `workgroup` threads per token: a power of two (the reduction tree halves it). With `into`,
   * out's rows are `into.stride` wide and the norm fills d columns from `into.offset`; with
   * `pair`, a second norm (`bind`'s weight_b and x_b) fills the d columns after them.
   */
  constructor(device: GPUDevice, d: number, eps: number, workgroup = 64, options: NormOptions = {}) {
    const { centred = false, accumulate = false, into, pair = false } = options;
    const kind = `${centred ? 'layernorm' : 'rmsnorm'}${pair ? ' pair' : ''}`;
    const label = `${kind} ${d}${accumulate ? ' accumulate' : ''}${into ? ` into ${into.offset}/${into.stride}` : ''}`;
    const columns: Record<string, number> = into ? { OUT_STRIDE: into.stride, OUT_OFFSET: into.offset } : {};
    super(device, label, `${normCode}\n${pair ? TWO_NORMS : ONE_NORM}`, {
      D: d,
      EPS: eps,
      WG: workgroup,
      ACCUMULATE: accumulate,
      CENTRED: centred,
      ...columns,
    });
    this.pair = pair;
  }
  bind(b: { step: GPUBuffer; weight: GPUBuffer; x: GPUBuffer; out: GPUBuffer; weight_b?: GPUBuffer; x_b?: GPUBuffer }) {
    if (this.pair !== (b.weight_b !== undefined && b.x_b !== undefined)) {
      throw new Error('a pair of norms binds both weights and inputs, a single norm one of each');
    }
    const second = b.weight_b && b.x_b ? [b.weight_b, b.x_b] : [];
    return this.bindAll([b.step, b.weight, b.x, b.out, ...second]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, tokens, this.pair ? 2 : 1);
  }
}

/** attn[n, i] *= sigmoid(gate[n, i]) over `width` values a token: Qwen3.5's attention output gate. */
export class SigmoidGateKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly width: number,
  ) {
    super(device, `sigmoid gate ${width}`, sigmoidGateCode, { WIDTH: width });
  }
  bind(b: { step: GPUBuffer; gate: GPUBuffer; attn: GPUBuffer }) {
    return this.bindAll([b.step, b.gate, b.attn]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, Math.ceil((tokens * this.width) / 64));
  }
}

/**
 * out[n, offset + i] = x[n, i]: a token's row of d values into a block of columns of rows
 * `stride` wide; `atStart` 'out' or 'x': that side's rows from the step's start (columns.wgsl).
 */
export class ColumnsKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly d: number,
    into: { stride: number; offset: number; atStart?: 'out' | 'x' },
  ) {
    const atStart = into.atStart === 'out' ? 1 : into.atStart === 'x' ? 2 : 0;
    super(
      device,
      `columns ${d} into ${into.offset}/${into.stride}${into.atStart ? ` ${into.atStart} at start` : ''}`,
      columnsCode,
      {
        D: d,
        STRIDE: into.stride,
        OFFSET: into.offset,
        AT_START: atStart,
      },
    );
  }
  bind(b: { step: GPUBuffer; x: GPUBuffer; out: GPUBuffer }) {
    return this.bindAll([b.step, b.x, b.out]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.d / 64), tokens);
  }
}

/**
 * Per-head RMSNorm of queries and keys, RoPE, and the KV-cache write (qk_norm_rope.wgsl), after
 * a q|k|v projection that stored its rows: Qwen3's and Gemma 3's attention.
 */
export class QkNormRopeKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly heads: HeadShape,
    eps: number,
    workgroup = 64,
    kv: KvFormat = 'f32',
    /** What a norm spans: a head (Qwen3, Gemma 3), or a token's whole q or k projection (OLMo 2). */
    span: 'head' | 'projection' = 'head',
  ) {
    const { numHeads: nh, numKvHeads: nkv, headDim: hd } = heads;
    super(
      device,
      `qk-norm${span === 'projection' ? ' (whole)' : ''} rope ${nh}/${nkv}x${hd} ${kv}`,
      `${qkNormRopeCode}${kvWriteCode(kv, 7)}${TREE_POSITION_CODE}`,
      {
        NH: nh,
        NKV: nkv,
        HD: hd,
        EPS: eps,
        WG: workgroup,
        WHOLE: span === 'projection',
      },
    );
  }
  bind(b: {
    step: GPUBuffer;
    qkv: GPUBuffer;
    qNorm: GPUBuffer;
    kNorm: GPUBuffer;
    cos: GPUBuffer;
    sin: GPUBuffer;
    q: GPUBuffer;
    kCache: GPUBuffer;
    vCache: GPUBuffer;
  }) {
    return this.bindAll([b.step, b.qkv, b.qNorm, b.kNorm, b.cos, b.sin, b.q, b.kCache, b.vCache]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    const { numHeads, numKvHeads } = this.heads;
    this.dispatch(pass, bindGroup, numHeads + 2 * numKvHeads, tokens);
  }
}

/** logits[n, :] = cap tanh(logits[n, :] / cap), in place (softcap.wgsl): Gemma 2's final logits. */
export class SoftcapKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly vocabSize: number,
    cap: number,
  ) {
    super(device, `softcap ${vocabSize}`, softcapCode, { V: vocabSize, CAP: cap });
  }
  bind(b: { step: GPUBuffer; logits: GPUBuffer }) {
    return this.bindAll([b.step, b.logits]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.vocabSize / 256), rows);
  }
}

/** The request's logit bias and penalties on the rows the LM head wrote (logit_rules.wgsl). */
export class LogitRulesKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly vocabSize: number,
  ) {
    super(device, `logit rules ${vocabSize}`, logitRulesCode, { V: vocabSize });
  }
  bind(b: {
    head: GPUBuffer;
    step: GPUBuffer;
    rules: GPUBuffer;
    counts: GPUBuffer;
    bias: GPUBuffer;
    tokens: GPUBuffer;
    logits: GPUBuffer;
  }) {
    return this.bindAll([b.head, b.step, b.rules, b.counts, b.bias, b.tokens, b.logits]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.vocabSize / 256), rows);
  }
}

/** A grammar's token masks on the rows the LM head wrote, after the logit rules (token_mask.wgsl). */
export class TokenMaskKernel extends ComputeKernel {
  constructor(
    device: GPUDevice,
    private readonly vocabSize: number,
  ) {
    super(device, `token mask ${vocabSize}`, tokenMaskCode, { V: vocabSize });
  }
  bind(b: { head: GPUBuffer; masks: GPUBuffer; logits: GPUBuffer }) {
    return this.bindAll([b.head, b.masks, b.logits]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, rows: number) {
    this.dispatch(pass, bindGroup, Math.ceil(this.vocabSize / 256), rows);
  }
}

/** The rules uniform: struct Rules { repetition, inverse_repetition, frequency, presence: f32, count_from: u32 }. */
export function writeLogitRules(
  device: GPUDevice,
  buffer: GPUBuffer,
  rules: { repetitionPenalty: number; frequencyPenalty: number; presencePenalty: number },
  countFrom: number,
): void {
  const data = new ArrayBuffer(32);
  const view = new DataView(data);
  view.setFloat32(0, rules.repetitionPenalty, true);
  view.setFloat32(4, Math.fround(1 / Math.fround(rules.repetitionPenalty)), true);
  view.setFloat32(8, rules.frequencyPenalty, true);
  view.setFloat32(12, rules.presencePenalty, true);
  view.setUint32(16, countFrom, true);
  device.queue.writeBuffer(buffer, 0, data);
}

const ARGMAX_SLICE = 4096; // logits per workgroup of the argmax's first stage

/** One stage of the argmax (argmax.wgsl): 0 reduces slices of each row, 1 reduces those results. */
class ArgmaxStage extends ComputeKernel {
  constructor(device: GPUDevice, vocabSize: number, stage: 0 | 1, workgroup: number, rank: number) {
    const name = `${rank > 0 ? `rank ${rank}` : 'argmax'} ${vocabSize}${stage === 0 ? ' slices' : ''}`;
    super(device, name, `${argmaxCode}\n${earlierRanksCode}`, {
      V: vocabSize,
      SLICE: ARGMAX_SLICE,
      STAGE: stage,
      WG: workgroup,
      RANK: rank,
    });
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, x: number, y: number) {
    this.dispatch(pass, bindGroup, x, y);
  }
}

/**
 * ids[n] = argmax(logits[n, :]), lowest index among ties, in two dispatches (argmax.wgsl; one
 * for a vocabulary of one slice, a fixture's: a draft step's dispatches are its cost); or,
 * `rank` r > 0, the same over every index but those ranks 0 .. r - 1 hold (ids[j * rows + n]),
 * into ids[r * rows + n] (sampling.ts: `runnerUp`).
 */
export class ArgmaxKernel {
  private readonly slices: number;
  private readonly stages: ArgmaxStage[];
  /** (maxRows, slices) partial results, made at load */
  private readonly best: GPUBuffer;

  /** `workgroup` threads a row: a power of two (the choice is exact, so any width gives the same ids). */
  constructor(device: GPUDevice, vocabSize: number, maxRows: number, workgroup = 256, rank = 0) {
    this.slices = Math.ceil(vocabSize / ARGMAX_SLICE);
    this.stages = [new ArgmaxStage(device, vocabSize, 0, workgroup, rank)];
    if (this.slices > 1) this.stages.push(new ArgmaxStage(device, vocabSize, 1, workgroup, rank));
    this.best = createStorage(device, maxRows * this.slices * 8, 'argmax slices');
  }
  get bytes(): number {
    return this.best.size;
  }
  bind(b: { step: GPUBuffer; logits: GPUBuffer; ids: GPUBuffer }): GPUBindGroup[] {
    return this.stages.map((stage) => stage.bindAll([b.step, b.logits, this.best, b.ids]));
  }
  encode(pass: GPUComputePassEncoder, bindGroups: GPUBindGroup[], tokens: number) {
    this.stages[0].encode(pass, bindGroups[0], this.slices, tokens);
    this.stages[1]?.encode(pass, bindGroups[1], tokens, 1);
  }
  destroy(): void {
    this.best.destroy();
  }
}

/**
 * ids[n] = a token drawn from softmax(logits[n, :] / T) within top-k / top-p (sample.wgsl); with
 * `rank` r > 0, a further draw without the tokens of ranks 0 .. r - 1 (ids[j * rows + n]), into
 * ids[r * rows + n].
 */
export class SampleKernel extends ComputeKernel {
  /** `workgroup` threads a row: a power of two (the reductions are trees). */
  constructor(device: GPUDevice, vocabSize: number, workgroup = 256, rank = 0) {
    super(
      device,
      `sample ${vocabSize}${rank > 0 ? ` rank ${rank}` : ''}`,
      `${sampleCode}\n${distributionCode}\n${earlierRanksCode}`,
      {
        V: vocabSize,
        WG: workgroup,
        RANK: rank,
      },
    );
  }
  bind(b: { step: GPUBuffer; params: GPUBuffer; logits: GPUBuffer; ids: GPUBuffer }) {
    return this.bindAll([b.step, b.params, b.logits, b.ids]);
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number) {
    this.dispatch(pass, bindGroup, tokens);
  }
}

/** The sampling uniform: struct Sampling { temperature: f32, top_p: f32, top_k: u32, seed: u32 }. */
export function writeSamplingParams(
  device: GPUDevice,
  buffer: GPUBuffer,
  params: { temperature: number; topP: number; topK: number },
  seed: number,
  scratch = new ArrayBuffer(16),
): void {
  setSamplingParams(new DataView(scratch), params, seed);
  device.queue.writeBuffer(buffer, 0, scratch);
}

/** Sets struct Sampling's 16 bytes at the start of `view`. */
export function setSamplingParams(
  view: DataView,
  params: { temperature: number; topP: number; topK: number },
  seed: number,
): void {
  view.setFloat32(0, params.temperature, true);
  view.setFloat32(4, params.topP, true);
  view.setUint32(8, params.topK, true);
  view.setUint32(12, seed >>> 0, true);
}
