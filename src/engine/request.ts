/**
 * Reading a request: web-llm's chat and text completion fields (plus Tandem's draft options)
 * into the prompt and the GenerationParams of the pipeline.
 */

import type { ChatCompletionRequest, CompletionCreateParams } from '@mlc-ai/web-llm';
import { InvalidRequestError } from '../errors';
import type { SamplingParams } from '../sampling/sampling';
import type { DraftLength } from '../speculative/draft-length';
import type { DraftKind } from '../speculative/draft-source';
import type { TemplateVariables, TextTokenizer } from '../tokenizer/tokenizer';
import type { GenerationParams } from './generation';
import { buildPrompt, type Prompt } from './prompt';

/** Tandem's fields beside web-llm's. */
export interface RequestOptions {
  /** The draft source for this request, instead of the engine's. */
  draft?: DraftKind;
  draftLength?: DraftLength;
  /** Keep only the k most likely tokens when sampling (0: off). */
  top_k?: number;
  /** Values the chat template reads beside the messages, as transformers' `apply_chat_template` takes them. */
  chat_template_kwargs?: TemplateVariables;
}

export type TandemChatRequest = ChatCompletionRequest & RequestOptions;
export type TandemCompletionRequest = CompletionCreateParams & RequestOptions;
/** A chat (messages through the template) or a text completion (a raw prompt). */
export type TandemRequest = TandemChatRequest | TandemCompletionRequest;

export interface EngineDefaults {
  draft: DraftKind;
  draftLength: DraftLength;
  sampling: SamplingParams;
}

/** Tokens kept free past the prompt and reply for a verify pass's drafts. */
const VERIFY_ROOM = 16;

export function isChat(request: TandemRequest): request is TandemChatRequest {
  return 'messages' in request;
}

/** The prompt's ids: the chat template over the messages, or the raw prompt text. */
export function requestPrompt(tokenizer: TextTokenizer, request: TandemRequest): Prompt {
  if (isChat(request)) return buildPrompt(tokenizer, request.messages, true, templateVariables(request));
  return { ids: tokenizer.encodePrompt(request.prompt), keep: 0 };
}

/**
 * What the chat template reads besides the messages: `chat_template_kwargs`, and web-llm's
 * `extra_body.enable_thinking` (Qwen3's switch for its reasoning).
 */
export function templateVariables(request: TandemChatRequest | { chat_template_kwargs?: TemplateVariables }) {
  const thinking = (request as TandemChatRequest).extra_body?.enable_thinking;
  return { ...(thinking == null ? {} : { enable_thinking: thinking }), ...request.chat_template_kwargs };
}

/** The pipeline's parameters for `request`, its prompt `prompt` and a context of `contextLength` tokens. */
export function generationParams(
  request: TandemRequest,
  prompt: Prompt,
  contextLength: number,
  defaults: EngineDefaults,
): GenerationParams {
  if ((request.n ?? 1) !== 1) throw new InvalidRequestError('Only n = 1 is supported.');
  if (prompt.ids.length >= contextLength) {
    throw new InvalidRequestError(
      `The conversation is ${prompt.ids.length} tokens long; this engine holds ${contextLength}. Start a new conversation or shorten it.`,
    );
  }
  const room = contextLength - prompt.ids.length - VERIFY_ROOM;
  const stop = request.stop == null ? [] : Array.isArray(request.stop) ? request.stop : [request.stop];
  return {
    maxTokens: Math.max(1, Math.min(request.max_tokens ?? room, room)),
    sampling: {
      temperature: request.temperature ?? defaults.sampling.temperature,
      topP: request.top_p ?? defaults.sampling.topP,
      topK: request.top_k ?? defaults.sampling.topK,
    },
    seed: request.seed ?? Math.floor(Math.random() * 2 ** 31),
    stop,
    draft: request.draft ?? defaults.draft,
    draftLength: request.draftLength ?? defaults.draftLength,
    keep: prompt.keep,
  };
}
