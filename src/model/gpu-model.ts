/**
 * The forward pass on the GPU, behind the same interface as the reference model.
 *
 * Everything is made at load: weights (gpu-weights.ts), pipelines, activation buffers for up
 * to `maxBatch` tokens (gpu-activations.ts), bind groups, RoPE tables. A sequence
 * (gpu-sequence.ts) adds its KV cache and the bind groups that read it. A forward pass then
 * writes the step uniform, records the embedding, each layer's dispatches (gpu-layer.ts: 7 for
 * a Llama layer, 5 with its norms folded into the projections) and the head (into one command
 * buffer, or on a GPU a few submitted as they are recorded, so the GPU need not wait for the
 * whole step to be recorded), and reads back only what the caller asked for: a token id
 * (greedy, or sampled on the GPU), or logits. Longer inputs run in chunks of `maxBatch`;
 * kernels are batch-invariant, so chunking changes no bit of the result. A pass may also be
 * recorded ahead of its turn (`recordAhead`: a speculative step's next one), its uniforms and
 * tokens staged when its turn comes (ahead-inputs.ts), so that a step's passes go to the GPU
 * in one submission.
 *
 *   x = embed(tokens) * scale            (B, d)
 *   x = layer(x), for each layer
 *   logits = rmsnorm(x) W_head^T (+ b)    the head (gpu-lm-head.ts): soft-capped for Gemma 2,
 *                                         a request's rules and a grammar's masks applied
 *   ids = argmax(logits), or a draw
 *
 * EAGLE (model/eagle.ts): a target built with `features` also gathers the inputs of three
 * layers, [a; b; c] (B, 3d), projects them by the head's fc (EAGLE-3) or normalises its last
 * state as its LM head does (EAGLE-1), and copies the (B, d) rows to its sequence's features
 * at their positions; a head (config.hiddenInput) starts x from hidden rows copied in
 * (`forwardHidden`; EAGLE-1: x = fc([embedding; hidden]) + b; MTP: fc over the norms of both),
 * and keeps its last row of x (MTP: of x after its final norm) for its next step. The kernels
 * of both are in gpu-eagle-io.ts.
 */

import { GPUDeviceLostError, GPUOutOfMemoryError, InvalidLogitsError, UnsupportedArchitectureError } from '../errors';
import { createStorage } from '../gpu/buffers';
import { beginComputePass } from '../gpu/busy-timer';
import type { Gpu } from '../gpu/device';
import type { DispatchProfiler } from '../gpu/dispatch-profiler';
import { collectPipelines, compilePipelines } from '../gpu/pipelines';
import { linearShapeProblem, recurrentStateBytes, ringLayout } from '../kernels/gated-delta';
import { type KvFormat, kvValueBytes } from '../kernels/kv-cache';
import { ColumnsKernel, EmbedKernel } from '../kernels/ops';
import { type KernelProfile, kernelProfile } from '../kernels/profile';
import { StepUniform } from '../kernels/step';
import { attentionLayerCount, type ModelConfig } from '../loader/config';
import type { ModelWeights } from '../loader/weights';
import type { FeatureExport, HiddenInput } from '../ref/model';
import { ropeTables } from '../ref/rope';
import type { SamplingParams } from '../sampling/sampling';
import { maskRows, maskWords } from '../sampling/token-mask';
import { AheadInputs } from './ahead-inputs';
import { type Activations, createActivations } from './gpu-activations';
import { FeatureExporter, InputProjection } from './gpu-eagle-io';
import { GpuLayer, LayerKernels } from './gpu-layer';
import { GpuLmHead, type Want } from './gpu-lm-head';
import { GpuSequence, SEQUENCE_START_TOKENS, SequenceMemory } from './gpu-sequence';
import { checkLimits, destroyWeights, type GpuMatrix, type GpuWeights, uploadWeights } from './gpu-weights';
import type { CausalLM, Rows } from './types';

export interface GpuModelOptions {
  /** Kernel choices; by default chosen from the adapter (see kernels/profile.ts). Benchmarks pass others. */
  profile?: KernelProfile;
  /** Most tokens in one forward pass; longer inputs are split. */
  maxBatch?: number;
  /**
   * Longest sequence this model will be asked to hold (RoPE tables are built for it); by default
   * the model's window, at most 4,096. Past the window, the positions are ones it was not trained on.
   */
  maxContext?: number;
  /** Times every dispatch (benchmarks only: it splits each pass into one per dispatch). */
  profiler?: DispatchProfiler;
  /**
   * How KV caches store keys and values: 'f16' halves their memory and the bytes attention
   * reads. By default f16 for a model whose cache would take 16 KiB a token or more in f32
   * (every real checkpoint: Qwen2.5-0.5B's 24 KiB, Llama-3.2-1B's 64), f32 for smaller ones.
   */
  kvCache?: KvFormat;
  /** Export an EAGLE head's features (ref/model.ts: `FeatureExport`). */
  features?: FeatureExport;
  /**
   * Positions a sequence's Gated DeltaNet states are kept for (Qwen3.5): it can be cut back by
   * fewer at no cost. By default RECURRENT_WINDOW, what a speculative step's rejections need.
   */
  recurrentWindow?: number;
  /** An EAGLE head's target's uploaded embedding, which the head embeds with. */
  sharedEmbed?: GpuMatrix;
  /** An EAGLE-1 head's target's uploaded LM head, which gives the head's logits. */
  sharedHead?: GpuMatrix;
  /**
   * When the kernels' pipelines are compiled: all of them while the model loads (the default:
   * no step waits for a compiler), or each when first dispatched, for a model that runs only
   * a few of the step shapes its profile prepares for (a test, a tool that checks bits).
   */
  compile?: 'at-load' | 'on-first-use';
}

/**
 * A speculative step verifies up to 16 drafts after the newest token and may keep none of them
 * (gpu-step-buffers.ts: MAX_DEVICE_DRAFTS): the states of its 17 positions are kept.
 */
export const RECURRENT_WINDOW = 17;

/** Token masks are taken by passes run through forward, greedy and sample; a device step's passes take none. */
const UNMASKED_PASS =
  'a recorded pass takes no token masks: a grammar masks passes run through forward, greedy or sample';

/**
 * A token's f32 KV cache at or above which a model's caches default to f16: every real
 * checkpoint's (24 KiB and up), as web-llm keeps them, where f32 would double the bytes a long
 * context's attention reads (Llama-3.2-1B after 32k positions: 2.1 GB a step in f32); not the
 * fixtures' (3 KiB at most), whose golden logits the f32 reference gives.
 */
const F16_KV_FROM_BYTES = 16 << 10;

/** The KV format a model of `config` uses unless told otherwise. */
export function defaultKvFormat(config: ModelConfig): KvFormat {
  const perToken = 2 * attentionLayerCount(config) * config.numKvHeads * config.headDim * 4;
  return perToken >= F16_KV_FROM_BYTES ? 'f16' : 'f32';
}

