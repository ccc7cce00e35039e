/**
 * A conversation with an engine, as the chat page and the embeddable chat hold it: the turns
 * so far, the system prompt before them, and sending a message with its reply streamed. A
 * reply that fails leaves its question out of the context (the page may still show it), so the
 * next message is asked as if the failed one had not been.
 */

import type { ChatCompletionMessageParam } from '@mlc-ai/web-llm';
import type { ChatCompletionsCreate, TandemUsage } from '../engine/engine';
import type { FinishReason } from '../engine/generation';
import type { RequestOptions } from '../engine/request';

/** What sending needs of an engine: the in-thread one or a worker's. */
export interface ChatEngine {
  chat: { completions: { create: ChatCompletionsCreate } };
}

/** The request fields a page chooses (sampling, length, draft). */
export type ReplySettings = RequestOptions & { temperature?: number; max_tokens?: number };

export interface SentReply {
  text: string;
  finishReason: FinishReason | undefined;
  usage: TandemUsage | undefined;
}

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

export class Conversation {
  private turns: Turn[] = [];

  /** `systemPrompt` is read at every send and warm: it may change between turns. */
  constructor(private readonly systemPrompt: () => string) {}

  /** The messages of the conversation so far, then `pending` as the user's next message if given. */
  messages(pending?: string): ChatCompletionMessageParam[] {
    const system = this.systemPrompt();
    return [
      ...(system ? [{ role: 'system' as const, content: system }] : []),
      ...this.turns,
      ...(pending === undefined ? [] : [{ role: 'user' as const, content: pending }]),
    ];
  }

  clear(): void {
    this.turns = [];
  }

  /** The turns so far (a copy): what a page keeps, and shows again with `restore`. */
  get history(): Turn[] {
    return [...this.turns];
  }

  restore(turns: readonly Turn[]): void {
    this.turns = [...turns];
  }

  /**
   * Sends `text` as the user's next message and streams the reply: `onText` gets the whole
   * reply so far at each new piece. Resolves when the reply ends (finished, stopped or cut
   * short); rejects with the engine's error, the question then left out of the conversation.
   */
  async send(
    engine: ChatEngine,
    text: string,
    settings: ReplySettings,
    onText: (reply: string) => void,
  ): Promise<SentReply> {
    const messages = this.messages(text);
    this.turns.push({ role: 'user', content: text });
    let reply = '';
    let finishReason: FinishReason | undefined;
    let usage: TandemUsage | undefined;
    try {
      const stream = await engine.chat.completions.create({
        ...settings,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (choice?.delta.content) {
          reply += choice.delta.content;
          onText(reply);
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason as FinishReason;
        if (chunk.usage) usage = chunk.usage as TandemUsage;
      }
    } catch (error) {
      this.turns.pop();
      throw error;
    }
    this.turns.push({ role: 'assistant', content: reply });
    return { text: reply, finishReason, usage };
  }
}
