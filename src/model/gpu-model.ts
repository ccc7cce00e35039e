/**
 * The Llama forward pass on the GPU, behind the same interface as the reference model.
 *
 * Everything is made at load: weights (gpu-weights.ts), pipelines, activation buffers for up
 * to `maxBatch` tokens, bind groups. A sequence adds its KV cache and the bind groups that
 * read it. A forward pass then writes the step uniform, records 7 dispatches per layer (into
 * one command buffer, or on a GPU a few submitted as they are recorded, so the GPU need not
 * wait for the whole step to be recorded), and reads back only what the caller asked for: a
 * token id (greedy, or sampled on the GPU), or logits. Longer inputs run in chunks of
 * `maxBatch`; kernels are batch-invariant, so chunking changes no bit of the result.
 *
 * Per layer (d = hidden size, B = tokens in the step):
 *   normed = rmsnorm(x)                                      (B, d)
 *   q, cache[k, v] = rope(normed W_qkv^T + b_qkv)            q: (B, nh, hd)   one dispatch
 *   attn   = attention(q, cache)                             (B, nh, hd)
 *   x     += attn W_o^T
 *   normed = rmsnorm(x)
 *   gated  = silu(normed W_gate^T) * (normed W_up^T)         (B, f)           one dispatch
 *   x     += gated W_down^T
 * (RoPE with the KV-cache write, and SwiGLU's gate, are epilogues of their projections.)
 * then logits = rmsnorm(x) W_head^T and, for greedy decoding, ids = argmax(logits).
 */

import { GPUOutOfMemoryError } from '../errors';
import { createStorage, createUniform } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { DispatchProfiler } from '../gpu/dispatch-profiler';
import type { LinearOutput } from '../kernels/linear';
import { LinearLayer } from '../kernels/linear-layer';
import {
  ArgmaxKernel,
  AttentionKernel,
  EmbedKernel,
  RmsNormKernel,
  SampleKernel,
  writeSamplingParams,
} from '../kernels/ops';
import { type KernelProfile, kernelProfile } from '../kernels/profile';
import { StepUniform } from '../kernels/step';
import type { ModelWeights } from '../loader/weights';
import { ropeTables } from '../ref/ops';
import type { SamplingParams } from '../sampling/sampling';
import { type ModelConfig, ropeInverseFrequencies } from './config';
import { checkLimits, destroyWeights, type GpuMatrix, type GpuWeights, uploadWeights } from './gpu-weights';
import type { CausalLM, Rows, Sequence } from './types';

export interface GpuModelOptions {
  /** Kernel choices; by default chosen from the adapter (see kernels/profile.ts). Benchmarks pass others. */
  profile?: KernelProfile;
  /** Most tokens in one forward pass; longer inputs are split. */
  maxBatch?: number;
  /** Longest sequence this model will be asked to hold (RoPE tables are built for it). */
  maxContext?: number;
  /** Times every dispatch (benchmarks only: it splits each pass into one per dispatch). */
  profiler?: DispatchProfiler;
}

interface Activations {
  tokens: GPUBuffer; // (B) u32
  x: GPUBuffer; // (B, d) the residual stream
  normed: GPUBuffer; // (B, d)
  q: GPUBuffer; // (B, nh hd)
  attn: GPUBuffer; // (B, nh hd)
  gated: GPUBuffer; // (B, f)
  headIn: GPUBuffer; // (B, d) the rows the LM head reads
  logits: GPUBuffer; // (B, vocab)
  ids: GPUBuffer; // (B) u32
  idsReadback: GPUBuffer; // (B) u32, MAP_READ
  logitsReadback: GPUBuffer; // (B, vocab), MAP_READ
}

/**
 * A linear layer's bind groups, one per pipeline of its LinearLayer: the model's, or for the
 * q|k|v projection a sequence's (its epilogue writes that sequence's KV cache).
 */
type LinearBinds = GPUBindGroup[];

/** A layer's pipelines with the model's bind groups. */
interface BoundLinear {
  layer: LinearLayer;
  binds: LinearBinds;
}

/** What a forward pass reads back: the logits, the argmax ids, or sampled ids. */
type Want = 'logits' | 'ids' | 'sample';

