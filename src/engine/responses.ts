/**
 * A reply in the shapes of web-llm's (OpenAI's) API: a ChatCompletion or a Completion when
 * whole, ChatCompletionChunks or Completion chunks when streamed. Streaming runs the reply and
 * yields its pieces as they come, then the finish reason, then (when asked) the usage.
 */

import type { ChatCompletion, ChatCompletionChunk, ChatCompletionTokenLogprob, Completion } from '@mlc-ai/web-llm';
import type { Reply } from './generation';
import { AsyncQueue } from './queue';
import type { TandemUsage } from './usage';

interface Envelope {
  id: string;
  created: number;
  model: string;
}

export function envelope(model: string, kind: 'chatcmpl' | 'cmpl'): Envelope {
  return { id: `${kind}-${Math.random().toString(36).slice(2)}`, created: Math.floor(Date.now() / 1000), model };
}

/** A whole reply: a choice for each of `replies` (a request's `n`), and their usage. */
export function chatCompletion(
  e: Envelope,
  { replies, usage }: { replies: Reply[]; usage: TandemUsage },
): ChatCompletion {
  return {
    ...e,
    object: 'chat.completion',
    choices: replies.map((reply, index) => ({
      index,
      message: reply.toolCalls
        ? { role: 'assistant', content: null, tool_calls: reply.toolCalls }
        : { role: 'assistant', content: reply.text },
      finish_reason: reply.finishReason,
      logprobs: logprobsOf(reply.logprobs),
    })),
    usage,
  } as ChatCompletion;
}

export function textCompletion(e: Envelope, { replies, usage }: { replies: Reply[]; usage: TandemUsage }): Completion {
  return {
    ...e,
    object: 'text_completion',
    choices: replies.map((reply, index) => ({
      index,
      text: reply.text,
      finish_reason: reply.finishReason,
      logprobs: logprobsOf(reply.logprobs),
    })),
    usage,
  };
}

type Piece =
  | { text: string; logprobs?: ChatCompletionTokenLogprob[] }
  | { finish: Reply['finishReason']; toolCalls?: Reply['toolCalls'] }
  | { usage: TandemUsage };

/** A choice's `logprobs`: the tokens' entries when they were asked for, else null. */
function logprobsOf(entries: ChatCompletionTokenLogprob[] | undefined) {
  return entries ? { content: entries } : null;
}

export function chatChunk(e: Envelope, piece: Piece | { role: 'assistant' }): ChatCompletionChunk {
  const base = { ...e, object: 'chat.completion.chunk' as const };
  if ('usage' in piece) return { ...base, choices: [], usage: piece.usage };
  // The calls of a reply to a request with tools come whole with its finish reason, as in web-llm.
  const calls = 'toolCalls' in piece && piece.toolCalls;
  const delta =
    'role' in piece
      ? { role: piece.role, content: '' }
      : 'text' in piece
        ? { content: piece.text }
        : calls
          ? { role: 'assistant' as const, tool_calls: calls.map((call, index) => ({ index, ...call })) }
          : {};
  const finish = 'finish' in piece ? piece.finish : null;
  const logprobs = logprobsOf('logprobs' in piece ? piece.logprobs : undefined);
  return { ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs }] };
}

export function completionChunk(e: Envelope, piece: Piece): Completion {
  const base = { ...e, object: 'text_completion' as const };
  if ('usage' in piece) return { ...base, choices: [], usage: piece.usage };
  const text = 'text' in piece ? piece.text : '';
  const finish = 'finish' in piece ? piece.finish : null;
  const logprobs = logprobsOf('logprobs' in piece ? piece.logprobs : undefined);
  return { ...base, choices: [{ index: 0, text, finish_reason: finish, logprobs }] };
}

/**
 * Streams a reply: `first` (if any), then a chunk per piece of text as `run` produces it, a
 * chunk with the finish reason, and one with the usage when `includeUsage`. A failure ends
 * the stream with that error.
 */
export function streamReply<T>(
  run: (onText: (text: string, logprobs?: ChatCompletionTokenLogprob[]) => void) => Promise<Reply>,
  chunk: (piece: Piece) => T,
  options: { includeUsage: boolean; first?: T },
): AsyncIterable<T> {
  const queue = new AsyncQueue<T>();
  if (options.first) queue.push(options.first);
  run((text, logprobs) => queue.push(chunk({ text, logprobs }))).then(
    (reply) => {
      queue.push(chunk({ finish: reply.finishReason, toolCalls: reply.toolCalls }));
      if (options.includeUsage) queue.push(chunk({ usage: reply.usage }));
      queue.close();
    },
    (error) => queue.fail(error),
  );
  return queue;
}
