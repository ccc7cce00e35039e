/**
 * One decoder layer on the GPU: its kernels' bind groups, made at load, and the dispatches of
 * a step. What a layer is depends on the config (loader/config.ts); per layer, B tokens:
 *
 *   normed = rmsnorm(x)                                       (B, d)
 *   q, cache[k, v] = rope(normed W_qkv^T + b_qkv)             one dispatch: the rope epilogue
 *     or, with q/k norms (Qwen3, Gemma 3: a head's; OLMo 2: a whole projection's):
 *   qkv = normed W_qkv^T + b_qkv;  q, cache[k, v] = rope(qknorm(qkv))     two dispatches
 *   attn   = attention(q, cache)                              window, scale, soft cap per layer
 *   x     += attn W_o^T + b_o          Gemma: x += rmsnorm(attn W_o^T)    (one or two dispatches)
 *   normed = rmsnorm(x)
 *   gated  = act(normed W_gate^T) * (normed W_up^T)           one dispatch: the gate epilogue
 *   x     += gated W_down^T + b_down    Gemma: x += rmsnorm(gated W_down^T)
 *
 * OLMo 2 norms no branch's input (q|k|v and gate|up read x) and each branch's output, as Gemma.
 * Phi-1/2 runs the branches side by side: one LayerNorm, which q|k|v and the MLP both read (its
 * output stays in `normed`, its own dispatch), o and down both added into x; its MLP has no gate,
 * its in-projection's rows are stored activated (the 'activate' output), so its layer is 6
 * dispatches. GPT-NeoX's MLP has a norm of its own, of the same x: it runs before attention's
 * add, into `mlpInput` (7 dispatches).
 * So a Llama layer is 7 dispatches, Qwen3's 8, OLMo 2's 8, Gemma 2's 9 and Gemma 3's 10. Where the profile
 * folds RMSNorm (profile.ts: the GPU profile), q|k|v and gate|up fold in the norm before them
 * (linear_norm.wgsl: they read x, and scale each sum by the token's inverse RMS), and a Llama
 * layer is 5 dispatches; a step that runs the prefill kernel runs norm_lanes.wgsl before each
 * (7; quantized layers on the GPU profile take tiles instead, 5). The
 * q|k|v step and attention read a sequence's KV cache: their bind groups are made with each
 * sequence.
 *
 * Qwen3.5's Gated DeltaNet layers (config.layers[l].linear) put this in attention's place:
 *   proj   = normed W_in^T                                    q|k|v, z, b, a: one dispatch
 *   mixed  = silu(conv(proj's q|k|v))                         the sequence's ring of rows
 *   out    = gated delta rule, rmsnorm(o) w silu(z)           the sequence's ring of states
 *   x     += out W_out^T
 * (kernels/gated-delta.ts), and its attention layers gate each head's output by sigmoid(normed
 * W_gate^T) before o_proj (two more dispatches).
 *
 * An EAGLE-3 head's layer (config.hiddenInput) starts from a hidden state in x and reads the
 * token's embedding beside it: normed = [rmsnorm(embedded) w_in; rmsnorm(x) w_hidden], (B, 2d),
 * two dispatches whose rows interleave, and q|k|v read 2d values a token. An EAGLE-1 head's
 * layer has no input norm: q|k|v read x itself (its fc's output: gpu-model.ts).
 */

import type { Gpu } from '../gpu/device';
import { type AttentionBinds, AttentionKernel, type HeadShape } from '../kernels/attention';
import { GatedDeltaKernel, ShortConvKernel } from '../kernels/gated-delta';
import type { KvFormat } from '../kernels/kv-cache';
import { LinearLayer } from '../kernels/linear-layer';
import { type LinearOutput, storageBuffers } from '../kernels/linear-shape';
import { NormKernel, QkNormRopeKernel, SigmoidGateKernel } from '../kernels/ops';
import type { KernelProfile } from '../kernels/profile';
import type { ModelConfig } from '../loader/config';
import type { GpuLayerWeights, GpuMatrix } from './gpu-weights';

