/**
 * The speculative decoding figures a reply reports, derived from the loop's raw counts
 * (speculative.ts): how often drafts were accepted, overall and at each draft position, and
 * how many tokens each target pass produced (mean accepted length: accepted drafts plus the
 * target's own token, per speculative step).
 */

import type { DraftKind } from './draft-source';
import type { SpeculativeCounts } from './speculative';

export interface SpecStats {
  draft: DraftKind;
  /** Speculative steps: one target forward over drafted tokens each. */
  steps: number;
  drafted: number;
  accepted: number;
  acceptance_rate: number;
  /** Tokens produced per target forward in speculative steps, the bonus or replacement included. */
  mean_accepted_length: number;
  /** Acceptance rate at each draft position: [P(first accepted), P(second accepted | drafted), ...]. */
  per_position: number[];
  target_forwards: number;
  draft_forwards: number;
  /** Set when speculation was measured slower than plain decoding and switched off. */
  fell_back: boolean;
  fallback_reason?: string;
}

const sum = (values: number[]) => values.reduce((total, v) => total + v, 0);

export function speculativeStats(counts: SpeculativeCounts): SpecStats {
  const drafted = sum(counts.drafted);
  const accepted = sum(counts.accepted);
  const used = counts.drafted.findLastIndex((n) => n > 0) + 1;
  return {
    draft: counts.draft,
    steps: counts.steps,
    drafted,
    accepted,
    acceptance_rate: drafted > 0 ? accepted / drafted : 0,
    mean_accepted_length: counts.steps > 0 ? counts.produced / counts.steps : 0,
    per_position: counts.drafted.slice(0, used).map((n, i) => counts.accepted[i] / n),
    target_forwards: counts.targetForwards,
    draft_forwards: counts.draftForwards,
    fell_back: counts.fallback !== undefined,
    ...(counts.fallback === undefined ? {} : { fallback_reason: counts.fallback }),
  };
}
