/**
 * A draft model as a draft source. It keeps its own KV cache over the context, catches up on
 * whatever it has not seen (at least the newest token) and then runs one token at a time.
 * Given a confidence threshold it stops drafting early when its top probability falls below
 * it (see draft-length.ts).
 *
 * Greedy drafting without a threshold reads back token ids only (under a grammar too: the GPU
 * masks the row); otherwise the last row of logits is read back to form the distribution. On a
 * GPU, a step can run whole on the device (model/gpu-speculation.ts): the drafts never come back
 * to the CPU one by one.
 */

import type { SampledDeviceStep, SampledStepOptions } from '../model/gpu-sampled-verify';
import { greedyStepOnDevice, sampledStepOnDevice } from '../model/gpu-speculation';
import type { DeviceStep, StepLengths } from '../model/gpu-step-buffers';
import type { CausalLM, Sequence } from '../model/types';
import { argmax, distribution, sample } from '../sampling/sampling';
import { allowsAny, onlyToken } from '../sampling/token-mask';
import type { Draft, DraftRequest, DraftSource } from './draft-source';

export class ModelDraftSource<S extends Sequence> implements DraftSource {
  readonly kind = 'model';
  forwards = 0;

  constructor(
    private readonly model: CausalLM<S>,
    /** The draft's KV cache over the context; the caller owns it (it may come from the prefix cache). */
    readonly sequence: S,
  ) {}

  async propose(
    context: readonly number[],
    { k, minConfidence, sampling, rng, constraint }: DraftRequest,
  ): Promise<Draft> {
    const tokens: number[] = [];
    const probs: Float64Array[] = [];
    const greedy = sampling.temperature <= 0;
    // Room in the cache: the context, then k - 1 drafts (the last draft is never fed).
    const room = this.sequence.capacity - context.length + 1;
    let pending = context.slice(this.sequence.length);
    try {
      for (let i = 0; i < Math.min(k, room); i++) {
        // Under a grammar each draft is chosen from its masked row, as the target will choose; a
        // token the grammar allows alone is the draft without a forward (fed with the next one).
        if (constraint) {
          const vocab = this.model.config.vocabSize;
          const allowed = await constraint.allowed();
          if (!allowsAny(allowed, vocab)) break; // nothing allowed: no draft here
          const only = onlyToken(allowed, vocab);
          if (only !== undefined && constraint.accept(only)) {
            tokens.push(only);
            if (!greedy) probs.push(oneHot(only, vocab));
            pending = [...pending, only];
            if (constraint.terminated) break;
            continue;
          }
          this.sequence.maskNextPass(allowed);
        }
        this.forwards++;
        let token: number;
        if (greedy && minConfidence <= 0) {
          token = (await this.model.greedy(this.sequence, pending, 'last'))[0];
        } else {
          const logits = await this.model.forwardLast(this.sequence, pending);
          const p = distribution(logits, greedy ? { temperature: 1, topK: 0, topP: 1 } : sampling);
          token = greedy ? argmax(logits) : sample(p, rng);
          if (minConfidence > 0 && i > 0 && p[argmax(p)] < minConfidence) break;
          if (!greedy) probs.push(p);
        }
        if (constraint && !constraint.accept(token))
          throw new Error(`the grammar refused draft ${token}, chosen under its mask`);
        tokens.push(token);
        pending = [token];
        if (constraint?.terminated) break; // a stop token completed the grammar
      }
    } finally {
      constraint?.rollBack(tokens.length);
    }
    return greedy ? { tokens } : { tokens, probs };
  }

  rollback(length: number): void {
    if (length < this.sequence.length) this.sequence.truncate(length);
  }

  get maxCutBack(): number | undefined {
    return this.model.maxCutBack;
  }

  async greedyStepOnDevice<T extends Sequence>(
    target: { model: CausalLM<T>; sequence: T },
    context: readonly number[],
    lengths: StepLengths,
  ): Promise<DeviceStep | undefined> {
    const step = await greedyStepOnDevice(target, { model: this.model, sequence: this.sequence }, context, lengths);
    if (step) this.forwards += lengths.k;
    return step;
  }

  async sampledStepOnDevice<T extends Sequence>(
    target: { model: CausalLM<T>; sequence: T },
    context: readonly number[],
    lengths: StepLengths,
    options: SampledStepOptions,
  ): Promise<SampledDeviceStep | undefined> {
    const draft = { model: this.model, sequence: this.sequence };
    const step = await sampledStepOnDevice(target, draft, context, lengths, options);
    if (step) this.forwards += lengths.k;
    return step;
  }
}

/** The distribution that puts all its mass on `token`. */
function oneHot(token: number, vocab: number): Float64Array {
  const p = new Float64Array(vocab);
  p[token] = 1;
  return p;
}
