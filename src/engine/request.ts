/**
 * Reading a request: web-llm's chat and text completion fields (plus Tandem's draft options)
 * into the prompt and the GenerationParams of the pipeline. Every field is checked as web-llm
 * checks it, with web-llm's error names (src/errors.ts); a field Tandem does not implement is
 * refused by name rather than ignored. A field the request leaves out takes the model's default
 * (generation_config.json), then the engine's.
 */

import type { ChatCompletionRequest, CompletionCreateParams, ResponseFormat } from '@mlc-ai/web-llm';
import {
  ContextWindowSizeExceededError,
  DependencyError,
  InvalidRequestError,
  InvalidResponseFormatError,
  InvalidResponseFormatGrammarError,
  InvalidResponseFormatStructuralTagError,
  MessageOrderError,
  MinValueError,
  NonNegativeError,
  SeedTypeError,
  StreamingCountError,
  UnsupportedFieldsError,
  ValueRangeError,
} from '../errors';
import type { GenerationDefaults } from '../loader/model-folder';
import type { LogitRules } from '../sampling/logit-rules';
import { AUTO_MAX, type DraftLength } from '../speculative/draft-length';
import type { DraftKind } from '../speculative/draft-source';
import { MAX_TREE_WIDTH } from '../speculative/tree';
import type { TemplateVariables, TextTokenizer } from '../tokenizer/tokenizer';
import type { GenerationParams } from './generation';
import { buildPrompt, type Prompt, withSystemPrompt } from './prompt';
import { toolUse } from './tools';

/** Tandem's fields beside web-llm's. */
export interface RequestOptions {
  /** The draft source for this request, instead of the engine's. */
  draft?: DraftKind;
  draftLength?: DraftLength;
  /**
   * Verify a token tree: other candidates beside each of the draft's first `draftTree` tokens
   * (greedy: its runners-up; sampling: further draws without the ones before), 0: a chain. EAGLE
   * heads propose them. Not with log-probabilities (a step then verifies a chain).
   */
  draftTree?: number;
  /** Candidates beside each of those tokens: 1 (the default) to 3; 2 verifies the top three at each depth. */
  draftTreeWidth?: number;
  /** Keep only the k most likely tokens when sampling (0: off). */
  top_k?: number;
  /** Values the chat template reads beside the messages, as transformers' `apply_chat_template` takes them. */
  chat_template_kwargs?: TemplateVariables;
  /**
   * Called as the prompt is read, chunk by chunk: prompt tokens done (cached ones included) of
   * all. A long prompt takes a while before the first token; this says how far it is.
   */
  onPrefillProgress?: (done: number, total: number) => void;
}

export type TandemChatRequest = ChatCompletionRequest & RequestOptions;
export type TandemCompletionRequest = CompletionCreateParams & RequestOptions;
/** A chat (messages through the template) or a text completion (a raw prompt). */
export type TandemRequest = TandemChatRequest | TandemCompletionRequest;

export interface EngineDefaults {
  draft: DraftKind;
  draftLength: DraftLength;
  draftTree: number;
  draftTreeWidth: number;
  /** The model's generation_config.json, over Tandem's own defaults. */
  generation: GenerationDefaults;
}

/** Tokens kept free past the prompt and reply for a verify pass's drafts. */
const VERIFY_ROOM = 16;
/** Choices a request may ask for (`n`, as OpenAI's API bounds it). */
export const MAX_CHOICES = 128;
/** Fields of web-llm's requests that Tandem does not implement: refused when set. */
const UNSUPPORTED = ['suffix', 'echo', 'best_of'];
/** Fields only a chat request has: refused in a text completion. */
const CHAT_ONLY = ['tools', 'tool_choice'];
const RESPONSE_FORMATS = ['text', 'json_object', 'grammar', 'structural_tag'];
const DRAFT_KINDS: readonly DraftKind[] = ['model', 'eagle', 'ngram', 'none'];

export function isChat(request: TandemRequest): request is TandemChatRequest {
  return typeof request === 'object' && request !== null && 'messages' in request;
}

/** The prompt's ids: the chat template over the messages, or the raw prompt text. */
export function requestPrompt(tokenizer: TextTokenizer, request: TandemRequest): Prompt {
  if (typeof request !== 'object' || request === null) {
    throw new InvalidRequestError('A request is an object with `messages` (a chat) or `prompt` (a text completion).');
  }
  let prompt: Prompt;
  if (isChat(request)) {
    const tools = toolUse(request);
    const messages = tools ? withSystemPrompt(request.messages, tools.prompt) : request.messages;
    prompt = buildPrompt(tokenizer, messages, true, templateVariables(request));
    const last = request.messages.at(-1)?.role;
    // A tool's result is read as a user turn (tools.ts): a reply may follow it.
    if (last !== 'user' && last !== 'tool') throw new MessageOrderError('The last message should be from the user.');
  } else {
    if (typeof request.prompt !== 'string') {
      throw new InvalidRequestError('`prompt` must be a string (or send `messages` for a chat).');
    }
    prompt = { ids: tokenizer.encodePrompt(request.prompt), keep: 0 };
  }
  if (prompt.ids.length === 0) {
    throw new InvalidRequestError('The prompt is empty: there is nothing to continue (is the chat template empty?).');
  }
  return prompt;
}

