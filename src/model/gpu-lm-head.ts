/**
 * The last stage of a forward pass on the GPU: from the rows of x to logits and a token.
 *
 *   logits = rmsnorm(x) W_head^T (+ b)    the final norm its own dispatch, or folded into the
 *                                         LM head where the profile folds the layers' norms
 *   logits = cap * tanh(logits / cap)      Gemma 2's soft cap
 *   logits += rules(tokens so far)         a request's logit bias and penalties (gpu-logit-rules.ts)
 *   logits[masked] = lowest float          a grammar's token masks
 *   ids = argmax(logits), or a draw        (or neither: logits only)
 *
 * It reads its rows in x when they are all of a pass's rows (decode, verify: `direct`), else
 * from `headIn`, where the pass copies its last rows (prefill). Its uniform (`headStep`) says
 * how many rows and from which position, which the rules read to count the tokens before each.
 */

import { createUniform } from '../gpu/buffers';
import type { LinearLayer } from '../kernels/linear-layer';
import {
  ArgmaxKernel,
  LogitRulesKernel,
  SampleKernel,
  SoftcapKernel,
  TokenMaskKernel,
  writeSamplingParams,
} from '../kernels/ops';
import type { KernelProfile } from '../kernels/profile';
import type { ModelConfig } from '../loader/config';
import type { SamplingParams } from '../sampling/sampling';
import type { LayerKernels } from './gpu-layer';
import type { SequenceRules } from './gpu-logit-rules';
import type { GpuWeights } from './gpu-weights';

/** What a pass's head computes per row: logits only, or an id too (the argmax, or a draw). */
export type Want = 'logits' | 'ids' | 'sample';

/** The model's buffers the head reads and writes. */
export interface LmHeadBuffers {
  x: GPUBuffer; // (B, d) the residual stream: the head's rows in a direct pass
  headIn: GPUBuffer; // (B, d) the rows copied out of x for it otherwise
  normed: GPUBuffer; // (B, d) the final norm's output, where it runs on its own
  normScale: GPUBuffer; // (B) each row's inverse RMS, where the norm is folded in
  tokens: GPUBuffer; // (B) u32: the pass's tokens, which the logit rules count
  logits: GPUBuffer; // (B, vocab)
  ids: GPUBuffer; // (B) u32
  masks: GPUBuffer; // (B, vocab / 32) u32
}

/** The head's bind groups over one input buffer: the final norm's where it runs on its own, the LM head's. */
interface HeadInput {
  /** The final norm's own dispatch (none where the LM head folds it in, or the model has none). */
  norm?: GPUBindGroup;
  binds: GPUBindGroup[][];
}

export class GpuLmHead {
  /** Its own GPU memory: the argmax's partial results. */
  readonly bytes: number;
  private readonly layer: LinearLayer;
  private readonly direct: HeadInput;
  private readonly copied: HeadInput;
  private readonly softcap?: { kernel: SoftcapKernel; bind: GPUBindGroup };
  private readonly argmax: ArgmaxKernel;
  private readonly argmaxBind: GPUBindGroup[];
  private readonly logitRules: LogitRulesKernel;
  private readonly tokenMask: TokenMaskKernel;
  private readonly tokenMaskBind: GPUBindGroup;
  private readonly sampler: SampleKernel;
  private readonly sampleBind: GPUBindGroup;
  /** struct Sampling: the distribution and seed of a draw, written per sampled pass. */
  readonly samplingParams: GPUBuffer;
  private readonly samplingScratch = new ArrayBuffer(16);

