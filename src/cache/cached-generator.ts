/**
 * Generation through the prefix cache: each request takes the cache entry sharing the longest
 * prefix with its prompt, prefills only the rest (target and draft), decodes (speculatively or
 * not), and leaves the whole conversation cached for the next turn. `warm` computes and keeps
 * a prefix without generating: the system prompt as soon as it is set, then the user's message
 * as it is typed, so that on submit only the last few tokens remain.
 *
 * With a prefix store (prefix-store.ts), pinned prefixes outlive the page: a warm or a request
 * whose prompt starts with a stored prefix that memory does not hold reads its rows from disk
 * into an entry, and a newly pinned prefix is read back from the GPU and stored. The read-back
 * is queued inside the request's turn (so what it reads is fixed) but awaited outside it, and
 * the write runs behind: no reply waits for the disk.
 *
 * It reports how many prompt tokens came from the cache (`reused`: what hosted APIs call
 * cache_read_input_tokens), how many of those were read from disk for this request, and where
 * the prompt parted from the cached tokens sharing most with it; the request pipeline
 * (src/engine/generation.ts) turns that into usage.
 */

import { isEagleTarget } from '../model/eagle';
import { type CausalLM, type Sequence, storedPrefixBytes } from '../model/types';
import type { LogitRules } from '../sampling/logit-rules';
import { DraftHistory } from '../speculative/draft-length';
import { type DraftKind, draftSource } from '../speculative/draft-source';
import { type SpeculativeCounts, type SpeculativeOptions, speculativeGenerate } from '../speculative/speculative';
import { type CacheEntry, type Divergence, PrefixCache } from './prefix-cache';
import type { PrefixStore } from './prefix-store';

export interface CachedRequest extends SpeculativeOptions {
  draft: DraftKind;
  /**
   * Explicit cache breakpoint: the first `keep` prompt tokens are a prefix worth keeping (the end
   * of a message marked cache_control: {type: 'ephemeral'}); later requests that diverge inside
   * it leave it intact.
   */
  keep?: number;
  /** Called when the request's turn comes, after any cache work queued before it. */
  onStart?: () => void;
  /** Logit bias and penalties (sampling/logit-rules.ts), on the target and the draft model alike. */
  rules?: LogitRules;
  /** Called after each chunk of the prompt's prefill: target positions done, of the prompt's. */
  onPrefill?: (done: number, total: number) => void;
}

export interface CachedResult {
  tokens: number[];
  /** Prompt tokens whose KV came from the cache. */
  reused: number;
  /** Of those, the ones read from the prefix store (disk) for this request. */
  restored: number;
  /** Where the prompt parted from the cached tokens sharing most with it, if it did. */
  divergence?: Divergence;
  counts: SpeculativeCounts;
}

export interface GeneratorOptions {
  /** Tokens each cache entry can hold (prompt and reply). */
  capacity: number;
  /** GPU bytes the cache may keep in KV caches. */
  budgetBytes: number;
  /** Pinned prefixes kept on disk across pages (none: memory only). */
  store?: PrefixStore;
  /** A text for a stored prefix's listing. */
  describe?: (tokens: readonly number[]) => string;
}

export class CachedGenerator<S extends Sequence, D extends Sequence> {
  readonly cache: PrefixCache<S, D>;

  readonly store: PrefixStore | undefined;

  /**
   * What 'auto' timed, for each kind of step (draft source, tree, greedy or sampled, with or
   * without log-probabilities): each request's steps start from what earlier ones measured.
   */
  private readonly histories = new Map<string, DraftHistory>();

  constructor(
    readonly target: CausalLM<S>,
    readonly draft: CausalLM<D> | undefined,
    private readonly options: GeneratorOptions,
  ) {
    const { capacity, budgetBytes } = options;
    this.cache = new PrefixCache<S, D>({ target, draft, capacity, budgetBytes });
    this.store = options.store;
  }

