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
  /** Drafts made at each position (what per_position's rates are out of). */
  drafted_per_position: number[];
  target_forwards: number;
  draft_forwards: number;
  /** Tokens a response format's grammar allowed alone, verified without drafting them (speculative.ts). */
  forced_tokens: number;
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
    drafted_per_position: counts.drafted.slice(0, used),
    target_forwards: counts.targetForwards,
    draft_forwards: counts.draftForwards,
    forced_tokens: counts.forced,
    fell_back: counts.fallback !== undefined,
    ...(counts.fallback === undefined ? {} : { fallback_reason: counts.fallback }),
  };
}

/** The figures of several replies' speculation as one (a request's choices): counts summed, rates from the sums. */
export function combinedSpecStats(all: SpecStats[]): SpecStats {
  const [first] = all;
  const drafted = sum(all.map((s) => s.drafted));
  const accepted = sum(all.map((s) => s.accepted));
  const steps = sum(all.map((s) => s.steps));
  const positions = Math.max(...all.map((s) => s.drafted_per_position.length));
  const at = (s: SpecStats, i: number) => s.drafted_per_position[i] ?? 0;
  const draftedAt = Array.from({ length: positions }, (_, i) => sum(all.map((s) => at(s, i))));
  // Each reply's accepted drafts at position i: its rate there times its drafts there (a count).
  const acceptedAt = draftedAt.map((_, i) => sum(all.map((s) => Math.round((s.per_position[i] ?? 0) * at(s, i)))));
  const fallback = all.find((s) => s.fell_back);
  return {
    draft: first.draft,
    steps,
    drafted,
    accepted,
    acceptance_rate: drafted > 0 ? accepted / drafted : 0,
    // Tokens produced by each reply's speculative steps: a count again.
    mean_accepted_length: steps > 0 ? sum(all.map((s) => Math.round(s.mean_accepted_length * s.steps))) / steps : 0,
    per_position: draftedAt.map((n, i) => (n > 0 ? acceptedAt[i] / n : 0)),
    drafted_per_position: draftedAt,
    target_forwards: sum(all.map((s) => s.target_forwards)),
    draft_forwards: sum(all.map((s) => s.draft_forwards)),
    forced_tokens: sum(all.map((s) => s.forced_tokens)),
    fell_back: fallback !== undefined,
    ...(fallback?.fallback_reason === undefined ? {} : { fallback_reason: fallback.fallback_reason }),
  };
}