/** The activations a layer reads and writes, (B, ...) each, shared by every layer. */
export interface LayerActivations {
  x: GPUBuffer; // (B, d) the residual stream
  normed: GPUBuffer; // (B, d), or (B, 2d) for an EAGLE head's attention input
  normScale: GPUBuffer; // (B): each token's inverse RMS, where a layer that folds its norm runs its prefill kernel
  embedded?: GPUBuffer; // (B, d): an EAGLE head's token embeddings
  ownState?: GPUBuffer; // (B, d): an MTP head's x after its final norm, the state it feeds itself
  qkv?: GPUBuffer; // (B, (nh + 2 nkv) hd): the projection's rows, with q/k norms
  q: GPUBuffer; // (B, nh, hd)
  attn: GPUBuffer; // (B, nh, hd)
  branch?: GPUBuffer; // (B, d): a branch's output before its norm (Gemma)
  mlpInput?: GPUBuffer; // (B, d): the MLP's own norm of x, beside attention's (GPT-NeoX's branches side by side)
  gated: GPUBuffer; // (B, f)
  /** Qwen3.5: a Gated DeltaNet layer's in-projection (B, q|k|v|z|b|a), its convolution's output (B, q|k|v), its output (B, heads x dv). */
  proj?: GPUBuffer;
  mixed?: GPUBuffer;
  linearOut?: GPUBuffer;
  /** Qwen3.5: the attention output gate's rows, (B, nh hd). */
  outputGate?: GPUBuffer;
}

/** A sequence's rings for a Gated DeltaNet layer: its last q|k|v rows and its last states (kernels/gated-delta.ts). */
export interface RecurrentRings {
  conv: GPUBuffer;
  states: GPUBuffer;
}

/** The kernels every layer of a model shares, built once. */
export class LayerKernels {
  /** The residual stream's norm: RMSNorm, or StableLM's LayerNorm. */
  readonly norm: NormKernel;
  /** x += rmsnorm(branch): the norm at the end of a branch (Gemma). */
  readonly normAdd?: NormKernel;
  readonly qkNormRope?: QkNormRopeKernel;
  /** An EAGLE head's two input norms in one dispatch, into the first and second d columns of (B, 2d) rows. */
  readonly hiddenInputNorms?: NormKernel;
  /** Qwen3.5's Gated DeltaNet kernels, and its attention output gate. */
  readonly shortConv?: ShortConvKernel;
  readonly gatedDelta?: GatedDeltaKernel;
  readonly sigmoidGate?: SigmoidGateKernel;
  private readonly attention = new Map<number, AttentionKernel>();

  constructor(
    private readonly gpu: Gpu,
    private readonly config: ModelConfig,
    readonly profile: KernelProfile,
    /** How the KV cache stores keys and values. */
    readonly kv: KvFormat,
    /** The most tokens of a step and the longest context: attention's scratch is sized by them. */
    private readonly limits: { maxTokens: number; maxContext: number },
    /** Positions a sequence's Gated DeltaNet states are kept for (a cut back by fewer costs nothing). */
    recurrentWindow = 0,
  ) {
    const { device } = gpu;
    const { hiddenSize: d, normEps: eps } = config;
    this.norm = new NormKernel(device, d, eps, profile.rowWorkgroup, { centred: config.norm === 'layer' });
    if (config.sandwichNorms) this.normAdd = new NormKernel(device, d, eps, profile.rowWorkgroup, { accumulate: true });
    if (config.qkNorm) {
      this.qkNormRope = new QkNormRopeKernel(device, this.heads, eps, profile.rowWorkgroup, kv, config.qkNorm);
    }
    if (config.linearAttention) {
      this.shortConv = new ShortConvKernel(device, config.linearAttention, recurrentWindow);
      this.gatedDelta = new GatedDeltaKernel(device, config.linearAttention, recurrentWindow, eps);
    }
    if (config.attentionOutputGate) {
      this.sigmoidGate = new SigmoidGateKernel(device, config.numHeads * config.headDim);
    }
    // EAGLE-3's two norms side by side before q|k|v, an MTP head's before its fc.
    if (config.hiddenInput === 'eagle3' || config.hiddenInput === 'mtp') {
      const into = { stride: 2 * d, offset: 0 };
      this.hiddenInputNorms = new NormKernel(device, d, eps, profile.rowWorkgroup, { into, pair: true });
    }
  }

  get heads(): HeadShape {
    const { numHeads, numKvHeads, headDim } = this.config;
    return { numHeads, numKvHeads, headDim };
  }

  /** The attention kernel for a window (0: none): layers with the same one share it. */
  attentionFor(window: number | null): AttentionKernel {
    const key = window ?? 0;
    let kernel = this.attention.get(key);
    if (!kernel) {
      const { attentionScale: scale, attentionSoftcap: softcap } = this.config;
      kernel = new AttentionKernel(
        this.gpu.device,
        this.heads,
        this.profile.serialAttention,
        { scale, softcap, window },
        this.kv,
        {
          ...this.limits,
          split: this.profile.attentionSplit,
          fine: this.profile.attentionFine,
          tiled: this.profile.tiledAttention,
          groupedFrom: this.profile.attentionGroupedFrom,
        },
      );
      this.attention.set(key, kernel);
    }
    return kernel;
  }