/**
 * What the chat template reads besides the messages: `chat_template_kwargs`, and web-llm's
 * `extra_body.enable_thinking` (Qwen3's switch for its reasoning).
 */
export function templateVariables(request: TandemChatRequest | { chat_template_kwargs?: TemplateVariables }) {
  const thinking = (request as TandemChatRequest).extra_body?.enable_thinking;
  return { ...(thinking == null ? {} : { enable_thinking: thinking }), ...request.chat_template_kwargs };
}

/**
 * The pipeline's parameters for `request`, its prompt `prompt`, a context of `contextLength`
 * tokens and a vocabulary of `vocabSize` ids.
 */
export function generationParams(
  request: TandemRequest,
  prompt: Prompt,
  contextLength: number,
  vocabSize: number,
  defaults: EngineDefaults,
): GenerationParams {
  const r = request as TandemRequest & Record<string, unknown>;
  const set = (key: string) => r[key] !== undefined && r[key] !== null;
  const unsupported = [...UNSUPPORTED, ...(isChat(request) ? [] : CHAT_ONLY)].filter(
    (key) => set(key) && r[key] !== false,
  );
  if (unsupported.length > 0) throw new UnsupportedFieldsError(unsupported);
  const n = r.n ?? 1;
  if (!(Number.isSafeInteger(n) && n >= 1 && n <= MAX_CHOICES))
    throw new ValueRangeError('n', `1 to ${MAX_CHOICES}`, n);
  if (r.stream && n > 1) throw new StreamingCountError();
  if (set('stream_options') && !r.stream) {
    throw new InvalidRequestError('Only specify stream_options when stream is true.');
  }
  if (prompt.ids.length >= contextLength) throw new ContextWindowSizeExceededError(prompt.ids.length, contextLength);

  const g = defaults.generation;
  const temperature = r.temperature ?? (g.doSample === false ? 0 : (g.temperature ?? 1));
  if (!(typeof temperature === 'number' && temperature >= 0 && Number.isFinite(temperature))) {
    throw new NonNegativeError('temperature', temperature);
  }
  const topP = r.top_p ?? g.topP ?? 1;
  if (!(typeof topP === 'number' && topP > 0 && topP <= 1)) throw new ValueRangeError('top_p', '(0, 1]', topP);
  const topK = r.top_k ?? g.topK ?? 0;
  if (!(Number.isSafeInteger(topK) && topK >= 0)) throw new NonNegativeError('top_k (a whole number)', topK);
  const room = contextLength - prompt.ids.length - VERIFY_ROOM;
  if (set('max_tokens') && !(Number.isSafeInteger(r.max_tokens) && (r.max_tokens as number) > 0)) {
    throw new MinValueError('max_tokens (a whole number)', 0, r.max_tokens);
  }
  if (set('seed') && !Number.isSafeInteger(r.seed)) throw new SeedTypeError(r.seed);
  const draftLength = r.draftLength ?? defaults.draftLength;
  if (draftLength !== 'auto' && !(Number.isSafeInteger(draftLength) && draftLength >= 1 && draftLength <= 16)) {
    throw new ValueRangeError('draftLength', `'auto' or 1 to 16 (auto reaches ${AUTO_MAX})`, draftLength);
  }
  const draft = r.draft ?? defaults.draft;
  if (!DRAFT_KINDS.includes(draft)) throw new ValueRangeError('draft', DRAFT_KINDS.join(', '), draft);
  const draftTree = r.draftTree ?? defaults.draftTree;
  if (!(Number.isSafeInteger(draftTree) && draftTree >= 0 && draftTree <= 8)) {
    throw new ValueRangeError('draftTree', '0 to 8', draftTree);
  }
  const draftTreeWidth = r.draftTreeWidth ?? defaults.draftTreeWidth;
  if (!(Number.isSafeInteger(draftTreeWidth) && draftTreeWidth >= 1 && draftTreeWidth <= MAX_TREE_WIDTH)) {
    throw new ValueRangeError('draftTreeWidth', `1 to ${MAX_TREE_WIDTH}`, draftTreeWidth);
  }
  return {
    maxTokens: Math.max(1, Math.min(r.max_tokens ?? room, room)),
    sampling: { temperature, topP, topK },
    seed: r.seed ?? Math.floor(Math.random() * 2 ** 31),
    seeded: r.seed !== undefined,
    stop: stopStrings(r.stop),
    ignoreEos: ignoreEos(r.ignore_eos),
    draft,
    draftLength,
    draftTree,
    draftTreeWidth,
    keep: prompt.keep,
    rules: logitRules(r, vocabSize, g),
    logprobs: topLogprobs(r),
    ...replyFormat(request),
  };
}

