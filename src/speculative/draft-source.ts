/**
 * Where draft tokens come from. A draft source proposes up to k tokens that may follow the
 * context; the target then verifies them all in one forward pass. Sources: a small draft
 * model (model-draft.ts), an EAGLE head reading the target's features (eagle-draft.ts), prompt
 * lookup (prompt-lookup.ts), or none; `draftSource` makes the one a request names.
 */

import { InvalidRequestError } from '../errors';
import { isEagleTarget } from '../model/eagle';
import type { SampledDeviceStep, SampledStepOptions } from '../model/gpu-sampled-verify';
import type { DeviceStep, StepLengths } from '../model/gpu-step-buffers';
import type { CausalLM, Sequence } from '../model/types';
import type { TokenConstraint } from '../sampling/grammar';
import type { SamplingParams } from '../sampling/sampling';
import type { Rng } from '../util/rng';
import { EagleDraftSource } from './eagle-draft';
import { ModelDraftSource } from './model-draft';
import { PromptLookupSource } from './prompt-lookup';

/** The kinds of draft source: a draft model, an EAGLE head, prompt lookup (n-grams of the context), or none. */
export type DraftKind = 'model' | 'eagle' | 'ngram' | 'none';

export interface Draft {
  tokens: number[];
  /**
   * The distribution each token was drawn from (after the same temperature, top-k and top-p
   * as the target's), needed by the sampling acceptance rule; absent for a deterministic
   * proposal, which counts as one-hot.
   */
  probs?: Float64Array[];
  /**
   * Other candidates beside the first tokens, rank by rank (leaves[r][i] beside tokens[i], drawn
   * as it was): a tree to verify (tree.ts).
   */
  leaves?: number[][];
}

export interface DraftRequest {
  /** Tokens to propose at most. */
  k: number;
  /** A draft model stops early when its top probability falls below this (0: never). */
  minConfidence: number;
  sampling: SamplingParams;
  rng: Rng;
  /**
   * Also propose other candidates at each of the first `leaves` depths, a tree (a source may
   * ignore it): `width` of them (1 unless told), greedy, the runners-up; sampling, further draws
   * from the same distribution without the tokens drawn before (acceptance.ts: `acceptAmong`).
   */
  leaves?: number;
  width?: number;
  /**
   * The grammar the reply follows, where it has one: a source that can (a draft model) drafts
   * under its masks, as the target will choose, and leaves it as it found it.
   */
  constraint?: TokenConstraint;
}

export interface DraftSource {
  readonly kind: DraftKind;
  /** Forward passes of a draft model so far (0 for sources without one). */
  readonly forwards: number;
  /** Up to `request.k` tokens that may follow `context` (every token so far: prompt and reply). */
  propose(context: readonly number[], request: DraftRequest): Promise<Draft>;
  /** The first `length` tokens of the context are final: forget any state past them. */
  rollback(length: number): void;
  /** Drafts this source can take back after proposing them (a draft model's `maxCutBack`); absent: any. */
  readonly maxCutBack?: number;
  /**
   * Drafts `lengths.k` tokens and has `target` verify them greedily on the device in one go,
   * when this source and the target can (a draft model on the target's GPU); else undefined,
   * and the step is taken the usual way. Leaves both caches as `propose` and a verify pass
   * would. `lengths.next`: the next step's drafts, which the device may record while it runs
   * this one. `leaves` and `width`: a tree, as `DraftRequest` asks (a source that drafts no
   * trees ignores them).
   */
  greedyStepOnDevice?<S extends Sequence>(
    target: { model: CausalLM<S>; sequence: S },
    context: readonly number[],
    lengths: StepLengths,
    leaves?: number,
    width?: number,
  ): Promise<DeviceStep | undefined>;
  /**
   * Draws `lengths.k` tokens on the device and has `target` run its verify pass and the
   * acceptance rule after them in the same go, when this source and the target can; the
   * verdict and the drafts come back (and the target's rows, if `options.rows`). The seeds come
   * from `options.rng`, drawn only when the step is taken. Else undefined, as above. `leaves`
   * and `width`: a tree, further draws beside each of the first drafts (a source that drafts no
   * trees ignores them).
   */
  sampledStepOnDevice?<S extends Sequence>(
    target: { model: CausalLM<S>; sequence: S },
    context: readonly number[],
    lengths: StepLengths,
    options: SampledStepOptions,
    leaves?: number,
    width?: number,
  ): Promise<SampledDeviceStep | undefined>;
}

/** Plain decoding: proposes nothing. */
export const noDraft: DraftSource = {
  kind: 'none',
  forwards: 0,
  async propose() {
    return { tokens: [] };
  },
  rollback() {},
};

/**
 * The draft source of `kind`. A draft model drafts into `model.sequence`, its KV cache over
 * the context, which the caller owns (it may come from the prefix cache); an EAGLE head into
 * the head's part of the target's sequence (`target`, a target with a head: model/eagle.ts).
 */
export function draftSource<D extends Sequence, S extends Sequence>(
  kind: DraftKind,
  model?: { model: CausalLM<D>; sequence: D },
  target?: { model: CausalLM<S>; sequence: S },
): DraftSource {
  if (kind === 'none') return noDraft;
  if (kind === 'ngram') return new PromptLookupSource();
  if (kind === 'eagle') {
    if (!target || !isEagleTarget(target.model)) {
      throw new InvalidRequestError(
        'This request asks for an EAGLE head, but none is loaded: load one as the draft, or use draft "ngram" or "none".',
      );
    }
    return new EagleDraftSource(target.model, target.sequence as never);
  }
  if (!model) {
    throw new InvalidRequestError(
      'This request asks for a draft model, but none is loaded: load one, or use draft "ngram" or "none".',
    );
  }
  return new ModelDraftSource(model.model, model.sequence);
}
