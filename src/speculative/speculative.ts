/**
 * Speculative decoding: a draft source proposes k tokens; the target runs one forward pass
 * over the newest token and the k drafts (k + 1 positions) and gives its own choice after
 * each; drafts are accepted left to right while the target agrees (greedy) or the acceptance
 * rule says so (sampling, acceptance.ts); at the first rejection the target's token replaces
 * the draft, and if all k are accepted the target's choice after the last one is a bonus token.
 * Both KV caches are rolled back by setting their lengths. Greedy output is exactly the
 * target's own; sampled output has exactly the target's distribution.
 *
 * Invariant: the target's cache holds every token of the context except the newest one.
 *
 * The first token comes from the prompt's prefill and the second from one plain decode step,
 * whose time is the yardstick: if speculation is measured slower than plain decoding over a
 * window of steps, the rest of the request is decoded plainly, and the stats say so.
 */

import type { GenerateOptions } from '../model/generate';
import type { CausalLM, Sequence } from '../model/types';
import { distribution, sampleToken } from '../sampling/sampling';
import { Rng } from '../util/rng';
import { acceptOrResample } from './acceptance';
import type { DraftSource } from './draft-source';

export type DraftLength = number | 'auto';

export interface SpeculativeOptions extends GenerateOptions {
  /** Tokens drafted per step: fixed, or 'auto' (adapted to the running acceptance). */
  draftLength: DraftLength;
  /** Measured fallback to plain decoding (default true). */
  fallback?: boolean;
  /** Polled between steps: returning true ends generation early (interrupt, stop strings). */
  shouldStop?: () => boolean;
}

export interface SpecStats {
  draft: DraftSource['kind'];
  steps: number; // speculative steps (one target forward each)
  drafted: number;
  accepted: number;
  acceptance_rate: number;
  /** Tokens produced per target forward in speculative steps, the bonus or replacement included. */
  mean_accepted_length: number;
  /** Acceptance rate at each draft position: [P(first accepted), P(second accepted | drafted), ...]. */
  per_position: number[];
  target_forwards: number;
  draft_forwards: number;
  decode_tok_s: number;
  /** Set when speculation was measured slower than plain decoding and switched off. */
  fell_back: boolean;
  fallback_reason?: string;
}

export const AUTO_START = 4;
/** With draftLength 'auto', a draft model stops drafting below this top probability. */
export const AUTO_CONFIDENCE = 0.5;
export const AUTO_MAX = 8;
const FALLBACK_WINDOW = 8; // speculative steps per comparison with plain decoding