  /** Frees the attention kernels' scratch. */
  destroy(): void {
    for (const kernel of this.attention.values()) kernel.destroy();
  }

  /** GPU memory of the attention kernels' scratch (split segments). */
  get bytes(): number {
    return [...this.attention.values()].reduce((sum, kernel) => sum + kernel.bytes, 0);
  }

  /**
   * The pipelines of a linear layer with weights `m` (split as they are) and `output`; with
   * `normed`, one that reads an RMSNorm of its input, folded in where the profile does so and
   * the device binds enough buffers (see `LinearLayer.foldsNorm`); a LayerNorm keeps its own
   * dispatch.
   */
  linear(m: GpuMatrix, output: LinearOutput, normed = false): LinearLayer {
    const shape = { rows: m.rows, k: m.cols, dtype: m.dtype };
    const fuse =
      normed &&
      this.config.norm === 'rms' &&
      this.profile.fusedNorm &&
      m.partRows.length === 1 &&
      storageBuffers(output, true) <= this.gpu.device.limits.maxStorageBuffersPerShaderStage;
    const norm = fuse ? { eps: this.config.normEps } : undefined;
    return new LinearLayer(this.gpu.device, shape, output, this.profile, this.gpu.subgroupShuffle, m.partRows, norm);
  }
}

/** A layer's bind groups that read one sequence's KV cache, or (a Gated DeltaNet layer) its rings. */
export type SequenceBinds =
  | {
      /** The rope epilogue's bind groups (it writes the cache), or the qk-norm kernel's. */
      qkv: GPUBindGroup[][] | GPUBindGroup;
      attention: AttentionBinds;
    }
  | { conv: GPUBindGroup; delta: GPUBindGroup };

interface Bound {
  layer: LinearLayer;
  binds: GPUBindGroup[][];
}

/** A norm a linear layer may fold in: its input, its weight, and where its prefill steps keep each token's scale. */
interface Norm {
  x: GPUBuffer;
  weight: GPUBuffer;
  scale: GPUBuffer;
}

export class GpuLayer {
  /** The norm before attention, or an EAGLE-3 head's two (embedding, then hidden state); none in an EAGLE-1 head. */
  private readonly inputNorm?: GPUBindGroup;
  /** Whether `inputNorm` is an EAGLE head's pair of norms ([norm(embedding); norm(hidden)]), its own dispatch. */
  private readonly pairedNorm: boolean = false;
  /** The norm before the MLP; none in OLMo 2 or Phi-1/2. */
  private readonly mlpNorm?: GPUBindGroup;
  /** The MLP's norm runs before attention (branches side by side, each with a norm: GPT-NeoX). */
  private readonly mlpFirst: boolean;
  private readonly qkv: LinearLayer;
  /** With q/k norms: the projection's own bind groups (it stores to act.qkv). */
  private readonly qkvStore?: GPUBindGroup[][];
  private readonly o: Bound;
  private readonly attentionOutNorm?: GPUBindGroup;
  private readonly gateUp: Bound;
  private readonly down: Bound;
  private readonly mlpOutNorm?: GPUBindGroup;
  private readonly attention: AttentionKernel;
  /** Qwen3.5's attention output gate: its projection (into act.outputGate) and the multiply. */
  private readonly outputGate?: { gate: Bound; multiply: GPUBindGroup };
  /** A Gated DeltaNet layer: q|k|v (act.qkvInput's norm, W_in) stored into act.proj, its own bind groups. */
  private readonly linearIn?: GPUBindGroup[][];
  /** What the q|k|v projection normalises itself where its norm is fused: x and the norm's weight. */
  private readonly inputNormOf?: Norm;
  private readonly qkvInput: GPUBuffer;

