/**
 * Function calling's request side and reply side (the GPU run is in engine.gpu.test.ts): which
 * tools a request offers, the schema its reply is held to (compiled by xgrammar over the
 * fixture's vocabulary: the calls it lets through and the ones it refuses), the calls read
 * back from a reply, and the turns that carry calls and results.
 */

import type { ChatCompletionTool } from '@mlc-ai/web-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResponseGrammars } from '../sampling/grammar';
import { isAllowed } from '../sampling/token-mask';
import { FIXTURES, loadFixture } from '../testing/fixtures';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { toChatMessages, withSystemPrompt } from './prompt';
import { callsText, parseToolCalls, toolUse } from './tools';

const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
    },
  },
};
const ADD: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'add',
    parameters: {
      type: 'object',
      properties: { a: { type: 'integer' }, b: { type: 'integer' } },
      required: ['a', 'b'],
    },
  },
};

const failure = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return error as Error;
  }
  throw new Error('no error');
};

describe('the tools a request offers', () => {
  it('none without tools; described but not called with "none"; all with "auto", "required" or none given; one by name', () => {
    expect(toolUse({})).toBeUndefined();
    const none = toolUse({ tools: [WEATHER], tool_choice: 'none' });
    expect(none?.prompt).toBe(toolUse({ tools: [WEATHER] })?.prompt); // described, not called
    expect(none?.format).toBeUndefined();
    for (const choice of [undefined, 'auto', 'required'] as const) {
      const use = toolUse({ tools: [WEATHER, ADD], tool_choice: choice });
      expect(use?.prompt).toContain('"name":"get_weather"');
      expect(use?.prompt).toContain('"name":"add"');
      const schema = JSON.parse(use?.format?.schema ?? '');
      expect(
        schema.items.anyOf.map((c: { properties: { name: { const: string } } }) => c.properties.name.const),
      ).toEqual(['get_weather', 'add']);
    }
    const one = toolUse({ tools: [WEATHER, ADD], tool_choice: { type: 'function', function: { name: 'add' } } });
    expect(one?.prompt).not.toContain('get_weather');
    expect(JSON.parse(one?.format?.schema ?? '').items.properties.arguments).toEqual(ADD.function.parameters);
  });

  it('refuses bad tools, a bad tool_choice and a response_format beside them, by name', () => {
    const cases: [Parameters<typeof toolUse>[0], string, RegExp][] = [
      [{ tools: [] }, 'InvalidRequestError', /non-empty list/],
      [{ tools: [{ type: 'function', function: { name: 'a b' } }] }, 'InvalidRequestError', /tools\[0\]/],
      [{ tools: [{ type: 'code' } as never] }, 'InvalidRequestError', /tools\[0\]/],
      [
        { tools: [{ type: 'function', function: { name: 'f', parameters: [] as never } }] },
        'InvalidRequestError',
        /parameters/,
      ],
      [
        { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'add' } } },
        'InvalidRequestError',
        /"add", which is not among/,
      ],
      [{ tools: [WEATHER], tool_choice: 'always' as never }, 'InvalidRequestError', /tool_choice/],
      [{ tool_choice: 'auto' }, 'InvalidRequestError', /needs `tools`/],
      [{ tools: [WEATHER], response_format: { type: 'json_object' } }, 'CustomResponseFormatError', /response_format/],
    ];
    for (const [request, name, message] of cases) {
      const error = failure(() => toolUse(request));
      expect(error.name, JSON.stringify(request)).toBe(name);
      expect(error.message).toMatch(message);
    }
  });
});

