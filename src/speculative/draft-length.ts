/**
 * How many tokens a speculative step drafts: a fixed k, or 'auto'.
 *
 * 'auto' estimates, from the steps so far, how likely each draft position is to be accepted
 * and what a step of each length costs, and drafts the length that yields the most tokens per
 * millisecond. Position i (1-based) is accepted with probability a_i once the positions
 * before it were, so a step of k drafts yields
 *
 *     E(k) = 1 + P_1 + ... + P_k,   P_j = a_1 a_2 ... a_j
 *
 * tokens (the target's own token, plus the accepted drafts), and the policy drafts
 * argmax_k E(k) / cost(k). Each a_i is a count of acceptances over a count of verdicts at
 * position i, both fading by a factor per step (so the estimate follows the text being
 * written), pulled towards a_(i-1) by a pseudo-count: a position never drafted is assumed as
 * good as the one before it, which is how the length grows to find out.
 *
 * cost(k) is the measured wall time of recent steps of k drafts: what a length costs differs
 * from device to device and is not linear in k (on SwiftShader a verify pass over 4 tokens is
 * faster than over 3; on an H200 the fixture pair's steps of 2 and 3 drafts took the same time). A length not measured
 * lately is priced from the best-measured one by the model 1 + c k (c: what a draft token adds
 * to a step, relative to the step's fixed part), so a length is tried when the model says it
 * may pay, and kept or dropped as its own steps measure. Without timings (`update` given no
 * time) cost(k) is 1 + c k itself, and the lengths drafted follow from the verdicts alone, as
 * a seeded sampled run needs in order to repeat exactly.
 *
 * The length is decided a step ahead: `k` is this step's, fixed when the step before it began,
 * and `next` the next step's, which a step on the GPU records while the GPU runs this one
 * (model/gpu-step-ahead.ts). A step recorded ahead serves only its own length, so a length
 * chosen after that recording would void it: the new length's first step would be recorded
 * while the GPU waits, and the recording ahead wasted. Deciding a step ahead costs 'auto' one
 * step of reaction and leaves every change free. (On an H200, before this, the sampled `auto`
 * runs took half their steps from passes recorded ahead; the rest were recorded again.)
 *
 * A step is timed only when the next step drafts its length, and not the first step of a
 * reply: a step's wall time holds the recording of the next step, and the first of a reply is
 * recorded while the GPU waits. Priced by steps that mix lengths, a length tried once looked
 * dearer than it is, and on an H200, where a host's hiccups move a step's time as much as the
 * lengths differ, 'auto' wandered between lengths.
 *
 * What 'auto' learns (`DraftHistory`: the acceptance counts and the step times) a caller keeps
 * across the generations of the same models: a new generation drafts the length the last one
 * ended on, from the acceptance the earlier ones saw, fading as its own verdicts come, not from
 * a flat prior that sends it exploring long drafts again.
 *
 * k changes only when the new length is expected to be clearly faster, so a generation drafts
 * the same k for long runs. This replaces "one more after a full acceptance, one fewer after a
 * poor step", which in the middle of its range changed k in about three steps of four.
 *
 * A draft model stops early when its top probability falls below one half: a token the draft
 * itself doubts is likely to be rejected, and drafting it costs a forward pass.
 *
 * This file is the only place that knows what 'auto' means.
 */

export type DraftLength = number | 'auto';

export const AUTO_MAX = 8;
/** With 'auto', a draft model stops drafting below this top probability. */
export const AUTO_CONFIDENCE = 0.5;
/**
 * c, what a draft token adds to a step relative to the step's fixed part (the verify pass, the
 * readback): the price of lengths not measured. On an H200 the fixture pair's steps grew by
 * 0.17-0.2 ms a draft token over a fixed part of about 0.55 ms.
 */
export const AUTO_DRAFT_COST = 0.4;
/** Each step, the counts behind the acceptance estimates keep this share of their weight (about 20 steps' memory). */
const FADE = 0.95;
/** Each step, a length's measured time keeps this share of its weight (about 100 steps' memory). */
const COST_FADE = 0.99;
/** Lengths are priced from measured times once one has this much weight, and hiccups capped from then on. */
const MEASURED = 0.5;
/**
 * The weight, in steps, of the model's price of a length beside its measured time: a quarter
 * of one step, since c is a guess and one step of the length is a measurement.
 */
const MODEL_WEIGHT = 0.25;
/** A step timed at more than this many times its length's measured time counts as this many (a hiccup of the host). */
const OUTLIER = 3;
/** The weight of a position's prior (the estimate of the position before it), in verdicts. */
const PRIOR_WEIGHT = 1;
/** The acceptance assumed of the first position before any verdict. */
const FIRST_PRIOR = 0.85;
/** A new length is taken only when it is expected to yield this much more per unit of cost. */
export const AUTO_SWITCH_GAIN = 0.03;

/** A draft length as text gives it ("auto", or a whole number of tokens from 1). */
export function parseDraftLength(text: string): DraftLength {
  if (text === 'auto') return 'auto';
  const k = Number(text);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`draft length "${text}": "auto" or a whole number from 1`);
  return k;
}

/**
 * What speculative steps of each length took (ms), each length's mean fading as steps of any
 * length are added: what a length costs belongs to the device and the models, not to the text.
 */
export class StepTimes {
  /** Mean wall time of the steps that drafted i + 1 tokens, and its weight. */
  private readonly ms = new Float64Array(AUTO_MAX);
  private readonly weight = new Float64Array(AUTO_MAX);

