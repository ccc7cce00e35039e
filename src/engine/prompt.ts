/**
 * From OpenAI-style chat messages to prompt token ids, through the model's chat template, the
 * messages' content read as plain text (TextTokenizer.encodeChat). Text content parts are
 * joined; a part carrying `cache_control: {type: 'ephemeral'}` marks the end of its message as
 * a prefix worth keeping in the cache (the last such mark wins), the way hosted APIs take
 * explicit cache breakpoints.
 */

import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall } from '@mlc-ai/web-llm';
import { InvalidRequestError, UnsupportedRoleError } from '../errors';
import type { ChatMessage, TemplateVariables, TextTokenizer } from '../tokenizer/tokenizer';
import { callsText, systemWithTools, toolResponseText } from './tools';

interface CacheControlled {
  cache_control?: { type: string };
}

export interface Prompt {
  ids: number[];
  /** Tokens to keep pinned in the prefix cache (0: none marked). */
  keep: number;
}

export function toChatMessages(messages: ChatCompletionMessageParam[]): {
  messages: ChatMessage[];
  breakpoint: number;
} {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new InvalidRequestError('`messages` must be a non-empty array of { role, content } messages.');
  }
  let breakpoint = -1;
  const out = messages.map((message, index): ChatMessage => {
    const role = (message as { role?: unknown } | null)?.role;
    // Function calling's turns (tools.ts): a tool's result, read by the model as a user turn,
    // and the calls an assistant made, as the list it generated.
    if (role === 'tool') return { role: 'user', content: toolResponseText(textOf(message.content, index)) };
    const calls = (message as { tool_calls?: ChatCompletionMessageToolCall[] | null }).tool_calls;
    if (role === 'assistant' && calls?.length) return { role, content: callsText(calls) };
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw new UnsupportedRoleError(role);
    const content = message.content ?? '';
    if (typeof content === 'string') return { role, content };
    if (!Array.isArray(content)) {
      throw new InvalidRequestError(`Message ${index}: content must be a string or an array of text parts.`);
    }
    const texts: string[] = [];
    for (const part of content as (CacheControlled & { type?: unknown; text?: unknown })[]) {
      if (part?.type !== 'text' || typeof part.text !== 'string') {
        throw new InvalidRequestError(
          `Message ${index}: content parts of type ${JSON.stringify(part?.type)} are not supported (text, with a string).`,
        );
      }
      texts.push(part.text);
      if (part.cache_control?.type === 'ephemeral') breakpoint = index;
    }
    return { role, content: texts.join('') };
  });
  return { messages: out, breakpoint };
}

/** A tool message's content: a string, or text parts joined. */
function textOf(content: unknown, index: number): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content) && content.every((part) => part?.type === 'text' && typeof part.text === 'string')) {
    return content.map((part) => part.text).join('');
  }
  throw new InvalidRequestError(`Message ${index}: a tool's content must be a string or text parts.`);
}

/**
 * `messages` with `prompt` (the tools offered: tools.ts) at the head of the system message, or
 * as the system message where there is none.
 */
export function withSystemPrompt(messages: ChatCompletionMessageParam[], prompt: string): ChatCompletionMessageParam[] {
  const [first, ...rest] = messages;
  if (first?.role !== 'system') return [{ role: 'system', content: prompt }, ...messages];
  // Tandem takes text parts in any message (a system prompt's cache_control among them).
  const parts = first.content as string | { type: 'text'; text: string }[];
  const content =
    typeof parts === 'string' ? systemWithTools(prompt, parts) : [{ type: 'text', text: `${prompt}\n\n` }, ...parts];
  return [{ ...first, content } as ChatCompletionMessageParam, ...rest];
}

/** The prompt's ids; `openReply` adds the opening of the assistant's turn (the generation prompt). */
export function buildPrompt(
  tokenizer: TextTokenizer,
  request: ChatCompletionMessageParam[],
  openReply = true,
  variables: TemplateVariables = {},
): Prompt {
  const { messages, breakpoint } = toChatMessages(request);
  const ids = tokenizer.encodeChat(messages, openReply, variables);
  let keep = 0;
  if (breakpoint >= 0) {
    const prefix = tokenizer.encodeChat(messages.slice(0, breakpoint + 1), false, variables);
    // Honoured only where the template renders the earlier messages as a prefix of the whole.
    if (prefix.every((id, i) => ids[i] === id)) keep = prefix.length;
  }
  return { ids, keep };
}