export async function speculativeGenerate<S extends Sequence>(
  target: CausalLM<S>,
  sequence: S,
  source: DraftSource,
  prompt: number[],
  options: SpeculativeOptions,
): Promise<{ tokens: number[]; stats: SpecStats }> {
  const { sampling, maxTokens } = options;
  const greedy = sampling.temperature <= 0;
  const rng = new Rng(options.seed ?? 0);
  const stop = new Set(options.stopTokens ?? []);
  const out: number[] = [];
  const context = [...prompt];
  const longest = Math.max(AUTO_MAX, options.draftLength === 'auto' ? 0 : options.draftLength);
  const draftedAt = new Array<number>(longest).fill(0);
  const acceptedAt = new Array<number>(longest).fill(0);
  const stats: SpecStats = {
    draft: source.kind,
    steps: 0,
    drafted: 0,
    accepted: 0,
    acceptance_rate: 0,
    mean_accepted_length: 0,
    per_position: [],
    target_forwards: 0,
    draft_forwards: 0,
    decode_tok_s: 0,
    fell_back: false,
  };
  let done = false;
  const emit = (token: number) => {
    if (done) return;
    out.push(token);
    context.push(token);
    options.onToken?.(token);
    if (stop.has(token) || out.length >= maxTokens || options.shouldStop?.()) done = true;
  };
  /** The target's next token after `tokens`, from the last row (plain decoding: an id is read back). */
  const plainStep = async (tokens: ArrayLike<number>) => {
    stats.target_forwards++;
    return greedy
      ? (await target.greedy(sequence, tokens, 'last'))[0]
      : target.sample(sequence, tokens, sampling, rng.nextUint32());
  };

  emit(await plainStep(prompt.slice(sequence.length)));
  const decodeStart = performance.now();
  const producedBeforeDecode = out.length;
  if (!done) emit(await plainStep([context[context.length - 1]]));
  const plainMsPerToken = performance.now() - decodeStart;

  let k = options.draftLength === 'auto' ? AUTO_START : options.draftLength;
  let speculating = source.kind !== 'none';
  let windowStart = performance.now();
  let windowTokens = 0;
  let windowSteps = 0;
  let specTokens = 0;
  while (!done) {
    const last = context[context.length - 1];
    const draft = speculating
      ? await source.propose(context, Math.min(k, maxTokens - out.length - 1), sampling, rng)
      : { tokens: [] };
    if (draft.tokens.length === 0) {
      emit(await plainStep([last]));
      continue;
    }

    const base = sequence.length;
    const contextLength = context.length;
    const input = [last, ...draft.tokens];
    stats.steps++;
    stats.target_forwards++;
    let accepted = 0;
    let next: number;
    if (greedy) {
      const choices = await target.greedy(sequence, input, 'all');
      while (accepted < draft.tokens.length && draft.tokens[accepted] === choices[accepted]) accepted++;
      next = choices[accepted];
    } else {
      const logits = await target.forward(sequence, input);
      const vocab = target.config.vocabSize;
      const row = (i: number) => distribution(logits.subarray(i * vocab, (i + 1) * vocab), sampling);
      next = -1;
      while (accepted < draft.tokens.length) {
        const verdict = acceptOrResample(row(accepted), draft.probs?.[accepted], draft.tokens[accepted], rng);
        if (!verdict.accepted) {
          next = verdict.token;
          break;
        }
        accepted++;
      }
      if (next < 0) next = sampleToken(logits.subarray(accepted * vocab, (accepted + 1) * vocab), sampling, rng);
    }
    sequence.truncate(base + 1 + accepted); // keep the newest token and the accepted drafts
    source.rollback(contextLength + accepted);

    stats.drafted += draft.tokens.length;
    stats.accepted += accepted;
    for (let i = 0; i < draft.tokens.length; i++) draftedAt[i]++;
    for (let i = 0; i < accepted; i++) acceptedAt[i]++;
    const before = out.length;
    for (let i = 0; i < accepted; i++) emit(draft.tokens[i]);
    emit(next);
    specTokens += out.length - before;
    windowTokens += out.length - before;
    windowSteps++;

    if (options.draftLength === 'auto') {
      if (accepted === draft.tokens.length) k = Math.min(k + 1, AUTO_MAX);
      else if (accepted < draft.tokens.length / 2) k = Math.max(k - 1, 1);
    }
    if (options.fallback !== false && windowSteps === FALLBACK_WINDOW) {
      const specMsPerToken = (performance.now() - windowStart) / windowTokens;
      if (specMsPerToken > plainMsPerToken) {
        speculating = false;
        stats.fell_back = true;
        stats.fallback_reason =
          `speculation took ${specMsPerToken.toFixed(1)} ms per token over ${windowSteps} steps, ` +
          `plain decoding ${plainMsPerToken.toFixed(1)} ms: decoding the rest plainly`;
      }
      windowStart = performance.now();
      windowTokens = 0;
      windowSteps = 0;
    }
  }

  stats.draft_forwards = source.forwards;
  stats.acceptance_rate = stats.drafted > 0 ? stats.accepted / stats.drafted : 0;
  stats.mean_accepted_length = stats.steps > 0 ? specTokens / stats.steps : 0;
  const used = draftedAt.findLastIndex((n) => n > 0) + 1;
  stats.per_position = draftedAt.slice(0, used).map((n, i) => acceptedAt[i] / n);
  const decodeSeconds = (performance.now() - decodeStart) / 1000;
  stats.decode_tok_s = decodeSeconds > 0 ? (out.length - producedBeforeDecode) / decodeSeconds : 0;
  return { tokens: out, stats };
}
