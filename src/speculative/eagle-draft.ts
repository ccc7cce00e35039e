/**
 * An EAGLE head as a draft source (model/eagle.ts). Before drafting it catches up: the pairs
 * (features of t, token at t + 1) for every position the target has computed and it has not,
 * the last of them pairing the target's newest features with the newest token, in one pass.
 * That pass's last row gives the first draft; each further draft feeds the head its own hidden
 * state with the draft before it, one position on. After the target's verify pass the self-fed
 * positions are dropped: the next catch-up replaces them with pairs of real features. Asked for
 * leaves, it proposes other candidates beside each of the first drafts, a tree (tree.ts): its
 * runners-up (greedy), or further draws from the same distribution without the tokens drawn
 * before (sampling). Under a grammar it drafts from rows masked through d2t (its draft ids'
 * target tokens the grammar forbids are -Infinity).
 */

import type { EagleSequence, EagleTarget } from '../model/eagle';
import { eagleSampledStepOnDevice, eagleStepOnDevice } from '../model/gpu-eagle-step';
import type { SampledDeviceStep, SampledStepOptions } from '../model/gpu-sampled-verify';
import type { DeviceStep, StepLengths } from '../model/gpu-step-buffers';
import type { Sequence } from '../model/types';
import type { TokenConstraint } from '../sampling/grammar';
import { argmax, distribution, runnerUp, sample, without } from '../sampling/sampling';
import { isAllowed } from '../sampling/token-mask';
import type { Rng } from '../util/rng';
import type { Draft, DraftRequest, DraftSource } from './draft-source';

export class EagleDraftSource<S extends Sequence, H extends Sequence> implements DraftSource {
  readonly kind = 'eagle';
  forwards = 0;
  /** Pairs of real features the head held after its last catch-up. */
  private realPairs = 0;

  constructor(
    private readonly model: EagleTarget<S, H>,
    private readonly sequence: EagleSequence<S, H>,
  ) {}

  async propose(
    context: readonly number[],
    { k, minConfidence, sampling, rng, leaves = 0, width = 1, constraint }: DraftRequest,
  ): Promise<Draft> {
    const { head, draftToTarget } = this.model;
    const { target: targetSequence, head: headSequence } = this.sequence;
    const computed = targetSequence.length; // the target holds every token but the newest
    const from = headSequence.length;
    this.realPairs = computed;
    const greedy = sampling.temperature <= 0;
    const tokens: number[] = [];
    const probs: Float64Array[] = [];
    const alternatives: number[][] = []; // alternatives[i]: the leaves beside draft i, rank order
    // Room in the head's cache: a pair per position up to the one before the last draft.
    const room = headSequence.capacity - computed + 1;
    let pending = context.slice(from + 1, computed + 1);
    try {
      for (let i = 0; i < Math.min(k, room); i++) {
        this.forwards++;
        const hidden = i === 0 ? { of: targetSequence, from } : 'own';
        let id: number;
        const tree = i < leaves;
        if (greedy && minConfidence <= 0 && !tree && !constraint) {
          id = await head.greedyHidden(headSequence, pending, hidden);
        } else {
          const logits = await head.forwardHidden(headSequence, pending, hidden);
          // Under a grammar each draft is chosen from its masked row, as the target will choose.
          if (constraint) await this.maskDrafts(logits, constraint);
          const p = distribution(logits, greedy ? { temperature: 1, topK: 0, topP: 1 } : sampling);
          id = greedy ? argmax(logits) : sample(p, rng);
          if (tree)
            alternatives.push(leavesBeside(id, greedy ? logits : p, greedy, width, rng).map((x) => draftToTarget[x]));
          if (minConfidence > 0 && i > 0 && p[argmax(p)] < minConfidence) break;
          if (constraint && !constraint.accept(draftToTarget[id])) break; // no draft id allowed here
          if (!greedy) probs.push(onTargetVocabulary(p, draftToTarget, this.model.config.vocabSize));
        }
        const token = draftToTarget[id];
        tokens.push(token);
        pending = [token];
        if (constraint?.terminated) break; // a stop token completed the grammar
      }
    } finally {
      constraint?.rollBack(tokens.length);
    }
    const depths = Math.min(alternatives.length, tokens.length);
    const tree =
      depths > 0
        ? { leaves: Array.from({ length: width }, (_, r) => alternatives.slice(0, depths).map((a) => a[r])) }
        : {};
    return greedy ? { tokens, ...tree } : { tokens, probs, ...tree };
  }