  /** Adds a step that drafted `drafted` tokens and took `ms`. */
  add(drafted: number, ms: number): void {
    for (let i = 0; i < AUTO_MAX; i++) this.weight[i] *= COST_FADE;
    if (drafted < 1 || drafted > AUTO_MAX) return;
    const i = drafted - 1;
    const weight = this.weight[i];
    const taken = weight >= MEASURED ? Math.min(ms, OUTLIER * this.ms[i]) : ms;
    this.ms[i] = (this.ms[i] * weight + taken) / (weight + 1);
    this.weight[i] = weight + 1;
  }

  /**
   * What a step of k drafts costs: its measured time, blended with the model 1 + c k
   * (`draftCost`: c) scaled to the best-measured length's time, with the weight of
   * MODEL_WEIGHT steps; the model alone before any step is measured. A length not drafted for
   * long drifts back to the model's price, and is tried again if that says it may pay.
   */
  cost(k: number, draftCost: number): number {
    const model = (j: number) => 1 + draftCost * j;
    let anchor = 0;
    for (let i = 1; i < AUTO_MAX; i++) if (this.weight[i] > this.weight[anchor]) anchor = i;
    if (this.weight[anchor] < MEASURED) return model(k);
    const modelled = (this.ms[anchor] * model(k)) / model(anchor + 1);
    const weight = this.weight[k - 1];
    return (weight * this.ms[k - 1] + MODEL_WEIGHT * modelled) / (weight + MODEL_WEIGHT);
  }
}

/**
 * What 'auto' has learned of a pair of models (or a model and its head) on a device: the faded
 * counts of verdicts at and acceptances of each draft position, and the step times of each
 * length. A caller keeps one across the generations of the same models and kind of step, so
 * that each generation starts from what the earlier ones saw.
 */
export class DraftHistory {
  /** Faded counts of verdicts at, and acceptances of, draft position i + 1. */
  readonly verdicts = new Float64Array(AUTO_MAX);
  readonly acceptances = new Float64Array(AUTO_MAX);
  readonly times = new StepTimes();
  /** The length the last generation would have drafted next (0: none yet), where the next one starts. */
  length = 0;
}

export class DraftLengthPolicy {
  /** Tokens to draft in this step (the one `update` is told of next). */
  k: number;
  /** Tokens to draft in the step after it: fixed now, so that the step can be recorded ahead. */
  next: number;
  /** A draft model stops drafting when its top probability is below this (0: never). */
  readonly minConfidence: number;
  /** The longest draft this policy can ask for. */
  readonly longest: number;
  /** Steps this policy was told of. */
  private steps = 0;

  /** `draftCost`: c, for lengths not measured; `history`: what earlier generations learned (none: start afresh). */
  constructor(
    private readonly length: DraftLength,
    private readonly draftCost = AUTO_DRAFT_COST,
    private readonly history = new DraftHistory(),
  ) {
    this.minConfidence = length === 'auto' ? AUTO_CONFIDENCE : 0;
    this.longest = length === 'auto' ? AUTO_MAX : length;
    this.k = length === 'auto' ? this.history.length || this.best() : length;
    this.next = this.k;
  }

  /**
   * Takes the outcome of a step that drafted `drafted` tokens and kept `accepted` of them, and
   * its wall time in ms where the caller times steps (counted only when the next step drafts the
   * same length, and not for a reply's first step: see the top of this file). The next step
   * drafts `next`; the one after it, the length these verdicts favour.
   */
  update(accepted: number, drafted: number, ms?: number): void {
    if (this.length !== 'auto') return;
    const { verdicts, acceptances, times } = this.history;
    for (let i = 0; i < AUTO_MAX; i++) {
      verdicts[i] *= FADE;
      acceptances[i] *= FADE;
    }
    // Not the reply's first step (recorded while the GPU waited), nor one before a change of
    // length (its time holds the recording of the next step, of another length).
    if (ms !== undefined && this.steps > 0 && drafted === this.next) times.add(drafted, ms);
    this.steps++;
    // Positions up to the first rejection had a verdict; those before it were accepted.
    const judged = Math.min(accepted + 1, drafted, AUTO_MAX);
    for (let i = 0; i < judged; i++) verdicts[i]++;
    for (let i = 0; i < Math.min(accepted, AUTO_MAX); i++) acceptances[i]++;
    this.k = this.next;
    const best = this.best();
    if (this.yieldPerCost(best) > this.yieldPerCost(this.next) * (1 + AUTO_SWITCH_GAIN)) this.next = best;
    this.history.length = this.next;
  }

  /** The length with the most expected tokens per unit of cost. */
  private best(): number {
    let best = 1;
    for (let k = 2; k <= AUTO_MAX; k++) if (this.yieldPerCost(k) > this.yieldPerCost(best)) best = k;
    return best;
  }

  /** E(k) / cost(k), from the current estimates. */
  private yieldPerCost(k: number): number {
    let expected = 1;
    let reach = 1; // P_j
    let prior = FIRST_PRIOR;
    for (let i = 0; i < k; i++) {
      const a = (this.history.acceptances[i] + PRIOR_WEIGHT * prior) / (this.history.verdicts[i] + PRIOR_WEIGHT);
      reach *= a;
      expected += reach;
      prior = a;
    }
    return expected / this.history.times.cost(k, this.draftCost);
  }
}