  /**
   * Computes and caches the KV of `prompt` (both models), keeping its first `keep` tokens pinned
   * (all of it by default; a message still being typed would pin only what precedes it), in
   * chunks of PREFILL_CHUNK with `onPrefill` after each and a look at `shouldStop` between them:
   * a stopped warm keeps what it computed. Returns how many tokens it had to compute.
   */
  warm(
    prompt: readonly number[],
    keep = prompt.length,
    options: Pick<CachedRequest, 'onPrefill' | 'shouldStop' | 'onStart'> = {},
  ): Promise<{ computed: number; reused: number; restored: number; stopped: boolean }> {
    return this.cache.exclusive(async () => {
      options.onStart?.();
      const fromDisk = await this.restore(prompt);
      const { entry, reused } = await this.cache.acquire(prompt);
      try {
        const runs: [CausalLM<Sequence>, Sequence][] = [[this.target, entry.target]];
        if (this.draft && entry.draft) runs.push([this.draft, entry.draft]);
        await this.prefillChunks(runs, prompt, prompt.length, options);
        const stopped = runs.some(([, sequence]) => sequence.length < prompt.length);
        if (!stopped) await this.persist(entry, prompt.slice(0, keep));
        const computed = entry.target.length - reused;
        return { computed, reused, restored: Math.min(fromDisk, reused), stopped };
      } finally {
        this.cache.release(entry, prompt, keep);
      }
    });
  }

  /** Generates a reply to `prompt`, reusing and then extending the cache. */
  generate(prompt: readonly number[], request: CachedRequest): Promise<CachedResult> {
    return this.cache.exclusive(async () => {
      request.onStart?.();
      await this.restore(prompt);
      const parted = this.cache.divergence(prompt);
      const { entry, reused, restored } = await this.cache.acquire(prompt);
      // A miss only if nothing else in the cache served the prompt further.
      const divergence = parted && reused <= parted.at ? parted : undefined;
      entry.restored = 0; // reported by this request
      const tokens: number[] = [];
      // Generated tokens count from the end of the prompt; the draft takes the same rules, so
      // that it proposes what the target will choose.
      entry.target.setLogitRules(request.rules, prompt.length);
      entry.draft?.setLogitRules(request.rules, prompt.length);
      try {
        if (await this.prefill(entry, prompt, request)) {
          return { tokens, reused, restored, divergence, counts: NOTHING_GENERATED };
        }
        const draftModel = this.draft && entry.draft ? { model: this.draft, sequence: entry.draft } : undefined;
        // 'model' asks for the loaded draft: a draft model, or the target's EAGLE head.
        const kind = request.draft === 'model' && !draftModel && isEagleTarget(this.target) ? 'eagle' : request.draft;
        const source = draftSource(kind, draftModel, { model: this.target, sequence: entry.target });
        const step = [
          kind,
          request.tree ?? 0,
          request.treeWidth ?? 1,
          request.sampling.temperature > 0,
          request.logprobs,
          request.constraint !== undefined, // a constrained step reads its rows back
        ];
        const result = await speculativeGenerate(this.target, entry.target, source, [...prompt], {
          ...request,
          history: request.history ?? this.historyOf(step.join()),
          tree: request.tree,
          onToken: (token) => {
            tokens.push(token);
            request.onToken?.(token);
          },
        });
        if (request.keep) await this.persist(entry, prompt.slice(0, request.keep));
        return { tokens: result.tokens, reused, restored, divergence, counts: result.counts };
      } finally {
        entry.target.setLogitRules(undefined, 0);
        entry.draft?.setLogitRules(undefined, 0);
        this.cache.release(entry, [...prompt, ...tokens], request.keep);
      }
    });
  }

  /** What 'auto' learned of one kind of step. */
  private historyOf(step: string): DraftHistory {
    const history = this.histories.get(step) ?? new DraftHistory();
    this.histories.set(step, history);
    return history;
  }

