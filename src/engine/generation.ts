/**
 * The request pipeline: from prompt ids to a reply's text, token ids, finish reason and
 * usage, for every caller (chat and text completions, streamed or whole, the CLI, the pages).
 * The prompt goes through the prefix cache and speculative decoding (CachedGenerator); its
 * ids become text in StreamingText; the finish reason is decided and the usage built here.
 */

import type { CachedGenerator } from '../cache/cached-generator';
import type { Sequence } from '../model/types';
import type { LogitRules } from '../sampling/logit-rules';
import type { SamplingParams } from '../sampling/sampling';
import type { DraftLength } from '../speculative/draft-length';
import type { DraftKind } from '../speculative/draft-source';
import { speculativeStats } from '../speculative/stats';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { StreamingText } from './streaming-text';
import { buildUsage, ReplyClock, type TandemUsage } from './usage';

/** How a reply is generated, once a request's fields are read and checked. */
export interface GenerationParams {
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  /** Strings that end the reply; it stops before them. */
  stop: string[];
  draft: DraftKind;
  draftLength: DraftLength;
  /** Prompt tokens to keep pinned in the prefix cache (an explicit breakpoint; 0: none). */
  keep: number;
  /** Logit bias and penalties (none: NO_RULES). */
  rules?: LogitRules;
}

/** web-llm's finish reasons: a stop token or string, max_tokens, or an interrupt. */
export type FinishReason = 'stop' | 'length' | 'abort';

export interface Reply {
  text: string;
  /** Every generated id, stop token included. */
  tokens: number[];
  finishReason: FinishReason;
  usage: TandemUsage;
}

export interface ReplyHooks {
  /** Each new piece of final text, as it comes. */
  onText?: (text: string) => void;
  /** The request's turn has come (earlier requests and cache work are done). */
  onStart?: () => void;
  /** Polled between steps: true ends the reply with finish reason "abort". */
  aborted?: () => boolean;
}

export interface ModelText {
  tokenizer: TextTokenizer;
  /** Ids that end a reply. */
  stopTokenIds: readonly number[];
}

export async function generateReply<S extends Sequence, D extends Sequence>(
  generator: CachedGenerator<S, D>,
  model: ModelText,
  prompt: readonly number[],
  params: GenerationParams,
  hooks: ReplyHooks = {},
): Promise<Reply> {
  const clock = new ReplyClock();
  const text = new StreamingText(model.tokenizer, params.stop);
  const stopTokens = new Set(model.stopTokenIds);
  const aborted = () => hooks.aborted?.() ?? false;
  const send = (piece: string) => {
    if (piece) hooks.onText?.(piece);
  };
  const result = await generator.generate(prompt, {
    maxTokens: params.maxTokens,
    sampling: params.sampling,
    seed: params.seed,
    stopTokens: [...stopTokens],
    draft: params.draft,
    draftLength: params.draftLength,
    keep: params.keep,
    rules: params.rules,
    onStart: hooks.onStart,
    shouldStop: () => text.stopped || aborted(),
    onToken: (token) => {
      clock.token();
      if (!stopTokens.has(token)) send(text.push(token));
    },
  });
  send(text.end());
  clock.end();
  const last = result.tokens[result.tokens.length - 1];
  const finishReason: FinishReason = aborted() ? 'abort' : text.stopped || stopTokens.has(last) ? 'stop' : 'length';
  const usage = buildUsage({
    promptTokens: prompt.length,
    cachedTokens: result.reused,
    completionTokens: result.tokens.length,
    clock,
    spec: result.counts.draft === 'none' ? undefined : speculativeStats(result.counts),
  });
  return { text: text.final, tokens: result.tokens, finishReason, usage };
}
