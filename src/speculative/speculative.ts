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
 * whose time is the yardstick: if speculation is measured clearly slower than plain decoding
 * over two windows of steps in a row, the rest of the request is decoded plainly.
 *
 * Like gpt-fast's `speculative_decode`, the loop returns tokens and raw counts; what they mean
 * (acceptance, tokens per target pass) is derived in stats.ts, and time is measured by callers.
 */

import { InvalidRequestError } from '../errors';
import type { GenerateOptions } from '../model/generate';
import type { SampledDeviceStep } from '../model/gpu-sampled-verify';
import type { CausalLM, Sequence } from '../model/types';
import type { TokenConstraint } from '../sampling/grammar';
import { type TokenLogprob, tokenLogprob } from '../sampling/logprobs';
import { distribution } from '../sampling/sampling';
import { allowAll, allowsAny, maskWords, onlyToken } from '../sampling/token-mask';
import { Rng } from '../util/rng';
import { type DraftHistory, type DraftLength, DraftLengthPolicy } from './draft-length';
import type { Draft, DraftKind, DraftSource } from './draft-source';
import { acceptSampledTree, acceptTree, type TreeDraft, treeDepths, treeTokens } from './tree';

export interface SpeculativeOptions extends GenerateOptions {
  /** Tokens drafted per step: fixed, or 'auto' (draft-length.ts). */
  draftLength: DraftLength;
  /**
   * With 'auto': what a draft token adds to a step (draft-length.ts: c), taken as the price of
   * every length instead of timing the steps, so that the lengths drafted follow from the
   * verdicts alone (a seeded sampled run then repeats exactly). Unset: steps are timed.
   */
  draftCost?: number;
  /**
   * With 'auto': what the steps so far taught it (acceptance and step times), kept by the caller
   * across generations of the same models (and kind of step) so that each starts from what the
   * earlier ones saw.
   */
  history?: DraftHistory;
  /** Measured fallback to plain decoding (default true). */
  fallback?: boolean;
  /** Polled between steps: returning true ends generation early (interrupt, stop strings). */
  shouldStop?: () => boolean;
  /**
   * Log-probabilities for each token with this many alternatives (sampling/logprobs.ts), given
   * to `onLogprob`; unset: none are computed, and no logits are read back for them.
   */
  logprobs?: number;
  onLogprob?: (logprob: TokenLogprob) => void;
  /**
   * Verify a tree: other candidates beside each of the first `tree` drafts as leaves
   * (tree.ts), where the target has a tree pass and the source proposes leaves. Not with
   * log-probabilities (a step then verifies a chain). Logit rules count each leaf's own path.
   */
  tree?: number;
  /** Leaves beside each of those drafts: 1 (the default) to 3; 2 verifies the top three candidates at each. */
  treeWidth?: number;
  /**
   * A grammar the reply must follow (sampling/grammar.ts): each row the target gives is masked
   * by it where the logits are; steps then verify a chain (no tree, no step on the device), and
   * tokens it allows alone are verified without drafting them. Accepted tokens advance it; it
   * ends the reply once it is complete.
   */
  constraint?: TokenConstraint;
}

/** What happened in a generation, counted as it ran. */
export interface SpeculativeCounts {
  draft: DraftKind;
  /** Speculative steps: one target pass over drafted tokens each. */
  steps: number;
  /** Tokens those steps produced: the accepted drafts and each step's own token. */
  produced: number;
  /** drafted[i]: steps that drafted a token at position i (0 = the first draft of a step). */
  drafted: number[];
  /** accepted[i]: steps whose draft at position i was accepted. */
  accepted: number[];
  targetForwards: number;
  draftForwards: number;
  /**
   * Tokens a grammar allowed alone, one after another: known without a draft, they were
   * verified in target passes of their own (not counted as steps, drafts or produced tokens).
   */
  forced: number;
  /** Why speculation was switched off part way (measured slower than plain decoding), if it was. */
  fallback?: string;
}

const FALLBACK_WINDOW = 8; // speculative steps per comparison with plain decoding
/**
 * Speculation is switched off only when FALLBACK_WINDOWS windows in a row were slower per token
 * than the plain step by this factor: the yardstick is one step, and a step's time swings (on
 * SwiftShader a plain step's median is 6.5 ms and one in forty takes 18 ms or more), so a window
 * a few percent slower says little, and switching off a speculation that pays costs its whole
 * gain for the rest of the reply.
 */
