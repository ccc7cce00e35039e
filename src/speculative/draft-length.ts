/**
 * How many tokens a speculative step drafts: a fixed k, or 'auto'. With 'auto' the length
 * follows the running acceptance (start at 4; one more after a step whose drafts were all
 * accepted, one fewer after a step that kept less than half of them; 1 to 8), and a draft
 * model stops early when its top probability falls below one half: a token the draft itself
 * doubts is likely to be rejected, and drafting it costs a forward pass.
 *
 * This file is the only place that knows what 'auto' means.
 */

export type DraftLength = number | 'auto';

export const AUTO_START = 4;
export const AUTO_MAX = 8;
/** With 'auto', a draft model stops drafting below this top probability. */
export const AUTO_CONFIDENCE = 0.5;

/** A draft length as text gives it ("auto", or a whole number of tokens from 1). */
export function parseDraftLength(text: string): DraftLength {
  if (text === 'auto') return 'auto';
  const k = Number(text);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`draft length "${text}": "auto" or a whole number from 1`);
  return k;
}

export class DraftLengthPolicy {
  /** Tokens to draft in the next step. */
  k: number;
  /** A draft model stops drafting when its top probability is below this (0: never). */
  readonly minConfidence: number;
  /** The longest draft this policy can ask for. */
  readonly longest: number;

  constructor(private readonly length: DraftLength) {
    this.k = length === 'auto' ? AUTO_START : length;
    this.minConfidence = length === 'auto' ? AUTO_CONFIDENCE : 0;
    this.longest = length === 'auto' ? AUTO_MAX : length;
  }

  /** Takes the outcome of a step that drafted `drafted` tokens and kept `accepted` of them. */
  update(accepted: number, drafted: number): void {
    if (this.length !== 'auto') return;
    if (accepted === drafted) this.k = Math.min(this.k + 1, AUTO_MAX);
    else if (accepted < drafted / 2) this.k = Math.max(this.k - 1, 1);
  }
}