/** A forward pass as `record` takes it: n tokens, the head over the last `headRows` rows. */
interface Pass {
  n: number;
  headRows: number;
  want: Want;
  tokens: ArrayLike<number>;
  fromGpu?: DeviceTokens;
  /** An EAGLE head's hidden inputs: n rows of d values, copied into x. */
  hidden?: DeviceRows;
  /** Or read from this buffer's rows at the step's start (a pass recorded ahead). */
  hiddenAtStart?: GPUBuffer;
  /** A target's features stored at the step's start by a kernel, not a copy (a pass recorded ahead). */
  featuresAtStart?: boolean;
  /** A tree pass: the first `chain` tokens are the chain, the rest leaves (kernels/step.ts). */
  tree?: TreeShape;
  /** A grammar's token masks for the head's rows (sampling/token-mask.ts). */
  masks?: Uint32Array<ArrayBuffer>;
  /** A pass recorded ahead: its inputs are copied at its start from this slot of the staged ones (ahead-inputs.ts). */
  slot?: number;
}

/** A pass recorded ahead of its turn (`GpuModel.recordAhead`). */
export interface AheadPass {
  /** Whether the sequence's buffers are still the ones it was recorded with. */
  current(): boolean;
  /**
   * Stages its tokens from the CPU and its step uniforms at the sequence's length, for the
   * caller to submit its step's commands (`GpuModel.submitStaged`) before staging any other
   * pass of its slot.
   */
  stage(tokens: ArrayLike<number>): void;
}

interface RecordedInput {
  tokens: ArrayLike<number>;
  fromGpu?: DeviceTokens & { count: number };
  /** An EAGLE head's hidden inputs: a row of d f32 values per token, from `offset` bytes. */
  hidden?: DeviceTokens;
  /** A tree pass: the first `chain` tokens are the newest and its chain, the rest leaves (kernels/step.ts). */
  tree?: TreeShape;
}

/** A tree pass's layout (kernels/step.ts): `chain` tokens, then leaves at the first `depths` depths, rank by rank. */
export interface TreeShape {
  chain: number;
  depths: number;
}

/** Token ids a pass reads from a GPU buffer (another pass's choices), at `offset` bytes. */
export interface DeviceTokens {
  buffer: GPUBuffer;
  offset: number;
}

/** What a pass reads back: ids (unless only logits were wanted), logits when asked. */
interface PassOutput {
  ids?: Uint32Array;
  logits?: Float32Array;
}

/**
 * Devices with forward passes submitted since the CPU last waited for a result: a pass
 * recorded now runs after those, so splitting it into several submissions gains nothing.
 * Shared by every model on a device (a draft and its target).
 */
const busyDevices = new WeakSet<GPUDevice>();

