/**
 * From OpenAI-style chat messages to prompt token ids, through the model's chat template, the
 * messages' content read as plain text (TextTokenizer.encodeChat). Text content parts are
 * joined; a part carrying `cache_control: {type: 'ephemeral'}` marks the end of its message as
 * a prefix worth keeping in the cache (the last such mark wins), the way hosted APIs take
 * explicit cache breakpoints.
 */

import type { ChatCompletionMessageParam } from '@mlc-ai/web-llm';
import { InvalidRequestError } from '../errors';
import type { ChatMessage, TemplateVariables, TextTokenizer } from '../tokenizer/tokenizer';

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
  let breakpoint = -1;
  const out = messages.map((message, index): ChatMessage => {
    if (message.role !== 'system' && message.role !== 'user' && message.role !== 'assistant') {
      throw new InvalidRequestError(
        `Messages with role "${message.role}" are not supported (system, user, assistant).`,
      );
    }
    const content = message.content ?? '';
    if (typeof content === 'string') return { role: message.role, content };
    const texts: string[] = [];
    for (const part of content as (ChatCompletionMessageParam & CacheControlled & { type: string; text?: string })[]) {
      if (part.type !== 'text')
        throw new InvalidRequestError(`Content parts of type "${part.type}" are not supported.`);
      texts.push(part.text ?? '');
      if (part.cache_control?.type === 'ephemeral') breakpoint = index;
    }
    return { role: message.role, content: texts.join('') };
  });
  return { messages: out, breakpoint };
}

/** The prompt's ids; `openReply` adds the opening of the assistant's turn (the generation prompt). */
export function buildPrompt(
  tokenizer: TextTokenizer,
  request: ChatCompletionMessageParam[],
  openReply = true,
  variables: TemplateVariables = {},
): Prompt {
  if (request.length === 0) throw new InvalidRequestError('A request needs at least one message.');
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
