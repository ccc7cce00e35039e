/**
 * Generation through the prefix cache: each request takes the cache entry sharing the longest
 * prefix with its prompt, prefills only the rest (target and draft), decodes (speculatively or
 * not), and leaves the whole conversation cached for the next turn. `warm` computes and keeps
 * a prefix without generating: the system prompt as soon as it is set, then the user's message
 * as it is typed, so that on submit only the last few tokens remain.
 *
 * It reports how many prompt tokens came from the cache (`reused`: what hosted APIs call
 * cache_read_input_tokens); the request pipeline (src/engine/generation.ts) turns that into usage.
 */

import type { CausalLM, Sequence } from '../model/types';
import type { LogitRules } from '../sampling/logit-rules';
import { type DraftKind, draftSource } from '../speculative/draft-source';
import { type SpeculativeCounts, type SpeculativeOptions, speculativeGenerate } from '../speculative/speculative';
import { PrefixCache } from './prefix-cache';

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
}

export interface CachedResult {
  tokens: number[];
  /** Prompt tokens whose KV came from the cache. */
  reused: number;
  counts: SpeculativeCounts;
}

export class CachedGenerator<S extends Sequence, D extends Sequence> {
  readonly cache: PrefixCache<S, D>;

  constructor(
    readonly target: CausalLM<S>,
    readonly draft: CausalLM<D> | undefined,
    options: { capacity: number; budgetBytes: number },
  ) {
    this.cache = new PrefixCache<S, D>({ target, draft, ...options });
  }

  /**
   * Computes and caches the KV of `prompt` (both models), keeping its first `keep` tokens pinned
   * (all of it by default; a message still being typed would pin only what precedes it).
   * Returns how many tokens it had to compute.
   */
  warm(prompt: readonly number[], keep = prompt.length): Promise<{ computed: number; reused: number }> {
    return this.cache.exclusive(async () => {
      const { entry, reused } = this.cache.acquire(prompt);
      try {
        const rest = prompt.slice(entry.target.length);
        if (rest.length > 0) await this.target.greedy(entry.target, rest, 'last');
        if (this.draft && entry.draft) {
          const draftRest = prompt.slice(entry.draft.length);
          if (draftRest.length > 0) await this.draft.greedy(entry.draft, draftRest, 'last');
        }
        return { computed: prompt.length - reused, reused };
      } finally {
        this.cache.release(entry, prompt, keep);
      }
    });
  }

  /** Generates a reply to `prompt`, reusing and then extending the cache. */
  generate(prompt: readonly number[], request: CachedRequest): Promise<CachedResult> {
    return this.cache.exclusive(async () => {
      request.onStart?.();
      const { entry, reused } = this.cache.acquire(prompt);
      const tokens: number[] = [];
      // Generated tokens count from the end of the prompt; the draft takes the same rules, so
      // that it proposes what the target will choose.
      entry.target.setLogitRules(request.rules, prompt.length);
      entry.draft?.setLogitRules(request.rules, prompt.length);
      try {
        const draftModel = this.draft && entry.draft ? { model: this.draft, sequence: entry.draft } : undefined;
        const source = draftSource(request.draft, draftModel);
        const result = await speculativeGenerate(this.target, entry.target, source, [...prompt], {
          ...request,
          onToken: (token) => {
            tokens.push(token);
            request.onToken?.(token);
          },
        });
        return { tokens: result.tokens, reused, counts: result.counts };
      } finally {
        entry.target.setLogitRules(undefined, 0);
        entry.draft?.setLogitRules(undefined, 0);
        this.cache.release(entry, [...prompt, ...tokens], request.keep);
      }
    });
  }
}