describe('the calls a reply makes', () => {
  it('reads a list of calls as web-llm gives them: ids in order, arguments as JSON text', () => {
    expect(
      parseToolCalls(
        '[{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": "get_weather", "arguments": {"city": "Oslo"}}]',
      ),
    ).toEqual([
      { id: '0', type: 'function', function: { name: 'add', arguments: '{"a":1,"b":2}' } },
      { id: '1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
    ]);
    expect(failure(() => parseToolCalls('[{"name": "add"')).name).toBe('ToolCallOutputParseError');
    expect(failure(() => parseToolCalls('{"name": "add"}')).name).toBe('ToolCallOutputInvalidTypeError');
    expect(failure(() => parseToolCalls('[{"name": "add"}]')).name).toBe('JSONFieldError');
  });

  it('writes the calls of an earlier turn back as the list a reply makes, on one line', () => {
    const calls = parseToolCalls(
      '[{"name": "get_weather", "arguments": {"city": "Zürich, \\"CH\\"", "unit": "celsius"}}]',
    );
    const text = callsText(calls);
    expect(text).toBe('[{"name": "get_weather", "arguments": {"city": "Zürich, \\"CH\\"", "unit": "celsius"}}]');
    expect(parseToolCalls(text)).toEqual(calls);
  });

  it('carries calls and results through the chat: results as a user turn in <tool_response> tags', () => {
    const { messages } = toChatMessages([
      { role: 'user', content: 'Weather in Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: parseToolCalls('[{"name": "get_weather", "arguments": {"city": "Oslo"}}]'),
      },
      { role: 'tool', tool_call_id: '0', content: '{"temperature": 3}' },
    ] as never);
    expect(messages).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: '[{"name": "get_weather", "arguments": {"city": "Oslo"}}]' },
      { role: 'user', content: '<tool_response>\n{"temperature": 3}\n</tool_response>' },
    ]);
    const prompt = 'TOOLS';
    expect(withSystemPrompt([{ role: 'user', content: 'hi' }], prompt)[0]).toEqual({
      role: 'system',
      content: 'TOOLS',
    });
    expect(withSystemPrompt([{ role: 'system', content: 'Be brief.' }], prompt)[0].content).toBe('TOOLS\n\nBe brief.');
  });
});

describe("the schema of a reply's calls, over the fixture's vocabulary", () => {
  let tokenizer: TextTokenizer;
  let grammars: ResponseGrammars;
  let vocabSize: number;
  beforeAll(async () => {
    const folder = await loadFixture(FIXTURES.target);
    tokenizer = folder.tokenizer;
    vocabSize = folder.config.vocabSize;
    grammars = new ResponseGrammars(() => ({
      table: tokenizer.tokenTable(),
      spelling: tokenizer.spelling,
      vocabSize,
      stopTokens: folder.stopTokenIds,
    }));
  });
  afterAll(() => {
    grammars.dispose();
    tokenizer.dispose();
  });

  /** Whether the schema of `tools` lets `text` through to its end, token by token. */
  const takes = async (text: string, tools = [WEATHER, ADD]) => {
    const format = toolUse({ tools })?.format;
    if (!format) throw new Error('no tools');
    const constraint = await grammars.constraint(format);
    try {
      for (const id of tokenizer.encode(text)) {
        const allowed = await constraint.allowed();
        if (!isAllowed(allowed, id) || !constraint.accept(id)) return false;
      }
      return true;
    } finally {
      constraint.dispose();
    }
  };

  it('takes calls of the offered tools with their arguments, and refuses others', async () => {
    expect(await takes('[{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}]')).toBe(true);
    expect(
      await takes('[{"name": "add", "arguments": {"a": 2, "b": 40}}, {"name": "add", "arguments": {"a": 1, "b": 1}}]'),
    ).toBe(true);
    expect(await takes('[{"name": "multiply", "arguments": {"a": 2, "b": 40}}]')).toBe(false); // not offered
    expect(await takes('[{"name": "add", "arguments": {"a": 2.5, "b": 40}}]')).toBe(false); // not an integer
    expect(await takes('[{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "kelvin"}}]')).toBe(false);
    expect(await takes('[]')).toBe(false); // at least one call
    const single = toolUse({ tools: [ADD], parallel_tool_calls: false })?.format;
    expect(JSON.parse(single?.schema ?? '').maxItems).toBe(1);
    expect(await takes('[{"name": "add", "arguments": {"a": 2, "b": 40}}]', [WEATHER])).toBe(false); // add not offered
  });
});