  /**
   * A greedy step whole on the GPU, when target and head are GPU models (model/gpu-eagle-step.ts),
   * with the head's `width` runners-up as leaves beside each of the first `leaves` drafts.
   */
  async greedyStepOnDevice(
    _target: unknown,
    context: readonly number[],
    lengths: StepLengths,
    leaves = 0,
    width = 1,
  ): Promise<DeviceStep | undefined> {
    const computed = this.sequence.target.length;
    const step = await eagleStepOnDevice(this.model, this.sequence, context, lengths, leaves, width);
    if (step) {
      this.forwards += lengths.k;
      this.realPairs = computed;
    }
    return step;
  }

  /**
   * A sampled step on the GPU (model/gpu-eagle-step.ts), with `width` further draws beside each
   * of the first `leaves` drafts (a tree): the rule reads the head's rows through
   * d2t there, or here, where they come back over the target's vocabulary, -Infinity where no
   * draft id maps, so that their distribution is the one `propose` forms.
   */
  async sampledStepOnDevice(
    _target: unknown,
    context: readonly number[],
    lengths: StepLengths,
    options: SampledStepOptions,
    leaves = 0,
    width = 1,
  ): Promise<SampledDeviceStep | undefined> {
    const { k } = lengths;
    const computed = this.sequence.target.length;
    const step = await eagleSampledStepOnDevice(this.model, this.sequence, context, lengths, options, leaves, width);
    if (!step) return undefined;
    this.forwards += k;
    this.realPairs = computed;
    const { draftToTarget, config } = this.model;
    const draftRows = step.draftRows && rowsOnTargetVocabulary(step.draftRows, k, draftToTarget, config.vocabSize);
    return { ...step, draftRows };
  }

  /**
   * Sets the logit of each draft id whose target token the grammar forbids next to -Infinity:
   * the grammar's mask over the target's vocabulary, read through d2t.
   */
  private async maskDrafts(logits: Float32Array, constraint: TokenConstraint): Promise<void> {
    const allowed = await constraint.allowed();
    const { draftToTarget } = this.model;
    for (let id = 0; id < logits.length; id++) {
      if (!isAllowed(allowed, draftToTarget[id])) logits[id] = Number.NEGATIVE_INFINITY;
    }
  }

  rollback(length: number): void {
    const keep = Math.min(this.realPairs, Math.max(0, length - 1));
    if (this.sequence.head.length > keep) this.sequence.head.truncate(keep);
  }
}

/**
 * `width` leaves beside the draft `id` (draft ids): greedy, the runners-up in `row`'s logits;
 * sampling, draws from `row`'s distribution, each without the ones before it (acceptance.ts;
 * the last one again if nothing else has mass).
 */
function leavesBeside(id: number, row: Float32Array | Float64Array, greedy: boolean, width: number, rng: Rng) {
  const taken = [id];
  for (let r = 0; r < width; r++) {
    let leaf: number;
    if (greedy) leaf = runnerUp(row as Float32Array, taken);
    else {
      const rest = without(row as Float64Array, taken);
      leaf = rest.some((x) => x > 0) ? sample(rest, rng) : (taken.at(-1) as number);
    }
    taken.push(leaf);
  }
  return taken.slice(1);
}

/** Rows of logits over the draft vocabulary as rows over the target's: -Infinity where no draft id maps. */
function rowsOnTargetVocabulary(rows: Float32Array, count: number, draftToTarget: Uint32Array, vocabSize: number) {
  const out = new Float32Array(count * vocabSize).fill(Number.NEGATIVE_INFINITY);
  const width = draftToTarget.length;
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < width; i++) out[r * vocabSize + draftToTarget[i]] = rows[r * width + i];
  }
  return out;
}

/** A distribution over the draft vocabulary as one over the target's: zero where no draft id maps. */
function onTargetVocabulary(p: Float64Array, draftToTarget: Uint32Array, vocabSize: number): Float64Array {
  const out = new Float64Array(vocabSize);
  for (let i = 0; i < p.length; i++) out[draftToTarget[i]] = p[i];
  return out;
}
