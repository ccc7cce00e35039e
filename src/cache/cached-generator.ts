/**
 * Generation through the prefix cache: each request takes the cache entry sharing the longest
 * prefix with its prompt, prefills only the rest (target and draft), decodes (speculatively or
 * not), and leaves the whole conversation cached for the next turn. `warm` computes and keeps
 * a prefix without generating: the system prompt as soon as it is set, then the user's message
 * as it is typed, so that on submit only the last few tokens remain.
 *
 * Usage is reported as hosted APIs report it: prompt_tokens, cache_read_input_tokens (prompt
 * tokens whose KV was reused), cache_creation_input_tokens (prompt tokens computed and now
 * cached), prompt_tokens_details.cached_tokens, and the time to first token.
 */

import type { CausalLM, Sequence } from '../model/types';
import type { DraftSource } from '../spec/draft-source';
import { noDraft } from '../spec/draft-source';
import { ModelDraftSource } from '../spec/model-draft';
import { PromptLookupSource } from '../spec/prompt-lookup';
import { AUTO_CONFIDENCE, type SpecStats, type SpeculativeOptions, speculativeGenerate } from '../spec/speculative';
import { PrefixCache } from './prefix-cache';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  ttft_ms: number;
}

export type DraftKind = 'model' | 'ngram' | 'none';

export interface CachedRequest extends Omit<SpeculativeOptions, 'draftLength'> {
  draft: DraftKind;
  draftLength: SpeculativeOptions['draftLength'];
  /**
   * Explicit cache breakpoint: the first `keep` prompt tokens are a prefix worth keeping (the end
   * of a message marked cache_control: {type: 'ephemeral'}); later requests that diverge inside
   * it leave it intact.
   */
  keep?: number;
}

export interface CachedResult {
  tokens: number[];
  usage: Usage;
  spec: SpecStats;
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
    const start = performance.now();
    let firstTokenAt = 0;
    return this.cache.exclusive(async () => {
      const { entry, reused } = this.cache.acquire(prompt);
      const tokens: number[] = [];
      try {
        const source = this.draftSource(request, entry.draft);
        const result = await speculativeGenerate(this.target, entry.target, source, [...prompt], {
          ...request,
          onToken: (token) => {
            if (tokens.length === 0) firstTokenAt = performance.now();
            tokens.push(token);
            request.onToken?.(token);
          },
        });
        const usage: Usage = {
          prompt_tokens: prompt.length,
          completion_tokens: result.tokens.length,
          total_tokens: prompt.length + result.tokens.length,
          cache_creation_input_tokens: prompt.length - reused,
          cache_read_input_tokens: reused,
          prompt_tokens_details: { cached_tokens: reused },
          ttft_ms: firstTokenAt - start,
        };
        return { tokens: result.tokens, usage, spec: result.stats };
      } finally {
        this.cache.release(entry, [...prompt, ...tokens], request.keep);
      }
    });
  }

  private draftSource(request: CachedRequest, sequence: D | undefined): DraftSource {
    if (request.draft === 'ngram') return new PromptLookupSource();
    if (request.draft === 'model' && this.draft && sequence) {
      const confidence = request.draftLength === 'auto' ? AUTO_CONFIDENCE : 0;
      return new ModelDraftSource(this.draft, sequence, confidence);
    }
    return noDraft;
  }
}