export class GpuModel implements CausalLM<GpuSequence> {
  readonly maxBatch: number;
  readonly maxContext: number;
  /** Positions whose Gated DeltaNet states a sequence keeps (0: no such layers): how far it can be cut back. */
  readonly recurrentWindow: number;
  readonly profile: KernelProfile;
  /** How its KV caches store keys and values. */
  readonly kvFormat: KvFormat;
  /** GPU memory of the activations, staging buffers and RoPE tables (besides weights and KV caches). */
  readonly scratchBytes: number;
  private readonly profiler: DispatchProfiler | undefined;
  private readonly step: StepUniform; // the main body's step: B tokens from the sequence's length
  private readonly headStep: StepUniform; // the LM head's step: B rows, or 1
  private readonly aheadInputs: AheadInputs; // the staged inputs of passes recorded ahead
  private readonly act: Activations;
  private readonly tokenIds: Uint32Array<ArrayBuffer>; // (B) staging for the token ids of a chunk
  /** The embedding lookup: a kernel and bind group for each part of the table's rows. */
  private readonly embed: { kernel: EmbedKernel; bind: GPUBindGroup }[];
  private readonly kernels: LayerKernels;
  private pending: Promise<unknown> = Promise.resolve();
  /** Its sequences' KV caches (and exported features): made, grown, copied, read and written. */
  private readonly memory: SequenceMemory;
  /** Submissions (queue.submit calls) of its forward passes so far; staged passes count in `submitStaged` (benchmarks count them a step). */
  submissions = 0;
  /** GPU-to-CPU readbacks so far (a speculative step on the device does one: tests count them). */
  readbacks = 0;
  /** Bytes those readbacks carried. */
  readbackBytes = 0;
  /**
   * Where a step's wall time goes on the CPU, so far (benchmarks): recording and submitting
   * passes, of that the submitting (writing or staging each pass's inputs, and queue.submit),
   * and waiting for the GPU to hand results back (ms).
   */
  readonly cpuTime = { recordMs: 0, submitMs: 0, waitMs: 0 };
  private waiting = 0;
  private waitStarted = 0;
  private readonly layers: GpuLayer[];
  /** The final norm, the LM head and the choice of a token (gpu-lm-head.ts). */
  private readonly head: GpuLmHead;
  /** One pair of tables for each of the config's RoPEs: (maxContext, hd/2) each. */
  private readonly ropes: { cos: GPUBuffer; sin: GPUBuffer; queryTable: number }[];
  /** A target's export of its EAGLE head's features (gpu-eagle-io.ts). */
  private readonly exported?: FeatureExporter;
  /** An EAGLE-1 or MTP head's projection of [embedding; hidden] into x. */
  private readonly inputFc?: InputProjection;
  /** An MTP head's state for its next draft: x after its final norm, written beside x. */
  private readonly ownStateNorm?: GPUBindGroup;
  /**
   * Rows moved at the step's start on the GPU, for passes recorded ahead: a target's features
   * stored at their positions, a head's hidden inputs read from theirs (columns.wgsl's AT_START).
   */
  private readonly rowsAtStart?: { kernel: ColumnsKernel; binds: WeakMap<GPUBuffer, GPUBindGroup> };

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly weights: GpuWeights,
    options: GpuModelOptions,
    /** Whether `destroy` frees the weights (not when they were uploaded for several models). */
    private readonly ownsWeights: boolean,
  ) {
    const { device } = gpu;
    const { hiddenSize: d, headDim: hd, vocabSize } = config;
    this.maxBatch = options.maxBatch ?? 64;
    const B = this.maxBatch;
    this.profile = options.profile ?? kernelProfile(gpu.info);
    this.profiler = options.profiler;
    this.kvFormat = options.kvCache ?? defaultKvFormat(config);
    // Past the model's window only when asked: positions it was not trained on (RoPE's angles go on).
    this.maxContext = options.maxContext ?? Math.min(4096, config.maxPositions);
    const linear = config.linearAttention;
    this.recurrentWindow = linear ? (options.recurrentWindow ?? RECURRENT_WINDOW) : 0;
    checkLimits(gpu, `The logits of ${B} tokens`, B * vocabSize * 4);

    this.tokenIds = new Uint32Array(B);
    this.step = new StepUniform(device);
    this.headStep = new StepUniform(device);
    this.aheadInputs = new AheadInputs(device, B);
    this.act = createActivations(device, config, B, options.features);
    this.ropes = config.ropes.map((rope, i) => {
      const tables = ropeTables(rope, hd, this.maxContext, config.rotaryDim);
      const cos = createStorage(device, tables.cos.byteLength, `rope ${i} cos`);
      const sin = createStorage(device, tables.sin.byteLength, `rope ${i} sin`);
      device.queue.writeBuffer(cos, 0, tables.cos);
      device.queue.writeBuffer(sin, 0, tables.sin);
      return { cos, sin, queryTable: tables.queryTable };
    });

    let firstRow = 0;
    const intoPair = config.hiddenInput === 'eagle1'; // the first d columns of 2d-wide rows
    this.embed = weights.embed.parts.map((table, i) => {
      const rows = { offset: firstRow, count: weights.embed.partRows[i] };
      firstRow += rows.count;
      const stride = intoPair ? 2 * d : undefined;
      const kernel = new EmbedKernel(device, d, weights.embed.dtype, config.embeddingScale, rows, stride);
      const x = intoPair ? this.act.normed : (this.act.embedded ?? this.act.x);
      return { kernel, bind: kernel.bind({ step: this.step.buffer, table, tokens: this.act.tokens, x }) };
    });
    this.kernels = new LayerKernels(
      gpu,
      config,
      this.profile,
      this.kvFormat,
      { maxTokens: B, maxContext: this.maxContext },
      this.recurrentWindow,
    );
    const step = this.step.buffer;
    const { act } = this;
    this.layers = weights.layers.map(
      (w, l) => new GpuLayer(this.kernels, config, l, w, act, step, weights.zeros, this.ropes[config.layers[l].rope]),
    );
    const eagleBuffers = { ...act, step };
    this.exported = FeatureExporter.create(gpu, this.kernels, d, options.features, eagleBuffers, weights);
    this.inputFc = InputProjection.create(device, this.kernels, d, weights, eagleBuffers);
    if (this.exported || config.hiddenInput) {
      const atStart = this.exported ? 'out' : 'x';
      this.rowsAtStart = {
        kernel: new ColumnsKernel(device, d, { stride: d, offset: 0, atStart }),
        binds: new WeakMap(),
      };
    }
    const uniforms = { step, headStep: this.headStep.buffer };
    this.head = new GpuLmHead(device, this.kernels, config, weights, this.profile, B, act, uniforms);
    this.scratchBytes =
      [...Object.values(this.act), ...this.ropes.flatMap((r) => [r.cos, r.sin]), this.aheadInputs.buffer].reduce(
        (sum, b) => sum + b.size,
        0,
      ) +
      this.head.bytes +
      this.kernels.bytes;
    if (act.ownState && weights.finalNorm) {
      this.ownStateNorm = this.kernels.norm.bind({ step, weight: weights.finalNorm, x: act.x, out: act.ownState });
    }
    const window = this.recurrentWindow;
    this.memory = new SequenceMemory(gpu, {
      numLayers: config.numLayers,
      kvRowBytes: this.kvRowBytes,
      featureWidth: this.featureWidth,
      bind: (l, kCache, vCache, rings) => this.layers[l].bindSequence(kCache, vCache, rings),
      ...(linear && {
        rings: config.layers.map((layer) => (layer.linear ? ringLayout(linear, window) : undefined)),
      }),
    });
  }

  /** Uploads `weights` and builds the model on them; `destroy` frees them. */
  static async create(gpu: Gpu, config: ModelConfig, weights: ModelWeights, options: GpuModelOptions = {}) {
    const shared = { embed: options.sharedEmbed, lmHead: options.sharedHead };
    return GpuModel.build(gpu, config, () => uploadWeights(gpu, config, weights, shared), options, true);
  }

  /**
   * A model on weights already uploaded (`uploadWeights`), which the caller keeps and frees:
   * benchmarks build variants of one model (other kernel profiles, a profiler) on one upload.
   */
  static async onWeights(gpu: Gpu, config: ModelConfig, weights: GpuWeights, options: GpuModelOptions = {}) {
    return GpuModel.build(gpu, config, () => weights, options, false);
  }

  private static async build(
    gpu: Gpu,
    config: ModelConfig,
    weights: () => GpuWeights,
    options: GpuModelOptions,
    ownsWeights: boolean,
  ) {
    const problem = config.linearAttention && linearShapeProblem(config.linearAttention, 256);
    if (problem) {
      throw new UnsupportedArchitectureError(
        `${config.architecture}: Gated DeltaNet layers with ${problem} do not run here`,
      );
    }
    const { device } = gpu;
    device.pushErrorScope('out-of-memory');
    const { value: model, pipelines } = collectPipelines(
      () => new GpuModel(gpu, config, weights(), options, ownsWeights),
    );
    const oom = await device.popErrorScope();
    if (oom) throw new GPUOutOfMemoryError(`The GPU ran out of memory loading the model: ${oom.message}`);
    if ((options.compile ?? 'at-load') === 'at-load') await compilePipelines(pipelines);
    return model;
  }

  /**
   * A sequence of up to `capacity` tokens. Its buffers hold `start` positions at first and
   * double as passes need more (`reserve`), so a short conversation holds little memory
   * whatever its capacity; the capacity is checked against the device's limits now.
   */
  createSequence(capacity: number, start = SEQUENCE_START_TOKENS): GpuSequence {
    if (capacity > this.maxContext) {
      throw new RangeError(`capacity ${capacity} exceeds this model's context of ${this.maxContext} tokens`);
    }
    checkLimits(this.gpu, `A KV cache of ${capacity} tokens`, capacity * this.kvRowBytes);
    const d = this.config.hiddenSize;
    const hidden = this.config.hiddenInput ? createStorage(this.gpu.device, d * 4, 'hidden') : undefined;
    return new GpuSequence(capacity, this, this.memory.storage(Math.max(1, Math.min(capacity, start))), hidden);
  }

  /** Bytes a sequence's Gated DeltaNet rings take, whatever its length (0: none). */
  get stateBytes(): number {
    return recurrentStateBytes(this.config, this.recurrentWindow);
  }

  /** Positions a sequence can be cut back by after a pass: its Gated DeltaNet layers' window, less the newest. */
  get maxCutBack(): number | undefined {
    return this.recurrentWindow > 0 ? this.recurrentWindow - 1 : undefined;
  }

  /** Bytes a position takes in one layer's keys (or values). */
  private get kvRowBytes(): number {
    return this.config.numKvHeads * this.config.headDim * kvValueBytes(this.kvFormat);
  }

  /** Values of exported features per position: the EAGLE head's width, or none. */
  get featureWidth(): number {
    return this.exported ? this.config.hiddenSize : 0;
  }

  /**
   * Makes room for `length` positions in `sequence` (SequenceMemory.reserve). An out-of-memory
   * here is the device's (uncaptured: the model must be reloaded); the passes grow their
   * sequences with `makeRoom` first, which recovers from one.
   */
  reserve(sequence: GpuSequence, length: number): void {
    this.memory.reserve(sequence, length);
  }

  /**
   * Makes room for `length` positions in `sequence` where the GPU may refuse the memory: frees
   * what `onMemoryShortage`'s reclaimers give up, else throws GPUOutOfMemoryError with the
   * sequence and the device as they were (SequenceMemory.makeRoom).
   */
  makeRoom(sequence: GpuSequence, length: number): Promise<void> {
    return this.memory.makeRoom(sequence, length);
  }

  /**
   * Has `reclaim` called when a sequence cannot grow (`makeRoom`), until the sequence fits or
   * none frees anything: it frees what GPU memory it can give up and says whether it freed any.
   * `first`: the first call for this shortage.
   */
  onMemoryShortage(reclaim: (first: boolean) => boolean): void {
    this.memory.onMemoryShortage(reclaim);
  }

  copyPrefix(from: GpuSequence, to: GpuSequence, length: number): Promise<void> {
    return this.memory.copyPrefix(from, to, length);
  }

  readPrefix(sequence: GpuSequence, length: number): Promise<Uint8Array<ArrayBuffer>> {
    return this.memory.readPrefix(sequence, length);
  }

  writePrefix(sequence: GpuSequence, tokens: ArrayLike<number>, rows: Uint8Array<ArrayBuffer>): Promise<void> {
    return this.memory.writePrefix(sequence, tokens, rows);
  }

  /**
   * Runs `fn` once this model's earlier passes are recorded, and keeps later ones waiting until
   * it is done: a speculative step on the device records passes of two models back to back.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.pending.then(fn);
    this.pending = result.catch(() => undefined);
    return result;
  }

  /** Where the head writes the ids it chooses: (rows) u32, row order. */
  get idsBuffer(): GPUBuffer {
    return this.act.ids;
  }

  /** Where the head writes its logits: (rows, vocab) f32, row order. */
  get logitsBuffer(): GPUBuffer {
    return this.act.logits;
  }

  /** The uniform of the distribution and seed a sampled pass draws with (struct Sampling): `setSampling` writes it. */
  get samplingBuffer(): GPUBuffer {
    return this.head.samplingParams;
  }

  /** The distribution and seed of the passes recorded to sample (`recordPass` with 'sample') from now on. */
  setSampling(sampling: SamplingParams, seed: number): void {
    this.head.setSampling(sampling, seed);
  }

  /**
   * Records passes that append `tokens` to the sequence's KV cache, with no head and nothing
   * read back or waited for (call inside `exclusive`).
   */
  appendTokens(sequence: GpuSequence, tokens: ArrayLike<number>): void {
    for (let begin = 0; begin < tokens.length; begin += this.maxBatch) {
      const chunk = Array.from({ length: Math.min(this.maxBatch, tokens.length - begin) }, (_, i) => tokens[begin + i]);
      this.record(sequence, { n: chunk.length, headRows: 0, want: 'ids', tokens: chunk });
    }
  }

  /**
   * Records a greedy pass without waiting (call inside `exclusive`): `tokens`, then `count`
   * ids copied on the GPU from `fromGpu`, appended to the sequence; the argmax of the last
   * `rows` rows goes to `idsBuffer`, and `after` appends copies to the same command buffer.
   */
  recordGreedy(
    sequence: GpuSequence,
    input: RecordedInput,
    rows: number,
    after?: (encoder: GPUCommandEncoder) => void,
  ): void {
    this.recordPass(sequence, input, rows, 'ids', after);
  }

  /**
   * As `recordGreedy`, the last `rows` rows' tokens chosen as `want` says: the argmax ('ids'),
   * a draw under `setSampling` ('sample', to `idsBuffer`), or none ('logits', in `logitsBuffer`).
   */
  recordPass(
    sequence: GpuSequence,
    input: RecordedInput,
    rows: number,
    want: Want,
    after?: (encoder: GPUCommandEncoder) => void,
  ): void {
    const n = input.tokens.length + (input.fromGpu?.count ?? 0);
    if (n === 0 || n > this.maxBatch || rows > n)
      throw new RangeError(`a recorded pass takes 1 to ${this.maxBatch} tokens`);
    if (sequence.length + n > sequence.capacity) throw new RangeError('the pass would overflow the sequence');
    if (sequence.takeMasks()) throw new Error(UNMASKED_PASS);
    if ((input.hidden !== undefined) !== (this.config.hiddenInput !== undefined)) {
      throw new Error('an EAGLE head runs with hidden inputs, and only a head does');
    }
    const pass = { n, headRows: rows, want, ...input };
    this.record(sequence, pass, after);
  }

  /** Logits of every token: (tokens.length, vocab). Reads back logits: for tests and sampling. */
  async forward(sequence: GpuSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return (await this.run(sequence, tokens, 'all', 'logits')).logits as Float32Array;
  }

  /** Logits of the last token only (prefill before sampling). */
  async forwardLast(sequence: GpuSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return (await this.run(sequence, tokens, 'last', 'logits')).logits as Float32Array;
  }

  /** The argmax after each token (rows 'all') or after the last one: only ids are read back. */
  async greedy(sequence: GpuSequence, tokens: ArrayLike<number>, rows: Rows = 'all'): Promise<Uint32Array> {
    return (await this.run(sequence, tokens, rows, 'ids')).ids as Uint32Array;
  }

  /**
   * An EAGLE head's pass (config.hiddenInput): `tokens` with their hidden inputs, rows of a
   * target sequence's features from a position, or the head's own last state (one token).
   * Returns the last row's logits over the draft vocabulary.
   */
  async forwardHidden(sequence: GpuSequence, tokens: ArrayLike<number>, hidden: HiddenInput<GpuSequence>) {
    return (await this.run(sequence, tokens, 'last', 'logits', { hidden })).logits as Float32Array;
  }

  /** As `forwardHidden`, only the last row's argmax (a draft id) read back. */
  async greedyHidden(sequence: GpuSequence, tokens: ArrayLike<number>, hidden: HiddenInput<GpuSequence>) {
    return ((await this.run(sequence, tokens, 'last', 'ids', { hidden })).ids as Uint32Array)[0];
  }

  /**
   * A tree verify pass (speculative/tree.ts): the first `chain` tokens are the newest token and
   * its chain of drafts, the rest leaves beside the chain's first `depths` drafts, rank by rank
   * (kernels/step.ts; one rank unless told). The argmax of each row.
   */
  async greedyTree(
    sequence: GpuSequence,
    tokens: ArrayLike<number>,
    chain: number,
    depths = tokens.length - chain,
  ): Promise<Uint32Array> {
    return (await this.treePass(sequence, tokens, { chain, depths }, 'ids')).ids as Uint32Array;
  }

  /** As `greedyTree`, the logits of every row read back (sampling). */
  async forwardTree(
    sequence: GpuSequence,
    tokens: ArrayLike<number>,
    chain: number,
    depths = tokens.length - chain,
  ): Promise<Float32Array> {
    return (await this.treePass(sequence, tokens, { chain, depths }, 'logits')).logits as Float32Array;
  }

  /** A tree pass is one chunk (its leaves see the chain; the logit rules count each leaf's path). */
  private treePass(sequence: GpuSequence, tokens: ArrayLike<number>, tree: TreeShape, want: 'ids' | 'logits') {
    if (tokens.length > this.maxBatch) throw new RangeError(`a tree pass takes at most ${this.maxBatch} tokens`);
    const leaves = tokens.length - tree.chain;
    if (tree.depths < 1 || tree.depths >= tree.chain || leaves % tree.depths !== 0) {
      throw new RangeError(
        `${leaves} leaves do not stand in ranks beside the first ${tree.depths} of ${tree.chain - 1} drafts`,
      );
    }
    return this.run(sequence, tokens, 'all', want, { tree });
  }

  /** Makes slot `to` hold slot `from`'s keys, values and features (a tree's accepted leaf, moved to its position). */
  moveSlot(sequence: GpuSequence, from: number, to: number): void {
    const { numKvHeads, headDim } = this.config;
    const bytes = numKvHeads * headDim * kvValueBytes(this.kvFormat);
    const rows = [...sequence.kCache, ...sequence.vCache].map((buffer) => ({ buffer, bytes }));
    const { features } = sequence.extra;
    if (features) rows.push({ buffer: features, bytes: this.featureWidth * 4 });
    // A buffer cannot be copied onto itself: through `slot`, in one command buffer.
    const encoder = this.gpu.device.createCommandEncoder();
    let at = 0;
    for (const row of rows) {
      encoder.copyBufferToBuffer(row.buffer, from * row.bytes, this.act.slot, at, row.bytes);
      encoder.copyBufferToBuffer(this.act.slot, at, row.buffer, to * row.bytes, row.bytes);
      at += Math.ceil(row.bytes / 4) * 4;
    }
    this.gpu.device.queue.submit([encoder.finish()]);
    // The logit rules' counts follow the tokens the sequence holds: slot `to` changes token.
    const rules = sequence.rules?.active ? sequence.rules : undefined;
    rules?.change(sequence.tokens, to, to + 1, -1);
    sequence.tokens[to] = sequence.tokens[from];
    rules?.change(sequence.tokens, to, to + 1, 1);
  }

  /** A token drawn on the GPU from the last token's distribution: only its id is read back. */
  async sample(sequence: GpuSequence, tokens: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    return (await this.sampleWithLogits(sequence, tokens, sampling, seed, false)).id;
  }

  /** As `greedy`, and the rows' logits read back beside the ids (for log-probabilities). */
  async greedyWithLogits(sequence: GpuSequence, tokens: ArrayLike<number>, rows: Rows = 'all') {
    const { ids, logits } = await this.run(sequence, tokens, rows, 'ids', { withLogits: true });
    return { ids: ids as Uint32Array, logits: logits as Float32Array };
  }

  /** As `sample`, and the last row's logits read back beside the id (for log-probabilities). */
  async sampleWithLogits(
    sequence: GpuSequence,
    tokens: ArrayLike<number>,
    sampling: SamplingParams,
    seed: number,
    withLogits = true,
  ): Promise<{ id: number; logits: Float32Array }> {
    const greedy = sampling.temperature <= 0;
    const before = () => this.head.setSampling(sampling, seed);
    const { ids, logits } = await this.run(sequence, tokens, 'last', greedy ? 'ids' : 'sample', {
      before: greedy ? undefined : before,
      withLogits,
    });
    return { id: (ids as Uint32Array)[0], logits: logits ?? new Float32Array(0) };
  }

  /**
   * Forward passes share the activation and readback buffers, so they run one after another:
   * callers may overlap them (several generations on one model), the GPU work never does.
   */
  private run(
    sequence: GpuSequence,
    tokens: ArrayLike<number>,
    rows: Rows,
    want: Want,
    options: { before?: () => void; withLogits?: boolean; hidden?: HiddenInput<GpuSequence>; tree?: TreeShape } = {},
  ): Promise<PassOutput> {
    const result = this.pending.then(() => {
      options.before?.(); // per-pass uniforms are written when the pass's turn comes
      const withLogits = want === 'logits' || options.withLogits === true;
      return this.runNow(sequence, tokens, rows, want, withLogits, options.hidden, options.tree);
    });
    this.pending = result.catch(() => undefined);
    return result;
  }

  private async runNow(
    sequence: GpuSequence,
    tokens: ArrayLike<number>,
    rows: Rows,
    want: Want,
    withLogits: boolean,
    hidden?: HiddenInput<GpuSequence>,
    tree?: TreeShape,
  ): Promise<PassOutput> {
    this.gpu.assertHealthy();
    if (sequence.model !== this) throw new Error('this sequence belongs to another model');
    if ((hidden !== undefined) !== (this.config.hiddenInput !== undefined)) {
      throw new Error('an EAGLE head runs with hidden inputs, and only a head does');
    }
    if (hidden === 'own' && tokens.length !== 1) throw new RangeError('the head feeds itself one token at a time');
    if (tokens.length === 0) throw new RangeError('forward needs at least one token');
    if (sequence.length + tokens.length > sequence.capacity) {
      throw new RangeError(
        `${sequence.length} + ${tokens.length} tokens exceed the sequence's capacity of ${sequence.capacity}`,
      );
    }
    const vocab = this.config.vocabSize;
    const outputRows = rows === 'all' ? tokens.length : 1;
    const words = maskWords(vocab);
    const masks = sequence.takeMasks();
    if (masks && masks.length !== outputRows * words) {
      throw new RangeError(`${masks.length} mask words for ${outputRows} rows of ${vocab} logits`);
    }
    if (masks && tree) throw new Error('a tree pass takes no token masks');
    const out: PassOutput = {
      ids: want === 'logits' ? undefined : new Uint32Array(outputRows),
      logits: withLogits ? new Float32Array(outputRows * vocab) : undefined,
    };
    for (let begin = 0; begin < tokens.length; begin += this.maxBatch) {
      const end = Math.min(tokens.length, begin + this.maxBatch);
      const last = end === tokens.length;
      const chunkRows = rows === 'all' ? end - begin : last ? 1 : 0;
      for (let i = begin; i < end; i++) this.tokenIds[i - begin] = tokens[i];
      const rowBytes = this.config.hiddenSize * 4;
      const from: DeviceRows | undefined =
        hidden === undefined
          ? undefined
          : hidden === 'own'
            ? { buffer: sequence.extra.hidden as GPUBuffer, offset: 0 }
            : { buffer: featuresOf(hidden.of, hidden.from + end - begin), offset: (hidden.from + begin) * rowBytes };
      const row = rows === 'all' ? begin : 0;
      const chunkMasks = masks?.subarray(row * words, (row + chunkRows) * words);
      const result = await this.chunk(sequence, end - begin, chunkRows, want, withLogits, from, tree, chunkMasks);
      if (result.ids) out.ids?.set(result.ids, row);
      if (result.logits) out.logits?.set(result.logits, row * vocab);
    }
    return out;
  }

  /**
   * The body for `n` tokens of tokenIds, then the head for its last `headRows` rows (0: none),
   * reading back their ids (argmax or draw) and, `withLogits`, their logits.
   */
  private async chunk(
    sequence: GpuSequence,
    n: number,
    headRows: number,
    want: Want,
    withLogits: boolean,
    hidden?: DeviceRows,
    tree?: TreeShape,
    masks?: Uint32Array<ArrayBuffer>,
  ): Promise<PassOutput> {
    const { act } = this;
    const vocab = this.config.vocabSize;
    const wantIds = want !== 'logits';
    const tokens = this.tokenIds.subarray(0, n);
    await this.makeRoom(sequence, sequence.length + n);
    const pass = { n, headRows, want, tokens, hidden, tree, masks: headRows > 0 ? masks : undefined };
    this.record(sequence, pass, (encoder) => {
      if (headRows === 0) return;
      if (withLogits) encoder.copyBufferToBuffer(act.logits, 0, act.logitsReadback, 0, headRows * vocab * 4);
      if (wantIds) encoder.copyBufferToBuffer(act.ids, 0, act.idsReadback, 0, headRows * 4);
    });
    if (headRows === 0) return {};
    const [ids, logits] = await Promise.all([
      wantIds ? this.readBack(act.idsReadback, headRows * 4) : undefined,
      withLogits ? this.readBack(act.logitsReadback, headRows * vocab * 4) : undefined,
    ]);
    // Masked logits read back say -Infinity, as the CPU masks them (the GPU wrote the lowest float).
    const rows = logits && checkLogits(new Float32Array(logits));
    return {
      ids: ids && checkIds(new Uint32Array(ids), vocab),
      logits: rows && pass.masks ? maskRows(rows, pass.masks, vocab) : rows,
    };
  }

  /**
   * Records and submits the body for `pass.n` tokens and the head for the last `headRows`
   * rows, without waiting for the GPU. The token ids are `tokens` (written from the CPU),
   * followed by `fromGpu` (copied on the GPU from another pass's chosen ids, which the CPU has
   * not seen: a draft step's). `after` appends to the pass's last command buffer.
   */
  private record(sequence: GpuSequence, pass: Pass, after?: (encoder: GPUCommandEncoder) => void): void {
    const started = performance.now();
    const { device } = this.gpu;
    if (pass.tree && this.recurrentWindow > 0) {
      throw new UnsupportedArchitectureError(`${this.config.architecture}: a Gated DeltaNet layer runs no tree pass`);
    }
    this.reserve(sequence, sequence.length + pass.n);
    const writing = performance.now();
    this.writeInputs(sequence, pass);
    this.cpuTime.submitMs += performance.now() - writing;
    // The GPU starts on the first layers while the rest are recorded, if it is idle: a pass
    // queued behind others (the drafts and the verify pass of a device step recorded as it
    // runs) is submitted whole, since each submission costs the CPU time the GPU no longer
    // waits for. (A step recorded ahead goes in one submission: recordAhead.)
    const parts = busyDevices.has(device) ? 1 : this.profile.commandBuffers;
    const emit = (buffer: GPUCommandBuffer) => {
      const submitting = performance.now();
      device.queue.submit([buffer]);
      this.submissions++;
      this.cpuTime.submitMs += performance.now() - submitting;
    };
    this.encode(sequence, pass, sequence.length, { parts, emit }, after);
    this.submitted(sequence, pass);
    this.cpuTime.recordMs += performance.now() - started;
  }

  /**
   * Records a pass as `recordPass` does, into `input.into` after what is recorded there (a
   * step's encoder, which the caller finishes), to be staged later (`AheadPass.stage`) when the
   * sequence's length (at most `maxStart` then) and the tokens from the CPU are known, and
   * submitted with the rest of its step (`submitStaged`): the next speculative step, recorded
   * while the GPU runs this one. Its inputs are staged in `input.slot` (ahead-inputs.ts): the
   * passes of a model that one submission holds take different slots. Each kernel reads the
   * length from the step uniform, copied from the slot at the pass's start; the grids are sized
   * for `maxStart`, and workgroups past the length return at once; a target's features are
   * stored, and a head's hidden inputs read (`hidden`: its own last state, or the rows of
   * `rowsOf` at its pairs' positions), at the step's start by a kernel. The head chooses as `want` says (the argmax, a
   * draw under the sampling uniform as it is at submission, or no id). Not for passes with
   * logit rules; void once the sequence's buffers grow (`current`).
   */
  recordAhead(
    sequence: GpuSequence,
    input: {
      cpuTokens: number;
      fromGpu?: DeviceTokens & { count: number };
      hidden?: 'own' | { rowsOf: GPUBuffer };
      /** A tree pass: its first `chain` tokens a chain, the rest leaves (kernels/step.ts). */
      tree?: TreeShape;
      slot: number;
      into: GPUCommandEncoder;
    },
    rows: number,
    maxStart: number,
    after?: (encoder: GPUCommandEncoder) => void,
    want: Want = 'ids',
  ): AheadPass {
    const started = performance.now();
    const n = input.cpuTokens + (input.fromGpu?.count ?? 0);
    if (n === 0 || n > this.maxBatch || rows > n || maxStart + n > sequence.capacity) {
      throw new RangeError(`a pass recorded ahead takes 1 to ${this.maxBatch} tokens within the sequence`);
    }
    if (sequence.takeMasks()) throw new Error(UNMASKED_PASS);
    if ((input.hidden !== undefined) !== (this.config.hiddenInput !== undefined)) {
      throw new Error('an EAGLE head runs with hidden inputs, and only a head does');
    }
    const own = input.hidden === 'own' ? sequence.extra.hidden : undefined;
    if (input.hidden === 'own' && (!own || n !== 1)) throw new RangeError('the head feeds itself one token at a time');
    this.aheadInputs.check(input.slot);
    this.reserve(sequence, maxStart + n);
    const binds = sequence.binds;
    const shape = {
      n,
      headRows: rows,
      want,
      fromGpu: input.fromGpu,
      ...(own ? { hidden: { buffer: own, offset: 0 } } : {}),
      ...(typeof input.hidden === 'object' ? { hiddenAtStart: input.hidden.rowsOf } : {}),
      featuresAtStart: sequence.extra.features !== undefined,
      slot: input.slot,
      ...(input.tree ? { tree: input.tree } : {}),
    };
    // Recorded for as many tokens from the CPU as it will be given (the ids from the GPU follow them).
    const placeholder = { ...shape, tokens: new Uint32Array(input.cpuTokens) };
    this.encode(sequence, placeholder, maxStart, input.into, after);
    this.cpuTime.recordMs += performance.now() - started;
    return {
      current: () => sequence.binds === binds,
      stage: (tokens: ArrayLike<number>) => {
        const start = performance.now();
        if (tokens.length !== input.cpuTokens || sequence.length > maxStart || sequence.binds !== binds) {
          throw new Error('a pass recorded ahead no longer fits its sequence');
        }
        if (sequence.rules?.active) throw new Error('logit rules count tokens the CPU has seen');
        const pass = { ...shape, tokens };
        const at = sequence.length;
        sequence.tokens.set(tokens, at);
        const { chain, depths } = input.tree ?? { chain: 0, depths: 0 };
        this.aheadInputs.write(input.slot, [n, at, chain, depths], [rows, at + n - rows], tokens);
        this.submitted(sequence, pass);
        this.countSubmitting(start);
      },
    };
  }

  /** Submits the command buffers of passes recorded ahead once they are staged (`AheadPass.stage`: a step's, this model's and others'), in one submission. */
  submitStaged(buffers: GPUCommandBuffer[]): void {
    const start = performance.now();
    this.gpu.device.queue.submit(buffers);
    this.submissions++;
    this.countSubmitting(start);
  }

  /** Counts the CPU's time since `start` as submitting, a part of recording (`cpuTime`). */
  private countSubmitting(start: number): void {
    const took = performance.now() - start;
    this.cpuTime.recordMs += took;
    this.cpuTime.submitMs += took;
  }

  /** Writes a pass's inputs from the CPU: its tokens from the CPU, and its step uniforms at the sequence's length. */
  private writeInputs(sequence: GpuSequence, pass: Pass): void {
    if (pass.fromGpu && sequence.rules?.active) throw new Error('logit rules count tokens the CPU has seen');
    const fromCpu = pass.tokens.length;
    if (fromCpu > 0) {
      for (let i = 0; i < fromCpu; i++) this.tokenIds[i] = pass.tokens[i];
      this.gpu.device.queue.writeBuffer(this.act.tokens, 0, this.tokenIds, 0, fromCpu);
      sequence.tokens.set(this.tokenIds.subarray(0, fromCpu), sequence.length);
    }
    this.step.write(pass.n, sequence.length, pass.tree?.chain ?? 0, pass.tree?.depths ?? 0);
    if (pass.headRows > 0) this.headStep.write(pass.headRows, sequence.length + pass.n - pass.headRows);
    if (pass.masks) this.gpu.device.queue.writeBuffer(this.act.masks, 0, pass.masks);
  }

  /** After a pass's submission: the sequence holds its tokens. */
  private submitted(sequence: GpuSequence, pass: Pass): void {
    busyDevices.add(this.gpu.device);
    // Counted after the pass: the rules kernel counted this step's tokens itself.
    if (sequence.rules?.active) sequence.rules.change(sequence.tokens, sequence.length, sequence.length + pass.n, 1);
    sequence.appended(pass.n);
  }

  /**
   * Records the pass's commands for a sequence of `start` positions (what the grids are sized
   * for) in `out.parts` command buffers, handing each to `out.emit` as it is finished; or into
   * the encoder `out` (a step's, which its caller finishes).
   */
  private encode(
    sequence: GpuSequence,
    pass: Pass,
    start: number,
    out: { parts: number; emit: (buffer: GPUCommandBuffer) => void } | GPUCommandEncoder,
    after?: (encoder: GPUCommandEncoder) => void,
  ): void {
    const { device } = this.gpu;
    const { act } = this;
    const { n, headRows } = pass;
    const fromCpu = pass.tokens.length;
    const emitted = 'emit' in out ? out : undefined;
    let encoder = emitted ? device.createCommandEncoder() : (out as GPUCommandEncoder);
    if (pass.slot !== undefined) {
      const to = { step: this.step.buffer, headStep: this.headStep.buffer, tokens: act.tokens };
      this.aheadInputs.encodeCopies(encoder, pass.slot, to, headRows > 0, fromCpu);
    }
    if (pass.fromGpu) {
      const { buffer, offset } = pass.fromGpu;
      encoder.copyBufferToBuffer(buffer, offset, act.tokens, fromCpu * 4, (n - fromCpu) * 4);
    }
    const d = this.config.hiddenSize;
    if (pass.hidden) encoder.copyBufferToBuffer(pass.hidden.buffer, pass.hidden.offset, act.x, 0, n * d * 4);
    let compute = this.beginPass(encoder);
    if (pass.hiddenAtStart) this.encodeRowsAtStart(compute, { x: pass.hiddenAtStart, out: act.x }, n);
    for (const { kernel, bind } of this.embed) kernel.encode(compute, bind, n);
    this.inputFc?.encode(compute, n);
    const layers = this.layers.length;
    const layersPerBuffer = Math.ceil(layers / (emitted?.parts ?? 1));
    for (let l = 0; l < layers; l++) {
      if (emitted && l > 0 && l % layersPerBuffer === 0) {
        compute.end();
        emitted.emit(encoder.finish());
        encoder = device.createCommandEncoder();
        compute = this.beginPass(encoder);
      }
      this.exported?.encodeBefore(compute, l, n);
      this.layers[l].encode(compute, sequence.binds[l], n, start, pass.tree !== undefined);
    }
    this.exported?.encodeAfter(compute, n);
    const { features, hidden } = sequence.extra;
    if (features && act.features && pass.featuresAtStart) {
      this.encodeRowsAtStart(compute, { x: act.features, out: features }, n);
    }
    // A head over every row of the pass reads them in x, in the same pass; else its rows are
    // copied out after the pass, into a pass of its own.
    const direct = headRows === n;
    const stateFromHead = this.stateFromHead(headRows, direct);
    if (this.ownStateNorm && !stateFromHead) this.kernels.norm.encode(compute, this.ownStateNorm, n);
    if (headRows > 0 && direct) this.encodeHead(compute, sequence, pass, true);
    compute.end();
    if (features && act.features && !pass.featuresAtStart) {
      encoder.copyBufferToBuffer(act.features, 0, features, start * d * 4, n * d * 4);
    }
    if (hidden) {
      const [state, row] = stateFromHead ? [act.normed, headRows - 1] : [act.ownState ?? act.x, n - 1];
      encoder.copyBufferToBuffer(state, row * d * 4, hidden, 0, d * 4);
    }
    if (headRows > 0 && !direct) {
      encoder.copyBufferToBuffer(act.x, (n - headRows) * d * 4, act.headIn, 0, headRows * d * 4);
      compute = this.beginPass(encoder);
      this.encodeHead(compute, sequence, pass, false);
      compute.end();
    }
    after?.(encoder);
    this.profiler?.resolve(encoder);
    emitted?.emit(encoder.finish());
  }

  /**
   * Whether an MTP head's own state (x after its final norm, for its next draft) is the row the
   * head's own final norm writes last in this pass: a head over all of the pass's rows
   * (`direct`) that runs that norm on its own (not folded into the LM head). The same kernel
   * over the same row, so the same bits: the state's norm then runs once, not twice.
   */
  private stateFromHead(headRows: number, direct: boolean): boolean {
    return this.ownStateNorm !== undefined && headRows > 0 && direct && this.head.separateNorm;
  }

  /** Records columns.wgsl's copy of n rows at the step's start (`rowsAtStart`), its bind group made once per sequence buffer. */
  private encodeRowsAtStart(compute: GPUComputePassEncoder, b: { x: GPUBuffer; out: GPUBuffer }, n: number): void {
    if (!this.rowsAtStart) throw new Error('this model moves no rows at the step start');
    const { kernel, binds } = this.rowsAtStart;
    const key = this.exported ? b.out : b.x; // the sequence's buffer: the other is this model's own
    const bind = binds.get(key) ?? kernel.bind({ step: this.step.buffer, ...b });
    binds.set(key, bind);
    kernel.encode(compute, bind, n);
  }

  /** The head over the pass's `headRows` rows, read in x (`direct`) or copied out to headIn. */
  private encodeHead(compute: GPUComputePassEncoder, sequence: GpuSequence, pass: Pass, direct: boolean): void {
    const rules = sequence.rules?.active ? sequence.rules : undefined;
    this.head.encode(compute, pass.headRows, direct, pass.want, rules, pass.masks !== undefined);
  }

  /**
   * Dispatches a forward step over `n` tokens records: in each decoder layer, and in all
   * (embedding, a head's input projection, layers, a target's feature export, the head of one
   * row choosing an id). Counted by recording into a pass that only counts (benchmarks, tests).
   */
  countDispatches(sequence: GpuSequence, n: number): { perLayer: number; total: number } {
    let count = 0;
    const counter = {
      setPipeline() {},
      setBindGroup() {},
      dispatchWorkgroups() {
        count++;
      },
    } as unknown as GPUComputePassEncoder;
    for (const { kernel, bind } of this.embed) kernel.encode(counter, bind, n);
    this.inputFc?.encode(counter, n);
    let inLayers = 0;
    for (let l = 0; l < this.layers.length; l++) {
      this.exported?.encodeBefore(counter, l, n);
      const before = count;
      this.layers[l].encode(counter, sequence.binds[l], n, sequence.length);
      inLayers += count - before;
    }
    const perLayer = inLayers / this.layers.length;
    this.exported?.encodeAfter(counter, n);
    if (this.ownStateNorm && !this.stateFromHead(1, n === 1)) this.kernels.norm.encode(counter, this.ownStateNorm, n);
    this.head.encode(counter, 1, true, 'ids', undefined, false);
    return { perLayer, total: count };
  }

  /** The first `bytes` of a readback buffer (MAP_READ), once the GPU has written them. */
  async readBack(readback: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.readbacks++;
    this.readbackBytes += bytes;
    // Time waited counts once however many readbacks wait together.
    if (this.waiting++ === 0) this.waitStarted = performance.now();
    try {
      await readback.mapAsync(0x0001, 0, bytes); // GPUMapMode.READ
      busyDevices.delete(this.gpu.device);
    } catch (cause) {
      // Mapping fails when the device is lost or destroyed under the pass: say so by name.
      this.gpu.assertHealthy();
      throw new GPUDeviceLostError(`The GPU was lost during a forward pass (${String(cause)}). Reload the model.`, {
        cause,
      });
    } finally {
      if (--this.waiting === 0) this.cpuTime.waitMs += performance.now() - this.waitStarted;
    }
    const data = readback.getMappedRange(0, bytes).slice(0);
    readback.unmap();
    this.gpu.assertHealthy();
    return data;
  }

  private beginPass(encoder: GPUCommandEncoder): GPUComputePassEncoder {
    return this.profiler ? this.profiler.pass(encoder) : beginComputePass(this.gpu, encoder);
  }

  /** Frees the activations, and the weights if this model uploaded them (sequences are freed with their own `release`). */
  destroy(): void {
    for (const buffer of Object.values(this.act)) buffer.destroy();
    this.exported?.destroy();
    this.step.buffer.destroy();
    this.headStep.buffer.destroy();
    this.head.destroy();
    this.kernels.destroy();
    for (const { cos, sin } of this.ropes) {
      cos.destroy();
      sin.destroy();
    }
    if (this.ownsWeights) destroyWeights(this.weights);
  }
}

/** Rows of d f32 values in a GPU buffer, from `offset` bytes: an EAGLE head's hidden inputs. */
interface DeviceRows {
  buffer: GPUBuffer;
  offset: number;
}

/** A target sequence's features buffer, checked to hold positions up to `end`. */
function featuresOf(sequence: GpuSequence, end: number): GPUBuffer {
  const { features } = sequence.extra;
  if (!features || end > sequence.length) throw new RangeError('the target has no features at these positions');
  return features;
}

/**
 * Logits that are not numbers (NaN from damaged weights, or an overflow) leave the argmax and the
 * draw without a token: they come back as an id past the vocabulary. Either is refused by name.
 */
function checkIds(ids: Uint32Array, vocabSize: number): Uint32Array {
  if (ids.some((id) => id >= vocabSize)) throw invalidLogits();
  return ids;
}

function checkLogits(logits: Float32Array): Float32Array {
  for (let i = 0; i < logits.length; i++) if (Number.isNaN(logits[i])) throw invalidLogits();
  return logits;
}

function invalidLogits(): InvalidLogitsError {
  return new InvalidLogitsError(
    'The model produced logits that are not numbers (NaN), so no token can be chosen: its weights may be damaged ' +
      '(load it again), or its activations overflow.',
  );
}