  constructor(
    private readonly kernels: LayerKernels,
    config: ModelConfig,
    readonly index: number,
    private readonly w: GpuLayerWeights,
    private readonly act: LayerActivations,
    private readonly step: GPUBuffer,
    private readonly zeros: GPUBuffer,
    /** The layer's RoPE tables, (positions, hd/2) each, and the offset of the queries' own (0: none). */
    private readonly rope: { cos: GPUBuffer; sin: GPUBuffer; queryTable: number },
  ) {
    const { norm } = kernels;
    const sandwich = config.sandwichNorms;
    /** A linear layer reading x, or (`norm`) a norm of it: fused where the profile allows. */
    const bound = (m: GpuMatrix, output: LinearOutput, x: GPUBuffer, y: GPUBuffer, bias?: GPUBuffer, norm?: Norm) => {
      const layer = kernels.linear(m, output, norm !== undefined);
      return { layer, binds: layer.bind({ step, weight: m.parts, bias: bias ?? zeros, x, y, norm }) };
    };
    const { hiddenInputNorms: pair } = kernels;
    // An EAGLE-3 head's attention reads two norms side by side, which stay dispatches of their own.
    const { inputNorm } = w;
    // Branches side by side read the norm's output twice, as do q|k|v and the output gate
    // (Qwen3.5): it is written by its own dispatch.
    const readTwice = config.parallelBranches || w.outputGate !== undefined;
    /** A norm of x with `weight`, for a layer to fold in. */
    const normOfX = (weight: GPUBuffer): Norm => ({ x: act.x, weight, scale: act.normScale });
    this.inputNormOf = inputNorm && !(pair && w.hiddenNorm) && !readTwice ? normOfX(inputNorm) : undefined;
    if (inputNorm && pair && w.hiddenNorm && act.embedded) {
      const [weight, weight_b] = [inputNorm, w.hiddenNorm];
      this.inputNorm = pair.bind({ step, weight, x: act.embedded, out: act.normed, weight_b, x_b: act.x });
      this.pairedNorm = true;
    } else if (inputNorm) this.inputNorm = norm.bind({ step, weight: inputNorm, x: act.x, out: act.normed });
    /** What q|k|v read: the norm's output, or (no input norm) x itself. */
    this.qkvInput = inputNorm ? act.normed : act.x;
    /** Side by side with a norm of its own (GPT-NeoX), the MLP's input is kept apart from attention's. */
    this.mlpFirst = config.parallelBranches && act.mlpInput !== undefined;
    const mlpInput = this.mlpFirst ? (act.mlpInput as GPUBuffer) : act.normed;
    if (w.mlpNorm) this.mlpNorm = norm.bind({ step, weight: w.mlpNorm, x: act.x, out: mlpInput });
    const linear = config.layers[index].linear === true;
    if (linear) {
      if (!act.proj || !act.linearOut) throw new Error(`layer ${index}: Gated DeltaNet buffers missing`);
      const { layer, binds } = bound(w.qkv, { kind: 'store' }, this.qkvInput, act.proj, undefined, this.inputNormOf);
      this.qkv = layer;
      this.linearIn = binds;
    } else if (config.qkNorm && act.qkv) {
      // config.ts gives queries a scale by position only where there are no q/k norms (Ministral 3).
      if (rope.queryTable) throw new Error(`layer ${index}: queries scaled by position with q/k norms`);
      const { layer, binds } = bound(w.qkv, { kind: 'store' }, this.qkvInput, act.qkv, w.qkvBias, this.inputNormOf);
      this.qkv = layer;
      this.qkvStore = binds;
    } else {
      const { queryTable } = this.rope;
      const rope = { kind: 'rope', heads: kernels.heads, kv: kernels.kv, queryTable } as const;
      this.qkv = kernels.linear(w.qkv, rope, this.inputNormOf !== undefined);
    }
    this.attention = kernels.attentionFor(config.layers[index].window);
    if (w.outputGate && act.outputGate && kernels.sigmoidGate) {
      const gate = bound(w.outputGate, { kind: 'store' }, this.qkvInput, act.outputGate);
      const multiply = kernels.sigmoidGate.bind({ step, gate: act.outputGate, attn: act.attn });
      this.outputGate = { gate, multiply };
    }
    const branch = act.branch ?? act.x;
    const mixerOut = linear ? (act.linearOut as GPUBuffer) : act.attn;
    this.o = bound(w.o, { kind: sandwich ? 'store' : 'accumulate' }, mixerOut, branch, w.oBias);
    const { activation } = config;
    const mlpIn: LinearOutput = config.gatedMlp ? { kind: 'gate', activation } : { kind: 'activate', activation };
    this.gateUp = this.mlpFirst
      ? bound(w.gateUp, mlpIn, mlpInput, act.gated, w.gateUpBias)
      : w.mlpNorm
        ? bound(w.gateUp, mlpIn, act.normed, act.gated, w.gateUpBias, normOfX(w.mlpNorm))
        : bound(w.gateUp, mlpIn, config.parallelBranches ? act.normed : act.x, act.gated, w.gateUpBias);
    this.down = bound(w.down, { kind: sandwich ? 'store' : 'accumulate' }, act.gated, branch, w.downBias);
    if (sandwich && kernels.normAdd && w.attentionOutNorm && w.mlpOutNorm) {
      this.attentionOutNorm = kernels.normAdd.bind({ step, weight: w.attentionOutNorm, x: branch, out: act.x });
      this.mlpOutNorm = kernels.normAdd.bind({ step, weight: w.mlpOutNorm, x: branch, out: act.x });
    }
  }

