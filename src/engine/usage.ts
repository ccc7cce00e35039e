/**
 * A reply's usage: the one place it is built, for every caller, in the field names of web-llm
 * and of the hosted APIs' prompt caching.
 *
 *   prompt_tokens                 tokens of the prompt
 *   cache_read_input_tokens       of those, read from the prefix cache (= prompt_tokens_details.cached_tokens)
 *   cache_creation_input_tokens   of those, computed and now cached
 *   prompt_tokens_details         cached_tokens, and where they came from (cache_source): this
 *                                 page's memory, or the prefix store on disk (disk_tokens of them)
 *   cache_miss                    where the prompt parted from the cached tokens sharing most with
 *                                 it, with both texts there: the usual cause of a miss is a
 *                                 timestamp or a template that differs
 *   completion_tokens             tokens generated
 *   extra                         web-llm's timings: time to first token, prefill and decode speed,
 *                                 time per output token, end-to-end latency
 *   spec                          with a draft source: acceptance and tokens per target pass
 *
 * All timings come from one clock (`ReplyClock`): started when the request starts, read when
 * its first token arrives and when it ends. Prefill speed is the computed prompt tokens over the
 * time to the first token; decode speed is the tokens after the first over the time after it.
 */

import type { CompletionUsage } from '@mlc-ai/web-llm';
import { combinedSpecStats, type SpecStats } from '../speculative/stats';

export interface TandemUsage extends CompletionUsage {
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  prompt_tokens_details: {
    cached_tokens: number;
    /** 'disk' when some of them were read from the prefix store for this request. */
    cache_source: 'none' | 'memory' | 'disk';
    /** Of the cached tokens, those read from the prefix store on disk. */
    disk_tokens: number;
  };
  cache_miss?: CacheMiss;
  spec?: SpecStats;
}

/** Where a prompt parted from the cached tokens sharing most with it. */
export interface CacheMiss {
  /** The first prompt token that differs: tokens before it were read from the cache. */
  at_token: number;
  /** The text around that token, as cached and as in this prompt (a few tokens either side). */
  cached_text: string;
  prompt_text: string;
}

/** One clock for a reply: when it started, when its first token came, when it ended (milliseconds). */
export class ReplyClock {
  readonly started = performance.now();
  firstToken: number | undefined;
  ended: number | undefined;

  /** Notes a token; only the first one's time is kept. */
  token(): void {
    this.firstToken ??= performance.now();
  }

  end(): void {
    this.ended = performance.now();
  }

  /** Milliseconds to the first token (the whole reply's time if none came). */
  get ttftMs(): number {
    return (this.firstToken ?? this.endedAt) - this.started;
  }

  /** Tokens per second after the first one, for a reply of `tokens` tokens (0 with fewer than two). */
  decodeTokensPerSecond(tokens: number): number {
    const seconds = (this.endedAt - (this.firstToken ?? this.endedAt)) / 1000;
    return tokens > 1 && seconds > 0 ? (tokens - 1) / seconds : 0;
  }

  private get endedAt(): number {
    return this.ended ?? performance.now();
  }
}

export interface UsageCounts {
  promptTokens: number;
  /** Prompt tokens read from the prefix cache. */
  cachedTokens: number;
  /** Of those, read from the prefix store on disk. */
  diskTokens?: number;
  cacheMiss?: CacheMiss;
  completionTokens: number;
  clock: ReplyClock;
  spec?: SpecStats;
}

export function buildUsage({
  promptTokens,
  cachedTokens,
  diskTokens = 0,
  cacheMiss,
  completionTokens,
  clock,
  spec,
}: UsageCounts): TandemUsage {
  const ttft = clock.ttftMs / 1000;
  const decodeTokS = clock.decodeTokensPerSecond(completionTokens);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    cache_creation_input_tokens: promptTokens - cachedTokens,
    cache_read_input_tokens: cachedTokens,
    prompt_tokens_details: {
      cached_tokens: cachedTokens,
      cache_source: diskTokens > 0 ? 'disk' : cachedTokens > 0 ? 'memory' : 'none',
      disk_tokens: diskTokens,
    },
    extra: {
      e2e_latency_s: ((clock.ended ?? performance.now()) - clock.started) / 1000,
      prefill_tokens_per_s: ttft > 0 ? (promptTokens - cachedTokens) / ttft : 0,
      decode_tokens_per_s: decodeTokS,
      time_to_first_token_s: ttft,
      time_per_output_token_s: decodeTokS > 0 ? 1 / decodeTokS : 0,
    },
    ...(cacheMiss ? { cache_miss: cacheMiss } : {}),
    ...(spec ? { spec } : {}),
  };
}

/**
 * The usage of a request's `n` replies, made one after another: the prompt as the first reply
 * read it (computed or cached once; the later ones read it from the cache), the generated
 * tokens of all, the first reply's time to first token and prefill speed, decode speed over
 * all replies' decoding, and their end-to-end latencies summed.
 */
export function combinedUsage(all: TandemUsage[]): TandemUsage {
  const [first] = all;
  if (all.length === 1) return first;
  const completion = all.reduce((total, u) => total + u.completion_tokens, 0);
  // Each reply decodes its tokens after the first at its own speed: the time that took.
  let decoded = 0;
  let decodeSeconds = 0;
  for (const u of all) {
    if (u.extra.decode_tokens_per_s <= 0) continue;
    decoded += u.completion_tokens - 1;
    decodeSeconds += (u.completion_tokens - 1) / u.extra.decode_tokens_per_s;
  }
  const decodeTokS = decodeSeconds > 0 ? decoded / decodeSeconds : 0;
  const specs = all.flatMap((u) => (u.spec ? [u.spec] : []));
  return {
    ...first,
    completion_tokens: completion,
    total_tokens: first.prompt_tokens + completion,
    extra: {
      ...first.extra,
      e2e_latency_s: all.reduce((total, u) => total + u.extra.e2e_latency_s, 0),
      decode_tokens_per_s: decodeTokS,
      time_per_output_token_s: decodeTokS > 0 ? 1 / decodeTokS : 0,
    },
    ...(specs.length > 0 ? { spec: combinedSpecStats(specs) } : {}),
  };
}