  constructor(
    private readonly device: GPUDevice,
    private readonly kernels: LayerKernels,
    config: ModelConfig,
    weights: GpuWeights,
    profile: KernelProfile,
    /** Most rows a pass's head takes: the model's batch. */
    maxRows: number,
    private readonly act: LmHeadBuffers,
    /** The pass's step uniform (B tokens from the sequence's length) and the head's (its rows). */
    private readonly uniforms: { step: GPUBuffer; headStep: GPUBuffer },
  ) {
    const { vocabSize } = config;
    const { headStep } = uniforms;
    const { finalNorm } = weights; // none in an EAGLE-1 head: its LM head reads x
    this.layer = kernels.linear(weights.lmHead, { kind: 'store' }, finalNorm !== undefined);
    const reading = (input: GPUBuffer): HeadInput => ({
      norm:
        finalNorm && !this.layer.foldsNorm
          ? kernels.norm.bind({ step: headStep, weight: finalNorm, x: input, out: act.normed })
          : undefined,
      binds: this.layer.bind({
        step: headStep,
        weight: weights.lmHead.parts,
        bias: weights.lmHeadBias ?? weights.zeros,
        x: finalNorm ? act.normed : input,
        y: act.logits,
        norm: finalNorm && { x: input, weight: finalNorm, scale: act.normScale },
      }),
    });
    this.direct = reading(act.x);
    this.copied = reading(act.headIn);
    if (config.finalSoftcap !== null) {
      const kernel = new SoftcapKernel(device, vocabSize, config.finalSoftcap);
      this.softcap = { kernel, bind: kernel.bind({ step: headStep, logits: act.logits }) };
    }
    this.argmax = new ArgmaxKernel(device, vocabSize, maxRows, profile.rowWorkgroup);
    this.argmaxBind = this.argmax.bind({ step: headStep, logits: act.logits, ids: act.ids });
    this.logitRules = new LogitRulesKernel(device, vocabSize);
    this.tokenMask = new TokenMaskKernel(device, vocabSize);
    this.tokenMaskBind = this.tokenMask.bind({ head: headStep, masks: act.masks, logits: act.logits });
    this.sampler = new SampleKernel(device, vocabSize, profile.rowWorkgroup);
    this.samplingParams = createUniform(device, 16, 'sampling');
    this.sampleBind = this.sampler.bind({
      step: headStep,
      params: this.samplingParams,
      logits: act.logits,
      ids: act.ids,
    });
    this.bytes = this.argmax.bytes;
  }

  /** Whether the final norm runs as a dispatch of its own over the head's rows (not folded into the LM head). */
  get separateNorm(): boolean {
    return this.direct.norm !== undefined;
  }

  /** The distribution and seed of the passes that draw from now on. */
  setSampling(sampling: SamplingParams, seed: number): void {
    writeSamplingParams(this.device, this.samplingParams, sampling, seed, this.samplingScratch);
  }

  /**
   * Records the head over `rows` rows, read in x (`direct`) or in headIn: the final norm, the
   * LM head, the soft cap, the sequence's `rules` where active, a grammar's masks where the pass
   * has them (`masks`), then the argmax or the draw as `want` says. (Arguments, not an options
   * object: it runs once a pass, in the decode loop.)
   */
  encode(
    compute: GPUComputePassEncoder,
    rows: number,
    direct: boolean,
    want: Want,
    rules: SequenceRules | undefined,
    masks: boolean,
  ): void {
    const input = direct ? this.direct : this.copied;
    if (input.norm) this.kernels.norm.encode(compute, input.norm, rows);
    this.layer.encode(compute, input.binds, rows);
    if (this.softcap) this.softcap.kernel.encode(compute, this.softcap.bind, rows);
    if (rules) {
      const { act, uniforms } = this;
      const bind = rules.bindTo(this.logitRules, {
        head: uniforms.headStep,
        step: uniforms.step,
        tokens: act.tokens,
        logits: act.logits,
      });
      this.logitRules.encode(compute, bind, rows);
    }
    if (masks) this.tokenMask.encode(compute, this.tokenMaskBind, rows);
    if (want === 'ids') this.argmax.encode(compute, this.argmaxBind, rows);
    if (want === 'sample') this.sampler.encode(compute, this.sampleBind, rows);
  }

  destroy(): void {
    this.samplingParams.destroy();
    this.argmax.destroy();
  }
}