/** The format a reply follows: the list of calls of a request's tools (tools.ts), or its `response_format`. */
function replyFormat(request: TandemRequest): Pick<GenerationParams, 'responseFormat' | 'toolCalls'> {
  const tools = isChat(request) ? toolUse(request) : undefined;
  if (tools?.format) return { responseFormat: tools.format, toolCalls: true };
  return { responseFormat: responseFormat((request as { response_format?: unknown }).response_format) };
}

/**
 * `response_format`, checked as web-llm checks it: a schema only with `json_object`, a grammar
 * exactly with `grammar`, a structural tag exactly with `structural_tag`. A schema may also be
 * given as an object (it is sent to the grammar compiler as its JSON text).
 */
function responseFormat(value: unknown): ResponseFormat | undefined {
  if (value == null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError('`response_format` must be an object such as { type: "json_object" }.');
  }
  const format = value as ResponseFormat & Record<string, unknown>;
  if (format.type !== undefined && !RESPONSE_FORMATS.includes(format.type)) {
    throw new ValueRangeError('response_format.type', RESPONSE_FORMATS.join(', '), format.type);
  }
  const has = (key: string) => format[key] != null;
  if (has('schema') && format.type !== 'json_object') throw new InvalidResponseFormatError();
  if (has('grammar') !== (format.type === 'grammar')) throw new InvalidResponseFormatGrammarError();
  if (has('structural_tag') !== (format.type === 'structural_tag')) throw new InvalidResponseFormatStructuralTagError();
  const schema = format.schema as unknown;
  if (has('schema') && typeof schema !== 'string' && (typeof schema !== 'object' || Array.isArray(schema))) {
    throw new InvalidRequestError('`response_format.schema` must be a JSON schema: its text, or the object.');
  }
  if (has('grammar') && typeof format.grammar !== 'string') {
    throw new InvalidRequestError('`response_format.grammar` must be a string (an EBNF grammar).');
  }
  if (typeof schema === 'object' && schema !== null) return { ...format, schema: JSON.stringify(schema) };
  return format;
}

/** web-llm's `ignore_eos`: true, false, or left out. */
function ignoreEos(value: unknown): boolean {
  if (value != null && typeof value !== 'boolean') throw new InvalidRequestError('`ignore_eos` must be true or false.');
  return value === true;
}

/** How many alternatives each token's log-probability comes with; undefined: none asked for (web-llm's rules). */
function topLogprobs(r: TandemRequest): number | undefined {
  const logprobs = r.logprobs ?? false;
  if (typeof logprobs !== 'boolean') throw new InvalidRequestError('`logprobs` must be true or false.');
  const top = r.top_logprobs;
  if (top != null) {
    if (!logprobs) throw new DependencyError('top_logprobs', 'logprobs', true);
    if (!(Number.isSafeInteger(top) && top >= 0 && top <= 5)) throw new ValueRangeError('top_logprobs', '0 to 5', top);
  }
  return logprobs ? (top ?? 0) : undefined;
}

function stopStrings(stop: unknown): string[] {
  if (stop == null) return [];
  const stops = Array.isArray(stop) ? stop : [stop];
  if (!stops.every((s) => typeof s === 'string' && s.length > 0) || stops.length > 16) {
    throw new InvalidRequestError('`stop` must be a non-empty string or a list of up to 16 of them.');
  }
  return stops;
}

/** logit_bias and the penalties, checked as web-llm checks them. */
function logitRules(r: TandemRequest, vocabSize: number, g: GenerationDefaults): LogitRules {
  const frequency = r.frequency_penalty ?? 0;
  const presence = r.presence_penalty ?? 0;
  const repetition = r.repetition_penalty ?? g.repetitionPenalty ?? 1;
  for (const [field, value] of [
    ['frequency_penalty', frequency],
    ['presence_penalty', presence],
  ] as const) {
    if (!(typeof value === 'number' && value >= -2 && value <= 2)) throw new ValueRangeError(field, '[-2, 2]', value);
  }
  if (!(typeof repetition === 'number' && repetition > 0 && Number.isFinite(repetition))) {
    throw new MinValueError('repetition_penalty', 0, repetition);
  }
  const logitBias = new Map<number, number>();
  for (const [key, value] of Object.entries(r.logit_bias ?? {})) {
    const token = Number(key);
    if (!(Number.isSafeInteger(token) && token >= 0 && token < vocabSize && String(token) === key)) {
      throw new ValueRangeError("logit_bias's token ids", `0 to ${vocabSize - 1}, written as decimal strings`, key);
    }
    if (!(typeof value === 'number' && value >= -100 && value <= 100)) {
      throw new ValueRangeError(`logit_bias["${key}"]`, '[-100, 100]', value);
    }
    logitBias.set(token, value);
  }
  return { repetitionPenalty: repetition, frequencyPenalty: frequency, presencePenalty: presence, logitBias };
}