  /**
   * Reads the stored prefix sharing most with `prompt` into a cache entry, when it holds more of
   * the prompt than memory does. A stored prefix whose rows do not fit these models is dropped.
   */
  private async restore(prompt: readonly number[]): Promise<number> {
    const { store } = this;
    if (!store) return 0;
    const found = await store.longest(prompt, this.options.capacity);
    const serves = found ? Math.min(found.shared, prompt.length - 1) : 0;
    if (!found || serves <= this.cache.longestMatch(prompt)) return 0;
    // A model with Gated DeltaNet layers holds their state at a stored prefix's end only: the
    // prefix serves a prompt that goes past all of it.
    const recurrent = this.target.maxCutBack !== undefined || this.draft?.maxCutBack !== undefined;
    if (recurrent && serves < found.record.tokens.length) return 0;
    const rows = await store.load(found.record);
    if (!rows) return 0;
    const { tokens } = found.record;
    const fits =
      rows.target.byteLength === storedPrefixBytes(this.target, tokens.length) &&
      (!this.draft || rows.draft?.byteLength === storedPrefixBytes(this.draft, tokens.length));
    if (!fits) {
      await store.discard(found.record, 'its rows do not fit the loaded models');
      return 0;
    }
    await this.cache.adopt(tokens, async (entry) => {
      await this.target.writePrefix(entry.target, tokens, rows.target);
      if (this.draft && entry.draft && rows.draft) await this.draft.writePrefix(entry.draft, tokens, rows.draft);
    });
    return tokens.length;
  }

  /**
   * Stores the first `tokens` of an entry, unless the store holds them already: the rows'
   * copies are queued now, inside this turn; reading them back and writing run behind.
   */
  private async persist(entry: CacheEntry<S, D>, tokens: readonly number[]): Promise<void> {
    const { store } = this;
    const n = tokens.length;
    if (!store || n === 0 || entry.target.length < n || (this.draft && (entry.draft?.length ?? 0) < n)) return;
    // A sequence with Gated DeltaNet layers keeps its state for its last positions only.
    const restorable = (sequence: Sequence | undefined) => !sequence?.restorable || sequence.restorable(n) === n;
    if (!restorable(entry.target) || (this.draft && !restorable(entry.draft))) return;
    if (await store.holds(tokens)) return;
    const target = this.target.readPrefix(entry.target, n);
    const draft = this.draft && entry.draft ? this.draft.readPrefix(entry.draft, n) : undefined;
    const rows = Promise.all([target, draft]).then(([t, d]) => ({ target: t, ...(d ? { draft: d } : {}) }));
    void store.save(tokens, rows, this.options.describe?.(tokens) ?? '');
  }

  /**
   * Runs all but the last prompt token through the target (and the draft model, when the
   * request drafts with it): `prefillChunks`. Returns whether it was stopped.
   */
  private prefill(entry: CacheEntry<S, D>, prompt: readonly number[], request: CachedRequest): Promise<boolean> {
    const runs: [CausalLM<Sequence>, Sequence][] = [[this.target, entry.target]];
    if (request.draft === 'model' && this.draft && entry.draft) runs.push([this.draft, entry.draft]);
    return this.prefillChunks(runs, prompt, prompt.length - 1, request);
  }

  /**
   * Runs the first `end` prompt tokens through each (model, sequence) of `runs` (what each has
   * not seen) in chunks of PREFILL_CHUNK, asking `shouldStop` between chunks, so that Stop ends a
   * long prompt's prefill within one chunk; `onPrefill` hears of the target's progress. The rows
   * are the ones one pass would give: kernels are batch-invariant. Returns whether it was stopped.
   */
  private async prefillChunks(
    runs: [CausalLM<Sequence>, Sequence][],
    prompt: readonly number[],
    end: number,
    hooks: Pick<CachedRequest, 'onPrefill' | 'shouldStop'>,
  ): Promise<boolean> {
    for (const [model, sequence] of runs) {
      while (sequence.length < end) {
        if (hooks.shouldStop?.()) return true;
        await model.greedy(
          sequence,
          prompt.slice(sequence.length, Math.min(end, sequence.length + PREFILL_CHUNK)),
          'last',
        );
        if (model === this.target) hooks.onPrefill?.(sequence.length, prompt.length);
      }
    }
    return hooks.shouldStop?.() ?? false;
  }
}

/** Prompt tokens prefilled between two looks at Stop: about a second on a CPU adapter, milliseconds on a GPU. */
export const PREFILL_CHUNK = 256;

const NOTHING_GENERATED: SpeculativeCounts = {
  draft: 'none',
  steps: 0,
  produced: 0,
  drafted: [],
  accepted: [],
  targetForwards: 0,
  draftForwards: 0,
  forced: 0,
};
