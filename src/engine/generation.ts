/**
 * The request pipeline: from prompt ids to a reply's text, token ids, finish reason and
 * usage, for every caller (chat and text completions, streamed or whole, the CLI, the pages).
 * The prompt goes through the prefix cache and speculative decoding (CachedGenerator); its
 * ids become text in StreamingText; the finish reason is decided and the usage built here.
 */

import type { ChatCompletionMessageToolCall, ChatCompletionTokenLogprob, ResponseFormat } from '@mlc-ai/web-llm';
import type { CachedGenerator } from '../cache/cached-generator';
import type { Divergence } from '../cache/prefix-cache';
import { InvalidRequestError } from '../errors';
import type { Sequence } from '../model/types';
import { isConstrained, type ResponseGrammars } from '../sampling/grammar';
import type { LogitRules } from '../sampling/logit-rules';
import type { TokenLogprob } from '../sampling/logprobs';
import type { SamplingParams } from '../sampling/sampling';
import { AUTO_DRAFT_COST, type DraftLength } from '../speculative/draft-length';
import type { DraftKind } from '../speculative/draft-source';
import { speculativeStats } from '../speculative/stats';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { StreamingText } from './streaming-text';
import { describeLogprob } from './token-logprobs';
import { parseToolCalls } from './tools';
import { buildUsage, type CacheMiss, ReplyClock, type TandemUsage } from './usage';

/** How a reply is generated, once a request's fields are read and checked. */
export interface GenerationParams {
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  /**
   * Whether the request gave its seed: a sampled reply must then repeat, so 'auto' prices draft
   * lengths by its model instead of timing the steps (draft-length.ts), and the measured
   * fallback to plain decoding is off.
   */
  seeded: boolean;
  /** Strings that end the reply; it stops before them. */
  stop: string[];
  /** web-llm's `ignore_eos`: neither stop tokens nor stop strings end the reply, only max_tokens. */
  ignoreEos?: boolean;
  draft: DraftKind;
  draftLength: DraftLength;
  /** Depths with leaves beside the first drafts, and leaves at each: a token tree (speculative/tree.ts). */
  draftTree: number;
  draftTreeWidth: number;
  /** Prompt tokens to keep pinned in the prefix cache (an explicit breakpoint; 0: none). */
  keep: number;
  /** Logit bias and penalties (none: NO_RULES). */
  rules?: LogitRules;
  /** Log-probabilities of each token with this many alternatives (`top_logprobs`); unset: none. */
  logprobs?: number;
  /** web-llm's `response_format`: a JSON schema, any JSON or a grammar the reply follows (none: free text). */
  responseFormat?: ResponseFormat;
  /** The reply is a list of function calls (tools.ts): read back as `toolCalls` when it ends with its stop token. */
  toolCalls?: boolean;
}

/** web-llm's finish reasons: a stop token or string, max_tokens, an interrupt, or a list of function calls. */
export type FinishReason = 'stop' | 'length' | 'abort' | 'tool_calls';

export interface Reply {
  text: string;
  /** Every generated id, stop token included. */
  tokens: number[];
  finishReason: FinishReason;
  usage: TandemUsage;
  /** One per generated token but a stop token, when asked for (`logprobs`). */
  logprobs?: ChatCompletionTokenLogprob[];
  /** The calls a reply to a request with tools made (finish reason "tool_calls"). */
  toolCalls?: ChatCompletionMessageToolCall[];
}

export interface ReplyHooks {
  /**
   * Each new piece of final text, as it comes, with the log-probabilities (when asked) of the
   * tokens produced since the last piece; the last call may have text and no tokens, or the reverse.
   */
  onText?: (text: string, logprobs?: ChatCompletionTokenLogprob[]) => void;
  /** The request's turn has come (earlier requests and cache work are done). */
  onStart?: () => void;
  /** Polled between steps: true ends the reply with finish reason "abort". */
  aborted?: () => boolean;
  /** After each chunk of a long prompt's prefill: prompt tokens done, of all. */
  onPrefill?: (done: number, total: number) => void;
}

export interface ModelText {
  tokenizer: TextTokenizer;
  /** Ids that end a reply. */
  stopTokenIds: readonly number[];
  /** The grammars of `response_format` over this vocabulary (absent: a request with one is refused). */
  grammars?: ResponseGrammars;
}