  /** The bind groups that read and write a sequence's KV cache for this layer, or its rings (a Gated DeltaNet layer). */
  bindSequence(kCache: GPUBuffer, vCache: GPUBuffer, rings?: RecurrentRings): SequenceBinds {
    const { step, act, w, rope } = this;
    const { shortConv, gatedDelta } = this.kernels;
    if (this.linearIn) {
      if (!rings || !shortConv || !gatedDelta || !w.linear || !act.proj || !act.mixed || !act.linearOut) {
        throw new Error(`layer ${this.index}: a Gated DeltaNet layer's sequence has no rings`);
      }
      return {
        conv: shortConv.bind({ step, weight: w.linear.conv, x: act.proj, out: act.mixed, ring: rings.conv }),
        delta: gatedDelta.bind({
          step,
          mixed: act.mixed,
          proj: act.proj,
          params: w.linear.params,
          states: rings.states,
          out: act.linearOut,
        }),
      };
    }
    const attention = this.attention.bind({ step, q: act.q, kCache, vCache, out: act.attn });
    if (this.kernels.qkNormRope && act.qkv && w.qNorm && w.kNorm) {
      const bind = this.kernels.qkNormRope.bind({
        step,
        qkv: act.qkv,
        qNorm: w.qNorm,
        kNorm: w.kNorm,
        cos: rope.cos,
        sin: rope.sin,
        q: act.q,
        kCache,
        vCache,
      });
      return { qkv: bind, attention };
    }
    const qkv = this.qkv.bind({
      step,
      weight: w.qkv.parts,
      bias: w.qkvBias ?? this.zeros,
      x: this.qkvInput,
      y: act.q,
      rope: { cos: rope.cos, sin: rope.sin, kCache, vCache },
      norm: this.inputNormOf,
    });
    return { qkv, attention };
  }

  /**
   * Records the layer for a step of `n` tokens after `start` cached ones, on a sequence bound by
   * `binds`; `tree`: a tree verify pass (kernels/step.ts).
   */
  encode(pass: GPUComputePassEncoder, binds: SequenceBinds, n: number, start: number, tree = false): void {
    const { norm, normAdd, qkNormRope, hiddenInputNorms } = this.kernels;
    if (this.pairedNorm && hiddenInputNorms && this.inputNorm) {
      hiddenInputNorms.encode(pass, this.inputNorm, n);
    } else if (this.inputNorm && !this.qkv.foldsNorm) {
      norm.encode(pass, this.inputNorm, n);
    }
    if (this.mlpFirst && this.mlpNorm) norm.encode(pass, this.mlpNorm, n);
    if ('conv' in binds) {
      const { shortConv, gatedDelta } = this.kernels;
      if (tree || !this.linearIn || !shortConv || !gatedDelta) throw new Error('a Gated DeltaNet layer runs no tree');
      this.qkv.encode(pass, this.linearIn, n);
      shortConv.encode(pass, binds.conv);
      gatedDelta.encode(pass, binds.delta);
    } else {
      if (Array.isArray(binds.qkv)) this.qkv.encode(pass, binds.qkv, n);
      else if (this.qkvStore && qkNormRope) {
        this.qkv.encode(pass, this.qkvStore, n);
        qkNormRope.encode(pass, binds.qkv, n);
      }
      this.attention.encode(pass, binds.attention, n, start, tree);
      if (this.outputGate && this.kernels.sigmoidGate) {
        this.outputGate.gate.layer.encode(pass, this.outputGate.gate.binds, n);
        this.kernels.sigmoidGate.encode(pass, this.outputGate.multiply, n);
      }
    }
    this.o.layer.encode(pass, this.o.binds, n);
    if (normAdd && this.attentionOutNorm) normAdd.encode(pass, this.attentionOutNorm, n);
    if (this.mlpNorm && !this.mlpFirst && !this.gateUp.layer.foldsNorm) norm.encode(pass, this.mlpNorm, n);
    this.gateUp.layer.encode(pass, this.gateUp.binds, n);
    this.down.layer.encode(pass, this.down.binds, n);
    if (normAdd && this.mlpOutNorm) normAdd.encode(pass, this.mlpOutNorm, n);
  }
}
