/**
 * Where draft tokens come from. A draft source proposes up to k tokens that may follow the
 * context; the target then verifies them all in one forward pass. Sources: a small draft
 * model (model-draft.ts), prompt lookup (prompt-lookup.ts), or none.
 */

import type { SamplingParams } from '../sampling/sampling';
import type { Rng } from '../util/rng';

export interface Draft {
  tokens: number[];
  /**
   * The distribution each token was drawn from (after the same temperature, top-k and top-p
   * as the target's), needed by the sampling acceptance rule; absent for a deterministic
   * proposal, which counts as one-hot.
   */
  probs?: Float64Array[];
}

export interface DraftSource {
  readonly kind: 'model' | 'ngram' | 'none';
  /** Forward passes of a draft model so far (0 for sources without one). */
  readonly forwards: number;
  /** Up to `k` tokens that may follow `context` (every token so far: prompt and reply). */
  propose(context: readonly number[], k: number, sampling: SamplingParams, rng: Rng): Promise<Draft>;
  /** The first `length` tokens of the context are final: forget any state past them. */
  rollback(length: number): void;
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