export class GpuSequence implements Sequence {
  length = 0;
  constructor(
    readonly capacity: number,
    readonly model: GpuModel,
    readonly kCache: GPUBuffer[], // per layer: (capacity, nkv, hd)
    readonly vCache: GPUBuffer[],
    readonly qkvBinds: LinearBinds[],
    readonly attentionBinds: GPUBindGroup[],
  ) {}

  /** GPU memory its KV cache takes: keys and values, every layer, `capacity` tokens, f32. */
  get bytes(): number {
    return [...this.kCache, ...this.vCache].reduce((sum, buffer) => sum + buffer.size, 0);
  }

  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`truncate(${length}) on a sequence of ${this.length}`);
    this.length = length;
  }

  /** Frees the KV cache. */
  release(): void {
    for (const buffer of [...this.kCache, ...this.vCache]) buffer.destroy();
  }
}

export class GpuModel implements CausalLM<GpuSequence> {
  readonly maxBatch: number;
  readonly maxContext: number;
  readonly profile: KernelProfile;
  /** GPU memory of the activations, staging buffers and RoPE tables (besides weights and KV caches). */
  readonly scratchBytes: number;
  private readonly profiler: DispatchProfiler | undefined;
  private readonly step: StepUniform; // the main body's step: B tokens from the sequence's length
  private readonly headStep: StepUniform; // the LM head's step: B rows, or 1
  private readonly act: Activations;
  private readonly tokenIds: Uint32Array<ArrayBuffer>; // (B) staging for the token ids of a chunk
  private readonly embed: EmbedKernel;
  private readonly embedBind: GPUBindGroup;
  private readonly norm: RmsNormKernel;
  private readonly attention: AttentionKernel;
  private readonly argmax: ArgmaxKernel;
  private readonly sampler: SampleKernel;
  private readonly samplingParams: GPUBuffer; // struct Sampling, written per sampled step
  private readonly samplingScratch = new ArrayBuffer(16);
  private pending: Promise<unknown> = Promise.resolve();
  private readonly layers: {
    inputNorm: GPUBindGroup;
    postNorm: GPUBindGroup;
    qkv: LinearLayer; // bound per sequence
    o: BoundLinear;
    gateUp: BoundLinear;
    down: BoundLinear;
  }[];
  private readonly finalNormBind: GPUBindGroup;
  private readonly head: BoundLinear;
  private readonly argmaxBind: GPUBindGroup[];
  private readonly sampleBind: GPUBindGroup;
  private readonly cos: GPUBuffer;
  private readonly sin: GPUBuffer;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly weights: GpuWeights,
    options: GpuModelOptions,
    /** Whether `destroy` frees the weights (not when they were uploaded for several models). */
    private readonly ownsWeights: boolean,
  ) {
    const { device } = gpu;
    const { hiddenSize: d, intermediateSize: f, numHeads: nh, numKvHeads: nkv, headDim: hd, vocabSize } = config;
    this.maxBatch = options.maxBatch ?? 64;
    const B = this.maxBatch;
    this.profile = options.profile ?? kernelProfile(gpu.info);
    this.profiler = options.profiler;
    this.maxContext = Math.min(options.maxContext ?? 4096, config.maxPositions);
    checkLimits(gpu, `The logits of ${B} tokens`, B * vocabSize * 4);

    this.tokenIds = new Uint32Array(B);
    this.step = new StepUniform(device);
    this.headStep = new StepUniform(device);
    const f32 = (count: number, label: string) => createStorage(device, count * 4, label);
    const readback = (count: number, label: string) =>
      device.createBuffer({ label, size: count * 4, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
    this.act = {
      tokens: f32(B, 'tokens'),
      x: f32(B * d, 'x'),
      normed: f32(B * d, 'normed'),
      q: f32(B * nh * hd, 'q'),
      attn: f32(B * nh * hd, 'attn'),
      gated: f32(B * f, 'gated'),
      headIn: f32(B * d, 'head_in'),
      logits: f32(B * vocabSize, 'logits'),
      ids: f32(B, 'ids'),
      idsReadback: readback(B, 'ids readback'),
      logitsReadback: readback(B * vocabSize, 'logits readback'),
    };
    const tables = ropeTables(ropeInverseFrequencies(config), this.maxContext);
    this.cos = createStorage(device, tables.cos.byteLength, 'rope cos');
    this.sin = createStorage(device, tables.sin.byteLength, 'rope sin');
    device.queue.writeBuffer(this.cos, 0, tables.cos);
    device.queue.writeBuffer(this.sin, 0, tables.sin);

    const heads = { numHeads: nh, numKvHeads: nkv, headDim: hd };
    this.embed = new EmbedKernel(device, d, weights.embed.dtype);
    this.norm = new RmsNormKernel(device, d, config.rmsNormEps, this.profile.rowWorkgroup);
    this.attention = new AttentionKernel(device, heads, this.profile.serialAttention);
    this.argmax = new ArgmaxKernel(device, vocabSize, B, this.profile.rowWorkgroup);
    this.sampler = new SampleKernel(device, vocabSize, this.profile.rowWorkgroup);
    this.samplingParams = createUniform(device, 16, 'sampling');
    this.scratchBytes =
      [...Object.values(this.act), this.cos, this.sin].reduce((sum, b) => sum + b.size, 0) + this.argmax.bytes;

    const step = this.step.buffer;
    const { act } = this;
    this.embedBind = this.embed.bind({ step, table: weights.embed.buffer, tokens: act.tokens, x: act.x });
    this.layers = weights.layers.map((w) => ({
      inputNorm: this.norm.bind({ step, weight: w.inputNorm, x: act.x, out: act.normed }),
      qkv: this.linearLayer(w.qkv, { kind: 'rope', heads }),
      o: this.linear(w.o, act.attn, act.x, { kind: 'accumulate' }),
      postNorm: this.norm.bind({ step, weight: w.postNorm, x: act.x, out: act.normed }),
      gateUp: this.linear(w.gateUp, act.normed, act.gated, { kind: 'silu-gate' }),
      down: this.linear(w.down, act.gated, act.x, { kind: 'accumulate' }),
    }));
    const headStep = this.headStep.buffer;
    this.finalNormBind = this.norm.bind({ step: headStep, weight: weights.finalNorm, x: act.headIn, out: act.normed });
    this.head = this.linear(weights.lmHead, act.normed, act.logits, { kind: 'store' }, headStep);
    this.argmaxBind = this.argmax.bind({ step: headStep, logits: act.logits, ids: act.ids });
    this.sampleBind = this.sampler.bind({
      step: headStep,
      params: this.samplingParams,
      logits: act.logits,
      ids: act.ids,
    });
  }

  /** Uploads `weights` and builds the model on them; `destroy` frees them. */
  static async create(gpu: Gpu, config: ModelConfig, weights: ModelWeights, options: GpuModelOptions = {}) {
    return GpuModel.build(gpu, config, () => uploadWeights(gpu, config, weights), options, true);
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
    const { device } = gpu;
    device.pushErrorScope('out-of-memory');
    const model = new GpuModel(gpu, config, weights(), options, ownsWeights);
    const oom = await device.popErrorScope();
    if (oom) throw new GPUOutOfMemoryError(`The GPU ran out of memory loading the model: ${oom.message}`);
    return model;
  }

  /** The pipelines of the layer with weights `m` (kernels/linear-layer.ts). */
  private linearLayer(m: GpuMatrix, output: LinearOutput): LinearLayer {
    const shape = { rows: m.rows, k: m.cols, dtype: m.dtype };
    return new LinearLayer(this.gpu.device, shape, output, this.profile, this.gpu.subgroupShuffle);
  }

  /** The layer with weights `m` (and no bias) from x to y, bound to the main step or `step`. */
  private linear(m: GpuMatrix, x: GPUBuffer, y: GPUBuffer, output: LinearOutput, step = this.step.buffer) {
    const layer = this.linearLayer(m, output);
    return { layer, binds: layer.bind({ step, weight: m.buffer, bias: this.weights.zeros, x, y }) };
  }

  createSequence(capacity: number): GpuSequence {
    if (capacity > this.maxContext) {
      throw new RangeError(`capacity ${capacity} exceeds this model's context of ${this.maxContext} tokens`);
    }
    const { device } = this.gpu;
    const { numLayers, numKvHeads, headDim } = this.config;
    const bytes = capacity * numKvHeads * headDim * 4;
    checkLimits(this.gpu, `A KV cache of ${capacity} tokens`, bytes);
    // An out-of-memory here is reported by the device's uncaptured-error handler, and the
    // first forward pass on this sequence raises it as GPUOutOfMemoryError.
    const kCache = Array.from({ length: numLayers }, (_, l) => createStorage(device, bytes, `k cache ${l}`));
    const vCache = Array.from({ length: numLayers }, (_, l) => createStorage(device, bytes, `v cache ${l}`));
    const step = this.step.buffer;
    const { act } = this;
    const qkvBinds = kCache.map((k, l) =>
      this.layers[l].qkv.bind({
        step,
        weight: this.weights.layers[l].qkv.buffer,
        bias: this.weights.layers[l].qkvBias,
        x: act.normed,
        y: act.q,
        rope: { cos: this.cos, sin: this.sin, kCache: k, vCache: vCache[l] },
      }),
    );
    const attentionBinds = kCache.map((k, l) =>
      this.attention.bind({ step, q: act.q, kCache: k, vCache: vCache[l], out: act.attn }),
    );
    return new GpuSequence(capacity, this, kCache, vCache, qkvBinds, attentionBinds);
  }

  /** Copies the first `length` positions of `from`'s KV cache into `to`, on the GPU queue. */
  copyPrefix(from: GpuSequence, to: GpuSequence, length: number): void {
    if (length > from.length || length > to.capacity) throw new RangeError(`copyPrefix(${length}) out of range`);
    const bytes = length * this.config.numKvHeads * this.config.headDim * 4;
    if (bytes > 0) {
      const encoder = this.gpu.device.createCommandEncoder();
      for (let l = 0; l < this.config.numLayers; l++) {
        encoder.copyBufferToBuffer(from.kCache[l], 0, to.kCache[l], 0, bytes);
        encoder.copyBufferToBuffer(from.vCache[l], 0, to.vCache[l], 0, bytes);
      }
      this.gpu.device.queue.submit([encoder.finish()]);
    }
    to.length = length;
  }

  /** Logits of every token: (tokens.length, vocab). Reads back logits: for tests and sampling. */
  async forward(sequence: GpuSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return this.run(sequence, tokens, 'all', 'logits') as Promise<Float32Array>;
  }

  /** Logits of the last token only (prefill before sampling). */
  async forwardLast(sequence: GpuSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return this.run(sequence, tokens, 'last', 'logits') as Promise<Float32Array>;
  }

  /** The argmax after each token (rows 'all') or after the last one: only ids are read back. */
  async greedy(sequence: GpuSequence, tokens: ArrayLike<number>, rows: Rows = 'all'): Promise<Uint32Array> {
    return this.run(sequence, tokens, rows, 'ids') as Promise<Uint32Array>;
  }

  /** A token drawn on the GPU from the last token's distribution: only its id is read back. */
  async sample(sequence: GpuSequence, tokens: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    if (sampling.temperature <= 0) return (await this.greedy(sequence, tokens, 'last'))[0];
    const write = () => writeSamplingParams(this.gpu.device, this.samplingParams, sampling, seed, this.samplingScratch);
    return ((await this.run(sequence, tokens, 'last', 'sample', write)) as Uint32Array)[0];
  }

  /**
   * Forward passes share the activation and readback buffers, so they run one after another:
   * callers may overlap them (several generations on one model), the GPU work never does.
   */
  private run(sequence: GpuSequence, tokens: ArrayLike<number>, rows: Rows, want: Want, before?: () => void) {
    const result = this.pending.then(() => {
      before?.(); // per-pass uniforms are written when the pass's turn comes
      return this.runNow(sequence, tokens, rows, want);
    });
    this.pending = result.catch(() => undefined);
    return result;
  }

  private async runNow(sequence: GpuSequence, tokens: ArrayLike<number>, rows: Rows, want: Want) {
    this.gpu.assertHealthy();
    if (sequence.model !== this) throw new Error('this sequence belongs to another model');
    if (tokens.length === 0) throw new RangeError('forward needs at least one token');
    if (sequence.length + tokens.length > sequence.capacity) {
      throw new RangeError(
        `${sequence.length} + ${tokens.length} tokens exceed the sequence's capacity of ${sequence.capacity}`,
      );
    }
    const vocab = this.config.vocabSize;
    const outputRows = rows === 'all' ? tokens.length : 1;
    const out = want === 'logits' ? new Float32Array(outputRows * vocab) : new Uint32Array(outputRows);
    for (let begin = 0; begin < tokens.length; begin += this.maxBatch) {
      const end = Math.min(tokens.length, begin + this.maxBatch);
      const last = end === tokens.length;
      const chunkRows = rows === 'all' ? end - begin : last ? 1 : 0;
      for (let i = begin; i < end; i++) this.tokenIds[i - begin] = tokens[i];
      const result = await this.chunk(sequence, end - begin, chunkRows, want);
      if (result) out.set(result as never, rows === 'all' ? begin * (want === 'logits' ? vocab : 1) : 0);
    }
    return out;
  }

  /** The body for `n` tokens of tokenIds, then the head for its last `headRows` rows (0: none). */
  private async chunk(sequence: GpuSequence, n: number, headRows: number, want: Want) {
    const { device } = this.gpu;
    const { act } = this;
    device.queue.writeBuffer(act.tokens, 0, this.tokenIds, 0, n);
    this.step.write(n, sequence.length);
    if (headRows > 0) this.headStep.write(headRows, sequence.length + n - headRows);

    let encoder = device.createCommandEncoder();
    let pass = this.beginPass(encoder);
    this.embed.encode(pass, this.embedBind, n);
    const layers = this.layers.length;
    const layersPerBuffer = Math.ceil(layers / this.profile.commandBuffers);
    for (let l = 0; l < layers; l++) {
      if (l > 0 && l % layersPerBuffer === 0) {
        // The GPU starts on these layers while the rest are recorded.
        pass.end();
        device.queue.submit([encoder.finish()]);
        encoder = device.createCommandEncoder();
        pass = this.beginPass(encoder);
      }
      const layer = this.layers[l];
      this.norm.encode(pass, layer.inputNorm, n);
      layer.qkv.encode(pass, sequence.qkvBinds[l], n);
      this.attention.encode(pass, sequence.attentionBinds[l], n);
      layer.o.layer.encode(pass, layer.o.binds, n);
      this.norm.encode(pass, layer.postNorm, n);
      layer.gateUp.layer.encode(pass, layer.gateUp.binds, n);
      layer.down.layer.encode(pass, layer.down.binds, n);
    }
    pass.end();
    if (headRows > 0) {
      const d = this.config.hiddenSize;
      encoder.copyBufferToBuffer(act.x, (n - headRows) * d * 4, act.headIn, 0, headRows * d * 4);
      pass = this.beginPass(encoder);
      this.norm.encode(pass, this.finalNormBind, headRows);
      this.head.layer.encode(pass, this.head.binds, headRows);
      if (want === 'ids') this.argmax.encode(pass, this.argmaxBind, headRows);
      if (want === 'sample') this.sampler.encode(pass, this.sampleBind, headRows);
      pass.end();
      const vocab = this.config.vocabSize;
      if (want === 'logits') encoder.copyBufferToBuffer(act.logits, 0, act.logitsReadback, 0, headRows * vocab * 4);
      else encoder.copyBufferToBuffer(act.ids, 0, act.idsReadback, 0, headRows * 4);
    }
    this.profiler?.resolve(encoder);
    device.queue.submit([encoder.finish()]);
    sequence.length += n;
    if (headRows === 0) return undefined;

    const readback = want === 'logits' ? act.logitsReadback : act.idsReadback;
    const bytes = headRows * 4 * (want === 'logits' ? this.config.vocabSize : 1);
    await readback.mapAsync(0x0001, 0, bytes); // GPUMapMode.READ
    const data = readback.getMappedRange(0, bytes).slice(0);
    readback.unmap();
    this.gpu.assertHealthy();
    return want === 'logits' ? new Float32Array(data) : new Uint32Array(data);
  }

  private beginPass(encoder: GPUCommandEncoder): GPUComputePassEncoder {
    return this.profiler ? this.profiler.pass(encoder) : encoder.beginComputePass();
  }

  /** Frees the activations, and the weights if this model uploaded them (sequences are freed with their own `release`). */
  destroy(): void {
    for (const buffer of Object.values(this.act)) buffer.destroy();
    this.step.buffer.destroy();
    this.headStep.buffer.destroy();
    this.samplingParams.destroy();
    this.argmax.destroy();
    this.cos.destroy();
    this.sin.destroy();
    if (this.ownsWeights) destroyWeights(this.weights);
  }
}