const FALLBACK_MARGIN = 1.2;
const FALLBACK_WINDOWS = 2;
/** Tokens a grammar forces that one target pass verifies at most (a verify tile's worth). */
const MAX_FORCED = 16;

/** A verified step: the drafts (at least the accepted ones), how many were drafted and accepted, the target's next token. */
interface VerifiedStep {
  drafts: number[];
  drafted: number;
  accepted: number;
  next: number;
  /** The rows the tokens were chosen from, when they were read back. */
  logits?: Float32Array;
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function speculativeGenerate<S extends Sequence>(
  target: CausalLM<S>,
  sequence: S,
  source: DraftSource,
  prompt: number[],
  options: SpeculativeOptions,
): Promise<{ tokens: number[]; counts: SpeculativeCounts }> {
  const { sampling, maxTokens } = options;
  const greedy = sampling.temperature <= 0;
  const width = options.treeWidth ?? 1;
  const rng = new Rng(options.seed ?? 0);
  const stop = new Set(options.stopTokens ?? []);
  // Given a draft cost, lengths follow from this generation's verdicts alone: no step times,
  // measured or kept, and nothing learned before.
  const timed = options.draftCost === undefined;
  const policy = new DraftLengthPolicy(options.draftLength, options.draftCost, timed ? options.history : undefined);
  const out: number[] = [];
  const context = [...prompt];
  const counts: SpeculativeCounts = {
    draft: source.kind,
    steps: 0,
    produced: 0,
    drafted: new Array<number>(policy.longest).fill(0),
    accepted: new Array<number>(policy.longest).fill(0),
    targetForwards: 0,
    draftForwards: 0,
    forced: 0,
  };
  let done = false;
  const vocab = target.config.vocabSize;
  const logprobs = options.logprobs;
  const constraint = options.constraint;
  /** Emits `token`, chosen from `row` (its logits), which log-probabilities are read from when asked. */
  const emit = (token: number, row: Float32Array | undefined) => {
    if (done) return;
    if (constraint && !constraint.accept(token))
      throw new Error(`the grammar refused token ${token}, chosen under its mask`);
    out.push(token);
    context.push(token);
    if (logprobs !== undefined && row) options.onLogprob?.(tokenLogprob(row, token, logprobs));
    options.onToken?.(token);
    if (stop.has(token) || out.length >= maxTokens || options.shouldStop?.() || constraint?.terminated) done = true;
  };
  /** The tokens the grammar allows next; an error where it allows none of the model's. */
  const allowedNow = async (grammar: TokenConstraint): Promise<Uint32Array<ArrayBuffer>> => {
    const mask = await grammar.allowed();
    if (!allowsAny(mask, vocab)) {
      throw new InvalidRequestError(
        'The response format allows no token of this model at this point of the reply: ' +
          'its vocabulary cannot spell what the schema or grammar requires.',
      );
    }
    return mask;
  };
  /**
   * The target's next token after `tokens`, from the last row: plain decoding reads back an id
   * (the argmax, or a draw made where the logits are), and the row too when log-probabilities
   * are asked. Under a grammar the row is masked where it is, before the choice.
   */
  const plainStep = async (tokens: ArrayLike<number>): Promise<[number, Float32Array | undefined]> => {
    counts.targetForwards++;
    if (constraint) sequence.maskNextPass(await allowedNow(constraint));
    const seed = greedy ? 0 : rng.nextUint32();
    if (logprobs !== undefined) {
      const { id, logits } = await target.sampleWithLogits(sequence, tokens, sampling, seed);
      return [id, logits];
    }
    return [
      greedy
        ? (await target.greedy(sequence, tokens, 'last'))[0]
        : await target.sample(sequence, tokens, sampling, seed),
      undefined,
    ];
  };

  emit(...(await plainStep(prompt.slice(sequence.length))));
  const decodeStart = performance.now();
  if (!done) emit(...(await plainStep([context[context.length - 1]])));
  const plainMsPerToken = performance.now() - decodeStart;

  /** Emits a verified step's accepted drafts and the target's token after them, each with its row if read back. */
  const emitVerified = ({ drafts, accepted, next, logits }: VerifiedStep) => {
    const rowOf = (i: number) => logits?.subarray(i * vocab, (i + 1) * vocab);
    for (let i = 0; i < accepted; i++) emit(drafts[i], rowOf(i));
    emit(next, rowOf(accepted));
  };

  /** The target's verify pass over the newest token and `draft`, and the acceptance rule. */
  const verify = async (draft: Draft, last: number): Promise<VerifiedStep> => {
    if (constraint) sequence.maskNextPass(await verifyMasks(constraint, draft.tokens));
    const leaves = draft.leaves ?? [];
    if (greedy && leaves.length > 0 && target.greedyTree) return verifyGreedyTree(draft, leaves, last);
    if (!greedy && leaves.length > 0 && target.forwardTree) return verifySampledTree(draft, leaves, last);
    const input = [last, ...draft.tokens];
    if (!greedy) {
      const rows = await target.forward(sequence, input);
      return acceptSampled(rows, { chain: draft.tokens, leaves: [] }, (i) => draft.probs?.[i]);
    }
    let choices: Uint32Array;
    let logits: Float32Array | undefined; // read back for log-probabilities
    if (logprobs === undefined) choices = await target.greedy(sequence, input, 'all');
    else ({ ids: choices, logits } = await target.greedyWithLogits(sequence, input, 'all'));
    let accepted = 0;
    while (accepted < draft.tokens.length && draft.tokens[accepted] === choices[accepted]) accepted++;
    const next = choices[accepted];
    return { drafts: draft.tokens, drafted: draft.tokens.length, accepted, next, logits };
  };

  /**
   * The tokens the grammar allows alone from here, one after another (at most `max`; up to a
   * stop token that completes it): walked, then taken back. The target must choose each (its
   * masked row allows nothing else, for greedy decoding and sampling alike), so one pass over
   * them verifies all, as drafts that cannot be rejected: JSON's keys and punctuation under a
   * schema cost a pass together instead of a pass each.
   */
  const forcedRun = async (grammar: TokenConstraint, max: number): Promise<number[]> => {
    const tokens: number[] = [];
    while (tokens.length < max && !grammar.terminated) {
      const only = onlyToken(await grammar.allowed(), vocab);
      if (only === undefined || !grammar.accept(only)) break;
      tokens.push(only);
    }
    grammar.rollBack(tokens.length);
    return tokens;
  };

  /**
   * The masks of a verify pass under a grammar: row i's is the grammar's state after drafts
   * 0..i-1 (the matcher walks the drafts and is rolled back), so the rule takes each row as
   * plain constrained decoding would. Rows after a draft the grammar forbids allow every token:
   * that draft is rejected (its row's mask leaves it out), so they are never read; nor are rows
   * after a stop token that completes the grammar, where the reply ends.
   */
  const verifyMasks = async (grammar: TokenConstraint, drafts: number[]): Promise<Uint32Array<ArrayBuffer>> => {
    const words = maskWords(vocab);
    const masks = allowAll(drafts.length + 1, vocab);
    let walked = 0;
    for (let i = 0; i <= drafts.length; i++) {
      masks.set(await allowedNow(grammar), i * words);
      if (i === drafts.length || !grammar.accept(drafts[i])) break;
      walked++;
      if (grammar.terminated) break; // a stop token the grammar took: the reply ends there
    }
    grammar.rollBack(walked);
    return masks;
  };

  /**
   * The acceptance rule over the target's rows after the newest token and each draft, left to
   * right, and over a tree's leaves (tree.ts); `probsOf(i)` is the distribution draft i was
   * drawn from (undefined: one-hot). An accepted leaf moves to its position.
   */
  const acceptSampled = (
    rows: Float32Array,
    tree: TreeDraft,
    probsOf: (i: number) => Float64Array | undefined,
  ): VerifiedStep => {
    const row = (i: number) => rows.subarray(i * vocab, (i + 1) * vocab);
    const { accepted, next, leaf } = acceptSampledTree(row, tree, probsOf, sampling, rng);
    if (leaf !== undefined) moveLeaf(tree, leaf);
    return { drafts: accepted, drafted: tree.chain.length, accepted: accepted.length, next, logits: rows };
  };

  /**
   * A sampled step taken on the device: its verdict where the device applied the rule, else
   * the rule here over the rows it read back, each draft's q formed when reached.
   */
  const acceptOnDevice = (step: SampledDeviceStep): VerifiedStep => {
    const { drafts, verdict, draftRows, targetRows } = step;
    const tree = { chain: drafts, leaves: step.leaves ?? [] };
    if (verdict) {
      const { accepted, next, leaf } = verdict;
      if (leaf !== undefined) moveLeaf(tree, leaf);
      const taken =
        leaf === undefined ? drafts.slice(0, accepted) : [...drafts.slice(0, accepted - 1), tree.leaves.flat()[leaf]];
      return { drafts: taken, drafted: drafts.length, accepted, next, logits: targetRows };
    }
    if (!draftRows || !targetRows) throw new Error('a sampled step without its verdict must bring its rows back');
    const width = draftRows.length / drafts.length;
    const probsOf = (i: number) => distribution(draftRows.subarray(i * width, (i + 1) * width), sampling);
    return acceptSampled(targetRows, tree, probsOf);
  };

  /**
   * After a tree pass, an accepted leaf's keys and values move from their slot (`leaf` among the
   * leaves, after the chain's) to its position, after the accepted part of the chain.
   */
  const moveLeaf = (tree: TreeDraft, leaf: number) => {
    const leaves = tree.leaves.length * treeDepths(tree);
    const newest = sequence.length - 1 - tree.chain.length - leaves; // the pass's first position
    target.moveSlot?.(sequence, newest + 1 + tree.chain.length + leaf, newest + 1 + (leaf % treeDepths(tree)));
  };

  /** A greedy tree (tree.ts): the chain while the target agrees, or the leaf it chose instead. */
  const verifyGreedyTree = async (draft: Draft, leaves: number[][], last: number): Promise<VerifiedStep> => {
    const tree = { chain: draft.tokens, leaves };
    const choices = await target.greedyTree?.(
      sequence,
      treeTokens(last, tree),
      draft.tokens.length + 1,
      treeDepths(tree),
    );
    if (!choices) throw new Error('the target has no tree verify pass');
    const { accepted, next, leaf } = acceptTree(tree, choices);
    if (leaf !== undefined) moveLeaf(tree, leaf);
    return { drafts: accepted, drafted: draft.tokens.length, accepted: accepted.length, next };
  };

  /** A sampled tree (tree.ts): its pass, then the rule over the rows. */
  const verifySampledTree = async (draft: Draft, leaves: number[][], last: number): Promise<VerifiedStep> => {
    const tree = { chain: draft.tokens, leaves };
    const rows = await target.forwardTree?.(sequence, treeTokens(last, tree), tree.chain.length + 1, treeDepths(tree));
    if (!rows) throw new Error('the target has no tree verify pass');
    return acceptSampled(rows, tree, (i) => draft.probs?.[i]);
  };

  let speculating = source.kind !== 'none';
  let windowTokens = 0;
  const windowStepMs: number[] = []; // the times of the window's steps so far
  const slowWindows: number[] = []; // ms per token of the windows in a row slower than the margin
  let stepStart = performance.now(); // a step's time runs from the end of the one before
  while (!done) {
    const last = context[context.length - 1];
    // No more drafts than target and draft can take back (Gated DeltaNet states are kept for a
    // few positions), nor than the reply has room for. The next step's length is fixed now, so
    // that a step on the device can record it while the GPU runs this one (draft-length.ts).
    const cutBack = Math.min(
      target.maxCutBack ?? Number.POSITIVE_INFINITY,
      source.maxCutBack ?? Number.POSITIVE_INFINITY,
    );
    const k = Math.min(policy.k, maxTokens - out.length - 1, cutBack);
    const base = sequence.length;
    const contextLength = context.length;
    // Leaves only where the tree pass has room in the cache (none near its end) and in a batch,
    // and not in a target that keeps recurrent states (maxCutBack): its branches would need one each.
    const treePass = target.maxCutBack !== undefined ? undefined : greedy ? target.greedyTree : target.forwardTree;
    const depths = logprobs === undefined && !constraint && treePass ? (options.tree ?? 0) : 0;
    const leavesFor = (drafts: number, free: number) => {
      const room = Math.min(free, target.maxBatch ?? Number.POSITIVE_INFINITY) - 1 - drafts;
      return Math.max(0, Math.min(depths, drafts, Math.floor(room / width)));
    };
    const leaves = leavesFor(k, sequence.capacity - sequence.length);
    // The next step's, recorded ahead while this one runs: its room as if every draft is accepted.
    const next = Math.min(policy.next, cutBack);
    const lengths = { k, next, nextLeaves: leavesFor(next, sequence.capacity - sequence.length - k - 1) };
    // A step on the device when the source can take one (drafts, verify and, as the profile
    // says, the acceptance rule, of a tree as well, with one readback); else the draft comes back
    // to the CPU and is verified here.
    const deviceStep = speculating && k >= 1 && !constraint;
    const onDevice =
      deviceStep && greedy && logprobs === undefined
        ? await source.greedyStepOnDevice?.({ model: target, sequence }, context, lengths, leaves, width)
        : undefined;
    const sampledOnDevice =
      deviceStep && !greedy
        ? await source.sampledStepOnDevice?.(
            { model: target, sequence },
            context,
            lengths,
            { sampling, rng, rows: logprobs !== undefined },
            leaves,
            width,
          )
        : undefined;
    let step: VerifiedStep;
    if (onDevice) {
      step = {
        drafts: onDevice.accepted,
        drafted: onDevice.drafted,
        accepted: onDevice.accepted.length,
        next: onDevice.next,
      };
    } else if (sampledOnDevice) {
      step = acceptOnDevice(sampledOnDevice);
    } else {
      // Room for the forced tokens and the target's token after them, in the reply and the cache.
      const forcedRoom = Math.min(MAX_FORCED, maxTokens - out.length - 1, sequence.capacity - sequence.length - 1);
      const forced = constraint ? await forcedRun(constraint, forcedRoom) : [];
      if (forced.length > 0) {
        const verified = await verify({ tokens: forced }, last);
        if (verified.accepted !== forced.length) throw new Error('the target refused a token its grammar forced');
        counts.targetForwards++;
        counts.forced += verified.accepted;
        source.rollback(contextLength + verified.accepted);
        emitVerified(verified);
        stepStart = performance.now();
        continue;
      }
      const draft = speculating
        ? await source.propose(context, {
            k,
            minConfidence: policy.minConfidence,
            sampling,
            rng,
            leaves,
            width,
            constraint,
          })
        : { tokens: [] };
      if (draft.tokens.length === 0) {
        emit(...(await plainStep([last])));
        stepStart = performance.now();
        continue;
      }
      step = await verify(draft, last);
    }
    counts.steps++;
    counts.targetForwards++;
    const { accepted } = step;
    sequence.truncate(base + 1 + accepted); // keep the newest token and the accepted drafts
    source.rollback(contextLength + accepted);

    for (let i = 0; i < step.drafted; i++) counts.drafted[i]++;
    for (let i = 0; i < accepted; i++) counts.accepted[i]++;
    const before = out.length;
    emitVerified(step);
    counts.produced += out.length - before;
    windowTokens += out.length - before;
    const now = performance.now();
    const stepMs = now - stepStart;
    policy.update(accepted, step.drafted, timed ? stepMs : undefined);
    stepStart = now;
    if (options.fallback === false) continue;

    windowStepMs.push(stepMs);
    if (windowStepMs.length === FALLBACK_WINDOW) {
      // The median step, as the yardstick is one step: a hiccup of the host in the window
      // (a garbage collection, a busy GPU) must not count against speculation alone.
      const specMsPerToken = (median(windowStepMs) * FALLBACK_WINDOW) / windowTokens;
      if (specMsPerToken > FALLBACK_MARGIN * plainMsPerToken) slowWindows.push(specMsPerToken);
      else slowWindows.length = 0;
      if (slowWindows.length === FALLBACK_WINDOWS) {
        speculating = false;
        counts.fallback =
          `speculation took ${slowWindows.map((ms) => ms.toFixed(1)).join(' and ')} ms per token in ` +
          `${FALLBACK_WINDOWS} windows of ${FALLBACK_WINDOW} steps in a row, plain decoding ` +
          `${plainMsPerToken.toFixed(1)} ms: decoding the rest plainly`;
      }
      windowTokens = 0;
      windowStepMs.length = 0;
    }
  }
  counts.draftForwards = source.forwards;
  return { tokens: out, counts };
}