export async function generateReply<S extends Sequence, D extends Sequence>(
  generator: CachedGenerator<S, D>,
  model: ModelText,
  prompt: readonly number[],
  params: GenerationParams,
  hooks: ReplyHooks = {},
): Promise<Reply> {
  const clock = new ReplyClock();
  const text = new StreamingText(model.tokenizer, params.ignoreEos ? [] : params.stop);
  const stopTokens = new Set(params.ignoreEos ? [] : model.stopTokenIds);
  const aborted = () => hooks.aborted?.() ?? false;
  const wantLogprobs = params.logprobs !== undefined;
  const logprobs: ChatCompletionTokenLogprob[] = [];
  let sent = 0; // log-probabilities already sent with a piece of text
  /** Sends a piece of text with the log-probabilities since the last; held back text holds them back too. */
  const send = (piece: string, last = false) => {
    if (!piece && !(last && sent < logprobs.length)) return;
    const fresh = logprobs.slice(sent);
    sent = logprobs.length;
    hooks.onText?.(piece, wantLogprobs ? fresh : undefined);
  };
  let latest: TokenLogprob | undefined; // given just before its token
  const constraint = await replyConstraint(model, params.responseFormat);
  const result = await generator
    .generate(prompt, {
      constraint,
      maxTokens: params.maxTokens,
      sampling: params.sampling,
      seed: params.seed,
      // A sampled reply given its seed repeats: nothing it does depends on timings (draft-length.ts).
      ...(params.seeded && params.sampling.temperature > 0 && { draftCost: AUTO_DRAFT_COST, fallback: false }),
      stopTokens: [...stopTokens],
      draft: params.draft,
      draftLength: params.draftLength,
      tree: params.draftTree,
      treeWidth: params.draftTreeWidth,
      keep: params.keep,
      rules: params.rules,
      logprobs: params.logprobs,
      onLogprob: (logprob) => {
        latest = logprob;
      },
      onStart: hooks.onStart,
      onPrefill: hooks.onPrefill,
      shouldStop: () => text.stopped || aborted(),
      onToken: (token) => {
        clock.token();
        if (stopTokens.has(token)) return;
        if (latest) logprobs.push(describeLogprob(model.tokenizer, latest));
        send(text.push(token));
      },
    })
    .finally(() => constraint?.dispose());
  send(text.end(), true);
  clock.end();
  const last = result.tokens[result.tokens.length - 1];
  // A grammar complete ends the reply with its stop token, even where ignore_eos would go on.
  const complete = constraint?.terminated ?? false;
  const finishReason: FinishReason = aborted()
    ? 'abort'
    : text.stopped || stopTokens.has(last) || complete
      ? 'stop'
      : 'length';
  const usage = buildUsage({
    promptTokens: prompt.length,
    cachedTokens: result.reused,
    diskTokens: result.restored,
    cacheMiss: result.divergence && describeMiss(model.tokenizer, prompt, result.divergence),
    completionTokens: result.tokens.length,
    clock,
    spec: result.counts.draft === 'none' ? undefined : speculativeStats(result.counts),
  });
  const reply: Reply = { text: text.final, tokens: result.tokens, finishReason, usage };
  if (wantLogprobs) reply.logprobs = logprobs;
  // The list of calls complete (its grammar took the stop token): the calls, as web-llm gives them.
  if (params.toolCalls && complete && !aborted()) {
    reply.toolCalls = parseToolCalls(text.final);
    reply.finishReason = 'tool_calls';
  }
  return reply;
}

/** A fresh grammar state for a reply in `format` (none for free text). */
async function replyConstraint(model: ModelText, format: ResponseFormat | undefined) {
  if (!isConstrained(format)) return undefined;
  if (!model.grammars)
    throw new InvalidRequestError('This engine cannot constrain replies: `response_format` is not available.');
  return model.grammars.constraint(format);
}

/** Tokens of context shown either side of where a prompt parts from the cache. */
const MISS_CONTEXT = 8;

/** The divergence as text: the same few tokens before it, then what was cached and what came. */
function describeMiss(tokenizer: TextTokenizer, prompt: readonly number[], { at, cached }: Divergence): CacheMiss {
  const before = prompt.slice(Math.max(0, at - MISS_CONTEXT), at);
  return {
    at_token: at,
    cached_text: tokenizer.decode([...before, ...cached.slice(at, at + MISS_CONTEXT)]),
    prompt_text: tokenizer.decode([...before, ...prompt.slice(at, at + MISS_CONTEXT)]),
  };
}
