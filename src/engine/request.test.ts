/**
 * Reading a request's fields: the model's defaults for what it leaves out, web-llm's checks
 * (and error names) for what it sets, and fields Tandem does not implement refused by name.
 */

import { describe, expect, it } from 'vitest';
import { type EngineDefaults, generationParams, type TandemRequest } from './request';

const defaults: EngineDefaults = {
  draft: 'none',
  draftLength: 'auto',
  draftTree: 0,
  draftTreeWidth: 1,
  generation: {},
};
const prompt = { ids: [1, 2, 3, 4], keep: 0 };
const read = (request: Record<string, unknown>, generation = {}) =>
  generationParams({ messages: [{ role: 'user', content: 'hi' }], ...request } as TandemRequest, prompt, 100, 50, {
    ...defaults,
    generation,
  });
const failure = (request: Record<string, unknown>) => {
  try {
    read(request);
  } catch (error) {
    return error as Error;
  }
  throw new Error(`expected ${JSON.stringify(request)} to be refused`);
};

describe('generationParams', () => {
  it("takes what a request leaves out from the model's generation_config.json", () => {
    // Qwen2.5's published defaults.
    const qwen = { doSample: true, temperature: 0.7, topP: 0.8, topK: 20, repetitionPenalty: 1.05 };
    const params = read({}, qwen);
    expect(params.sampling).toEqual({ temperature: 0.7, topP: 0.8, topK: 20 });
    expect(params.rules?.repetitionPenalty).toBe(1.05);
    expect(read({ temperature: 0.2, top_k: 0 }, qwen).sampling).toEqual({ temperature: 0.2, topP: 0.8, topK: 0 });
    // do_sample false: greedy unless the request says otherwise; no file at all: temperature 1.
    expect(read({}, { doSample: false, temperature: 0.6 }).sampling.temperature).toBe(0);
    expect(read({}).sampling).toEqual({ temperature: 1, topP: 1, topK: 0 });
  });

  it('reads logit_bias and the penalties', () => {
    const { rules } = read({ logit_bias: { '7': 5, '0': -100 }, frequency_penalty: 0.5, presence_penalty: -1 });
    expect(rules).toEqual({
      repetitionPenalty: 1,
      frequencyPenalty: 0.5,
      presencePenalty: -1,
      logitBias: new Map([
        [0, -100],
        [7, 5],
      ]),
    });
  });

  it('refuses values web-llm refuses, by the names web-llm gives them', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ temperature: Number.NaN }, 'NonNegativeError', /temperature/],
      [{ temperature: 'hot' }, 'NonNegativeError', /temperature/],
      [{ temperature: -1 }, 'NonNegativeError', /temperature/],
      [{ top_p: 0 }, 'RangeError', /top_p/],
      [{ top_p: 1.5 }, 'RangeError', /top_p/],
      [{ top_p: Number.NaN }, 'RangeError', /top_p/],
      [{ max_tokens: 0 }, 'MinValueError', /max_tokens/],
      [{ max_tokens: -5 }, 'MinValueError', /max_tokens/],
      [{ max_tokens: 2.5 }, 'MinValueError', /max_tokens/],
      [{ seed: Number.NaN }, 'SeedTypeError', /seed/],
      [{ seed: 1.5 }, 'SeedTypeError', /seed/],
      [{ frequency_penalty: 3 }, 'RangeError', /frequency_penalty/],
      [{ presence_penalty: Number.NaN }, 'RangeError', /presence_penalty/],
      [{ repetition_penalty: 0 }, 'MinValueError', /repetition_penalty/],
      [{ logit_bias: { '7': 101 } }, 'RangeError', /logit_bias/],
      [{ logit_bias: { abc: 1 } }, 'RangeError', /token ids/],
      [{ logit_bias: { '50': 1 } }, 'RangeError', /token ids/], // past the vocabulary
      [{ draftLength: 1e9 }, 'RangeError', /draftLength/],
      [{ draftLength: Number.NaN }, 'RangeError', /draftLength/],
      [{ draft: 'oracle' }, 'RangeError', /draft/],
      [{ draftTree: 9 }, 'RangeError', /draftTree/],
      [{ draftTree: 1.5 }, 'RangeError', /draftTree/],
      [{ draftTreeWidth: 0 }, 'RangeError', /draftTreeWidth/],
      [{ draftTreeWidth: 4 }, 'RangeError', /draftTreeWidth/],
      [{ n: 0 }, 'RangeError', /`n` is in 1 to 128/],
      [{ n: 1.5 }, 'RangeError', /`n`/],
      [{ n: 129 }, 'RangeError', /`n`/],
      [{ n: 2, stream: true }, 'StreamingCountError', /When streaming, `n` cannot be > 1/],
      [{ tools: [{ type: 'function' }] }, 'InvalidRequestError', /tools\[0\] must be/],
      [{ top_logprobs: 2 }, 'DependencyError', /`top_logprobs` requires `logprobs` to be true/],
      [{ logprobs: true, top_logprobs: 6 }, 'RangeError', /top_logprobs/],
      [{ logprobs: true, top_logprobs: 1.5 }, 'RangeError', /top_logprobs/],
      [{ logprobs: 'yes' }, 'InvalidRequestError', /logprobs/],
      [{ response_format: 'json' }, 'InvalidRequestError', /`response_format` must be an object/],
      [{ response_format: { type: 'xml' } }, 'RangeError', /response_format.type/],
      [
        { response_format: { type: 'text', schema: '{}' } },
        'InvalidResponseFormatError',
        /only supported with `json_object`/,
      ],
      [{ response_format: { type: 'grammar' } }, 'InvalidResponseFormatGrammarError', /grammar needs to be specified/],
      [
        { response_format: { type: 'json_object', grammar: 'root ::= "a"' } },
        'InvalidResponseFormatGrammarError',
        /type needs to be grammar/,
      ],
      [
        { response_format: { type: 'structural_tag' } },
        'InvalidResponseFormatStructuralTagError',
        /structural_tag needs/,
      ],
      [{ response_format: { type: 'json_object', schema: 7 } }, 'InvalidRequestError', /schema` must be a JSON schema/],
      [{ response_format: { type: 'grammar', grammar: ['root'] } }, 'InvalidRequestError', /grammar` must be a string/],
      [{ stream_options: { include_usage: true } }, 'InvalidRequestError', /stream_options/],
      [{ stop: [''] }, 'InvalidRequestError', /stop/],
    ];
    for (const [request, name, message] of cases) {
      const error = failure(request);
      expect(error.name, JSON.stringify(request)).toBe(name);
      expect(error.message, JSON.stringify(request)).toMatch(message);
    }
    expect(read({ response_format: { type: 'text' }, logprobs: false }).responseFormat).toEqual({ type: 'text' });
    const schema = { type: 'object', properties: { a: { type: 'integer' } } };
    expect(read({ response_format: { type: 'json_object', schema } }).responseFormat).toEqual({
      type: 'json_object',
      schema: JSON.stringify(schema), // an object is taken as its JSON text
    });
    expect(read({ response_format: { type: 'grammar', grammar: 'root ::= "a"' } }).responseFormat?.grammar).toBe(
      'root ::= "a"',
    );
    expect(read({ n: 3 }).maxTokens).toBeGreaterThan(0); // choices: made one after another (engine.ts)
    const tool = { type: 'function', function: { name: 'add' } };
    expect(read({ tools: [tool] })).toMatchObject({ toolCalls: true, responseFormat: { type: 'json_object' } });
    const described = read({ tools: [tool], tool_choice: 'none' }); // described in the prompt, not called
    expect([described.toolCalls, described.responseFormat]).toEqual([undefined, undefined]);
    const completion = () => generationParams({ prompt: 'x', tools: [tool] } as never, prompt, 100, 50, defaults);
    expect(completion).toThrow(expect.objectContaining({ name: 'UnsupportedFieldsError' }));
    expect(read({ n: 1, stream: true }).maxTokens).toBeGreaterThan(0);
    expect(read({ logprobs: false }).logprobs).toBeUndefined();
    expect(read({ logprobs: true }).logprobs).toBe(0);
    expect(read({ logprobs: true, top_logprobs: 5 }).logprobs).toBe(5);
  });

  it('refuses a prompt longer than the context, saying both lengths', () => {
    const error = (() => {
      try {
        generationParams({ prompt: 'x' }, { ids: new Array(100).fill(1), keep: 0 }, 100, 50, defaults);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.name).toBe('ContextWindowSizeExceededError');
    expect(error?.message).toMatch(/100 tokens long; this engine holds 100/);
  });
});
