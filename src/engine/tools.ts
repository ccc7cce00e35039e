/**
 * Function calling (`tools`, `tool_choice`), as web-llm does it for Hermes-2-Pro and Hermes-3
 * and for every model here: the tools are described in a system prompt, and the reply is held by
 * a JSON schema (sampling/grammar.ts) to a list of calls, `[{"name": ..., "arguments": {...}}]`,
 * each naming a tool offered and its arguments following that tool's `parameters`. A reply that
 * ends there comes back as `tool_calls` (finish reason "tool_calls", no content); one cut short
 * by max_tokens or an interrupt comes back as text, as in web-llm.
 *
 * `tool_choice`: "none" makes a plain reply (the tools still described, so that the prompt starts
 * as the turns' before it did and is read from the cache); a named function offers that one; "auto"
 * (the default) and OpenAI's "required" offer them all, and a call is made, as web-llm makes one.
 * OpenAI's `parallel_tool_calls: false` allows one call a reply.
 * Later turns carry the calls made (an assistant message's `tool_calls`: the list as generated,
 * so its tokens are the cached ones) and their results (`tool` messages, given to the model in
 * Hermes' <tool_response> tags as a user turn).
 */

import type {
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
  ResponseFormat,
} from '@mlc-ai/web-llm';
import {
  CustomResponseFormatError,
  InvalidRequestError,
  ToolCallOutputInvalidTypeError,
  ToolCallOutputMissingFieldsError,
  ToolCallOutputParseError,
} from '../errors';

/** What a request's tools make of it: the prompt that offers them and the format of the reply (none: text). */
export interface ToolUse {
  prompt: string;
  format?: ResponseFormat;
}

/** OpenAI's rule for a function's name. */
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** The tools `request` offers under its `tool_choice`, checked; undefined where it has none. */
export function toolUse(request: {
  tools?: ChatCompletionTool[] | null;
  tool_choice?: ChatCompletionToolChoiceOption | 'required' | null;
  /** OpenAI's switch: false allows one call a reply. */
  parallel_tool_calls?: boolean | null;
  response_format?: ResponseFormat | null;
}): ToolUse | undefined {
  const { tools, tool_choice: choice, parallel_tool_calls: parallel } = request;
  if (parallel != null && typeof parallel !== 'boolean') {
    throw new InvalidRequestError('`parallel_tool_calls` must be true or false.');
  }
  if (tools == null) {
    if (choice != null && choice !== 'none') throw new InvalidRequestError('`tool_choice` needs `tools`.');
    return undefined;
  }
  if (!Array.isArray(tools) || tools.length === 0) {
    throw new InvalidRequestError('`tools` must be a non-empty list of { type: "function", function: { name, ... } }.');
  }
  tools.forEach((tool, i) => {
    const fn = tool?.function;
    if (tool?.type !== 'function' || typeof fn !== 'object' || fn === null || !FUNCTION_NAME.test(fn.name ?? '')) {
      throw new InvalidRequestError(
        `tools[${i}] must be { type: "function", function: { name, description?, parameters? } }, ` +
          'its name of letters, digits, _ and - (at most 64).',
      );
    }
    const parameters = fn.parameters as unknown;
    if (parameters != null && (typeof parameters !== 'object' || Array.isArray(parameters))) {
      throw new InvalidRequestError(`tools[${i}].function.parameters must be a JSON schema object.`);
    }
  });
  // "none": the tools are still described (a later turn's prompt starts as this one's, cached), not called.
  if (choice === 'none') return { prompt: toolPrompt(tools) };
  if (request.response_format != null && request.response_format.type !== 'text') {
    throw new CustomResponseFormatError(request.response_format);
  }
  let offered = tools;
  if (typeof choice === 'object' && choice !== null) {
    offered = tools.filter((tool) => tool.function.name === choice.function?.name);
    if (choice.type !== 'function' || offered.length === 0) {
      throw new InvalidRequestError(
        `\`tool_choice\` names ${JSON.stringify(choice.function?.name)}, which is not among the tools.`,
      );
    }
  } else if (choice != null && choice !== 'auto' && choice !== 'required') {
    throw new InvalidRequestError(
      '`tool_choice` must be "none", "auto", "required" or { type: "function", function: { name } }.',
    );
  }
  const schema = callsSchema(offered, parallel === false ? 1 : undefined);
  return { prompt: toolPrompt(offered), format: { type: 'json_object', schema: JSON.stringify(schema) } };
}

/** A list of at least one call (at most `most`), each of an offered tool with its parameters. */
function callsSchema(tools: ChatCompletionTool[], most?: number) {
  const call = ({ function: fn }: ChatCompletionTool) => ({
    type: 'object',
    properties: { name: { const: fn.name }, arguments: fn.parameters ?? { type: 'object' } },
    required: ['name', 'arguments'],
  });
  const items = tools.length === 1 ? call(tools[0]) : { anyOf: tools.map(call) };
  return { type: 'array', items, minItems: 1, ...(most && { maxItems: most }) };
}

/** The system prompt that offers `tools`, in Hermes' function-calling format (its <tools> tags). */
function toolPrompt(tools: ChatCompletionTool[]): string {
  const signatures = tools.map((tool) => JSON.stringify(tool)).join('\n');
  return (
    'You are a function calling AI model. You are given function signatures within <tools></tools> XML tags. ' +
    'Call one or more of them to answer the user; do not make up values for their arguments.\n' +
    `<tools>\n${signatures}\n</tools>\n` +
    'Answer with a JSON list of calls: [{"name": <function name>, "arguments": <arguments object>}]'
  );
}

/** The system message of a request with tools: their prompt, then the request's own system message. */
export function systemWithTools(prompt: string, system: string | undefined): string {
  return system ? `${prompt}\n\n${system}` : prompt;
}

/** A reply's text as the calls it lists, as web-llm reads them (its error names where it is not such a list). */
export function parseToolCalls(text: string): ChatCompletionMessageToolCall[] {
  let calls: unknown;
  try {
    calls = JSON.parse(text);
  } catch (cause) {
    throw new ToolCallOutputParseError(text, cause);
  }
  if (!Array.isArray(calls)) throw new ToolCallOutputInvalidTypeError('array');
  return calls.map((call: { name?: unknown; arguments?: unknown }, id) => {
    if (call?.name === undefined || call.arguments === undefined) {
      throw new ToolCallOutputMissingFieldsError(['name', 'arguments'], call);
    }
    return {
      id: String(id),
      type: 'function',
      function: { name: String(call.name), arguments: JSON.stringify(call.arguments) },
    };
  });
}

/**
 * The text of the calls an assistant message made: the list as a reply lists them, on one line
 * with `", "` and `": "` between items (sampling/grammar.ts), so that it reads back as generated.
 */
export function callsText(calls: ChatCompletionMessageToolCall[]): string {
  return oneLine(
    calls.map((call) => {
      try {
        return { name: call.function.name, arguments: JSON.parse(call.function.arguments) };
      } catch {
        throw new InvalidRequestError(`The arguments of tool call ${JSON.stringify(call.id)} are not JSON.`);
      }
    }),
  );
}

function oneLine(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(oneLine).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .map(([key, item]) => `${JSON.stringify(key)}: ${oneLine(item)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** A tool's result, as the model reads it. */
export function toolResponseText(content: string): string {
  return `<tool_response>\n${content}\n</tool_response>`;
}
