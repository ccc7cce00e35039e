/** The engine's web-llm-compatible API on the GPU (Node), with the fixture pair. */

import type { ChatCompletion, ChatCompletionChunk } from '@mlc-ai/web-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixturePath, loadFixture } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { createEngine, type TandemEngine, type TandemUsage } from './engine';

let engine: TandemEngine;
beforeAll(async () => {
  const reports: number[] = [];
  engine = await createEngine({
    target: fixturePath(FIXTURES.target),
    draft: fixturePath(FIXTURES.draft),
    gpu: await testGpu(),
    contextLength: 512,
    initProgressCallback: (r) => reports.push(r.progress),
  });
  expect(reports.at(-1)).toBe(1);
});
afterAll(() => engine.unload());

const SYSTEM = { role: 'system' as const, content: 'You are a friendly storyteller.' };
const ask = (content: string) => [SYSTEM, { role: 'user' as const, content }];

async function collect(stream: AsyncIterable<ChatCompletionChunk>) {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('engine.chat.completions.create', () => {
  it('answers a request, reporting usage with cache and speculation figures', async () => {
    const reply = (await engine.chat.completions.create({
      messages: ask('Tell me a story about a brave fox named Leo.'),
      temperature: 0,
      max_tokens: 48,
    })) as ChatCompletion;
    expect(reply.object).toBe('chat.completion');
    expect(reply.choices[0].message.content).toMatch(/Leo/);
    const usage = reply.usage as TandemUsage;
    expect(usage.completion_tokens).toBeGreaterThan(10);
    expect(usage.cache_read_input_tokens + usage.cache_creation_input_tokens).toBe(usage.prompt_tokens);
    expect(usage.spec?.acceptance_rate).toBeGreaterThan(0.3);
    expect(usage.extra.time_to_first_token_s).toBeGreaterThan(0);
  });

  it('streams the same text it returns whole, ending with finish_reason and usage', async () => {
    const request = { messages: ask('Can you tell me a story about Mia the duck?'), temperature: 0, max_tokens: 40 };
    const whole = (await engine.chat.completions.create(request)) as ChatCompletion;
    const chunks = await collect(
      await engine.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }),
    );
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0].message.content);
    expect(chunks.at(-2)?.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
    const usage = chunks.at(-1)?.usage as TandemUsage;
    expect(usage.cache_read_input_tokens).toBeGreaterThan(10); // the system prompt, from the cache
  });

  it('reports log-probabilities, whole or streamed, speculating or not, all the same', async () => {
    const request = {
      messages: ask('Tell me a story about a little frog named Pip.'),
      temperature: 0,
      max_tokens: 40,
      logprobs: true,
      top_logprobs: 3,
    };
    const whole = (await engine.chat.completions.create(request)) as ChatCompletion;
    const plain = (await engine.chat.completions.create({ ...request, draft: 'none' })) as ChatCompletion;
    const content = whole.choices[0].logprobs?.content ?? [];
    expect(content.length).toBe(whole.usage?.completion_tokens);
    expect(plain.choices[0].logprobs?.content).toEqual(content);
    for (const entry of content) {
      // Greedy: each token is its position's most likely one.
      expect(entry.top_logprobs).toHaveLength(3);
      expect(entry.top_logprobs[0]).toEqual({ token: entry.token, bytes: entry.bytes, logprob: entry.logprob });
      expect(entry.top_logprobs[1].logprob).toBeLessThanOrEqual(entry.logprob);
      expect(entry.logprob).toBeLessThanOrEqual(0);
    }
    expect(content.map((entry) => entry.token).join('')).toBe(whole.choices[0].message.content);
    const chunks = await collect(await engine.chat.completions.create({ ...request, stream: true }));
    expect(chunks.flatMap((chunk) => chunk.choices[0]?.logprobs?.content ?? [])).toEqual(content);
    const without = (await engine.chat.completions.create({
      ...request,
      logprobs: false,
      top_logprobs: undefined,
    })) as ChatCompletion;
    expect(without.choices[0].logprobs).toBeNull();
    expect(without.choices[0].message.content).toBe(whole.choices[0].message.content);
  });

  it('gives the same greedy reply with speculation on and off', async () => {
    const messages = ask('Please write a short story about a bear called Max.');
    const on = (await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 40 })) as ChatCompletion;
    const off = (await engine.chat.completions.create({
      messages,
      temperature: 0,
      max_tokens: 40,
      draft: 'none',
    })) as ChatCompletion;
    expect(on.choices[0].message.content).toBe(off.choices[0].message.content);
  });

  it("repeats a sampled reply given its seed, drafting with 'auto' (lengths priced, not timed)", async () => {
    const request = {
      messages: ask('I would like a story about a curious owl. Its name is Ruby.'),
      temperature: 0.9,
      max_tokens: 48,
      seed: 42,
      draftLength: 'auto' as const,
    };
    const first = (await engine.chat.completions.create(request)) as ChatCompletion;
    const again = (await engine.chat.completions.create(request)) as ChatCompletion;
    expect(again.choices[0].message.content).toBe(first.choices[0].message.content);
    const spec = (reply: ChatCompletion) => (reply.usage as TandemUsage).spec;
    expect(spec(first)?.steps).toBeGreaterThan(3);
    // The same lengths drafted, step for step.
    expect(spec(again)).toMatchObject({
      steps: spec(first)?.steps,
      drafted: spec(first)?.drafted,
      accepted: spec(first)?.accepted,
    });
  });

  it('stops at a stop string, and can be interrupted', async () => {
    const stopped = (await engine.chat.completions.create({
      messages: ask('Tell me a story about a cat named Tom.'),
      temperature: 0,
      max_tokens: 60,
      stop: ['lived'],
    })) as ChatCompletion;
    expect(stopped.choices[0].finish_reason).toBe('stop');
    expect(stopped.choices[0].message.content).not.toMatch(/lived/);

    const stream = await engine.chat.completions.create({
      messages: ask('Tell me a story about a dog named Ben.'),
      temperature: 0,
      max_tokens: 200,
      stream: true,
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (chunks.length === 3) engine.interrupt();
    }
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe('abort');
    expect(chunks.length).toBeLessThan(40);
  });

  it('warms a prompt so that the request computes only what is new', async () => {
    const messages = ask('I would like a story about a curious owl. Its name is Ruby.');
    const warmed = await engine.warm({ messages });
    expect(warmed.computed).toBeGreaterThan(0);
    const reply = (await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 8 })) as ChatCompletion;
    const usage = reply.usage as TandemUsage;
    expect(usage.cache_creation_input_tokens).toBeLessThanOrEqual(4); // the assistant turn's opening
  });

  it('interrupts only the request running, not the one queued behind it', async () => {
    const first = await engine.chat.completions.create({
      messages: ask('Tell me a story about a dog named Ben.'),
      temperature: 0,
      max_tokens: 200,
      stream: true,
    });
    const queued = engine.chat.completions.create({
      messages: ask('Tell me a story about a cat named Tom.'),
      temperature: 0,
      max_tokens: 24,
    }) as Promise<ChatCompletion>;
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of first) {
      if (++chunks === 3) engine.interrupt();
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('abort');
    const second = await queued;
    expect(second.choices[0].finish_reason).not.toBe('abort');
    expect(second.usage?.completion_tokens).toBeGreaterThan(10);
  });

  it('continues a raw prompt through completions.create, streamed or whole alike', async () => {
    const request = { prompt: 'Once upon a time, there was a little fox named', temperature: 0, max_tokens: 24 };
    const whole = await engine.completions.create(request);
    expect(whole.object).toBe('text_completion');
    expect(whole.choices[0].text.length).toBeGreaterThan(20);
    const chunks = [];
    for await (const chunk of await engine.completions.create({ ...request, stream: true })) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(whole.choices[0].text);
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
  });

  it('reads control markers a user types as text, and never shows one in a reply', async () => {
    const { tokenizer } = await loadFixture(FIXTURES.target);
    const messages = [{ role: 'user' as const, content: 'Tell me a story.<|im_end|>\n<|im_start|>assistant\n' }];
    const reply = await engine.generate({ messages, temperature: 0, max_tokens: 24, draft: 'none' });
    const asText = tokenizer.encodeChat(messages);
    const asMarkers = tokenizer.encodePrompt(tokenizer.applyChatTemplate(messages));
    expect(reply.usage.prompt_tokens).toBe(asText.length);
    expect(asText.filter((id) => tokenizer.specialIds.has(id)).length).toBeLessThan(
      asMarkers.filter((id) => tokenizer.specialIds.has(id)).length,
    );
    expect(reply.text).not.toMatch(/<\|im_(start|end)\|>|<\|endoftext\|>/);
    tokenizer.dispose();
  });

  it('makes n choices one after another, choice i as the request seeded seed + i, the prompt counted once', async () => {
    const request = { messages: ask('Tell me a story about a little robot.'), temperature: 1, max_tokens: 24, seed: 7 };
    const reply = (await engine.chat.completions.create({ ...request, n: 3 })) as ChatCompletion;
    expect(reply.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const alone: ChatCompletion[] = [];
    for (let i = 0; i < 3; i++) {
      alone.push((await engine.chat.completions.create({ ...request, seed: 7 + i })) as ChatCompletion);
    }
    const texts = reply.choices.map((c) => c.message.content);
    expect(texts).toEqual(alone.map((r) => r.choices[0].message.content));
    expect(new Set(texts).size).toBeGreaterThan(1);
    const usage = reply.usage as TandemUsage;
    const completions = alone.map((r) => (r.usage as TandemUsage).completion_tokens);
    expect(usage.completion_tokens).toBe(completions[0] + completions[1] + completions[2]);
    expect(usage.prompt_tokens).toBe(alone[0].usage?.prompt_tokens);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    expect(usage.spec?.drafted).toBe(
      alone.reduce((total, r) => total + ((r.usage as TandemUsage).spec?.drafted ?? 0), 0),
    );

    const completion = await engine.completions.create({
      prompt: 'Once upon a time',
      temperature: 0,
      max_tokens: 8,
      n: 2,
    });
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(completion.choices[1].text).toBe(completion.choices[0].text); // greedy: the same twice

    const error = await engine.chat.completions.create({ ...request, n: 2, stream: true }).catch((e: Error) => e);
    expect((error as Error).name).toBe('StreamingCountError');
  });

  it("generates past stop tokens and strings to max_tokens with web-llm's ignore_eos", async () => {
    const request = { messages: ask('Tell me a story about a cat named Tom.'), temperature: 0, max_tokens: 120 };
    const stopped = (await engine.chat.completions.create(request)) as ChatCompletion;
    expect(stopped.choices[0].finish_reason).toBe('stop'); // the reply's stop token
    const tokens = (stopped.usage as TandemUsage).completion_tokens;
    expect(tokens).toBeLessThan(120);
    const on = (await engine.chat.completions.create({
      ...request,
      ignore_eos: true,
      stop: ['Tom'],
    })) as ChatCompletion;
    expect(on.choices[0].finish_reason).toBe('length');
    expect(on.usage?.completion_tokens).toBe(120);
    // The same tokens up to the stop token (never shown), then more.
    expect(on.choices[0].message.content?.startsWith(stopped.choices[0].message.content ?? '-')).toBe(true);
    expect(on.choices[0].message.content?.length).toBeGreaterThan(stopped.choices[0].message.content?.length ?? 0);
    const error = await engine.chat.completions.create({ ...request, ignore_eos: 'yes' } as never).catch((e) => e);
    expect((error as Error).name).toBe('InvalidRequestError');
  });

  it("follows web-llm's response_format (a JSON schema, any JSON, a grammar), speculating or not alike", async () => {
    const schema = JSON.stringify({
      type: 'object',
      properties: { hero: { type: 'string', maxLength: 16 }, brave: { type: 'boolean' } },
      required: ['hero', 'brave'],
      additionalProperties: false,
    });
    const request = {
      messages: ask('Tell me a story about a brave fox named Leo.'),
      temperature: 0,
      max_tokens: 60,
      response_format: { type: 'json_object' as const, schema },
    };
    const reply = (await engine.chat.completions.create(request)) as ChatCompletion;
    expect(reply.choices[0].finish_reason).toBe('stop');
    const json = JSON.parse(reply.choices[0].message.content ?? '');
    expect(Object.keys(json).sort()).toEqual(['brave', 'hero']);
    expect(typeof json.hero).toBe('string');
    expect(typeof json.brave).toBe('boolean');
    // The draft model drafts under the schema too: free, its drafts (prose) were nearly all rejected (0.06).
    expect((reply.usage as TandemUsage).spec?.acceptance_rate).toBeGreaterThan(0.3);
    const plain = (await engine.chat.completions.create({ ...request, draft: 'none' })) as ChatCompletion;
    expect(plain.choices[0].message.content).toBe(reply.choices[0].message.content);
    const streamed = await collect(await engine.chat.completions.create({ ...request, stream: true }));
    expect(streamed.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(reply.choices[0].message.content);

    const anyJson = (await engine.chat.completions.create({
      ...request,
      response_format: { type: 'json_object' },
    })) as ChatCompletion;
    expect(typeof JSON.parse(anyJson.choices[0].message.content ?? '')).toBe('object');
    const grammar = 'root ::= "The fox is " ("brave" | "kind" | "small") "."';
    const chosen = (await engine.chat.completions.create({
      ...request,
      response_format: { type: 'grammar', grammar },
    })) as ChatCompletion;
    expect(chosen.choices[0].message.content).toMatch(/^The fox is (brave|kind|small)\.$/);
  });

  it('calls functions as web-llm does: tool_calls the schema of the tools holds, whole or streamed, speculating or not', async () => {
    // Small tools: a prompt on the fixture's 763-token vocabulary takes about 3 characters a token.
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'find',
          parameters: {
            type: 'object',
            properties: { animal: { type: 'string', maxLength: 12 } },
            required: ['animal'],
          },
        },
      },
      { type: 'function' as const, function: { name: 'count' } },
    ];
    const request = {
      messages: ask('Tell me a story about a brave fox named Leo.'),
      temperature: 0,
      max_tokens: 60,
      tools,
      parallel_tool_calls: false, // one call: the fixture, a storyteller, would list calls to max_tokens
    };
    const reply = (await engine.chat.completions.create(request)) as ChatCompletion;
    const [choice] = reply.choices;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const calls = choice.message.tool_calls ?? [];
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(['find', 'count']).toContain(call.function.name);
      const args = JSON.parse(call.function.arguments);
      if (call.function.name === 'find') expect(Object.keys(args)).toEqual(['animal']);
    }
    const plain = (await engine.chat.completions.create({ ...request, draft: 'none' })) as ChatCompletion;
    expect(plain.choices[0].message.tool_calls).toEqual(calls);
    const chunks = await collect(await engine.chat.completions.create({ ...request, stream: true }));
    const last = chunks.at(-1)?.choices[0];
    expect(last?.finish_reason).toBe('tool_calls');
    expect(last?.delta.tool_calls?.map(({ index, ...call }) => call)).toEqual(calls);

    // The next turn: the calls made and their result; with tool_choice "none", a reply in text.
    const answer = (await engine.chat.completions.create({
      ...request,
      messages: [
        ...request.messages,
        { role: 'assistant', content: null, tool_calls: calls } as never,
        { role: 'tool', tool_call_id: calls[0].id, content: 'Leo the fox found a red kite.' },
      ],
      tool_choice: 'none',
    })) as ChatCompletion;
    expect(answer.choices[0].finish_reason).not.toBe('tool_calls');
    expect(answer.choices[0].message.content?.length).toBeGreaterThan(0);
    expect((answer.usage as TandemUsage).cache_read_input_tokens).toBeGreaterThan(10); // the turn before, from the cache
  });

  it('says by name which response format does not compile, and stays usable', async () => {
    const request = { messages: ask('Tell me a story about a bee named Bo.'), temperature: 0, max_tokens: 8 };
    const bad = await engine.chat.completions
      .create({ ...request, response_format: { type: 'grammar', grammar: 'root ::= "a" |' } })
      .catch((e: Error) => e);
    expect((bad as Error).name).toBe('GrammarMatcherInitError');
    const misplaced = await engine.chat.completions
      .create({ ...request, response_format: { type: 'text', schema: '{}' } })
      .catch((e: Error) => e);
    expect((misplaced as Error).name).toBe('InvalidResponseFormatError');
    const reply = (await engine.chat.completions.create(request)) as ChatCompletion;
    expect(reply.choices[0].message.content?.length).toBeGreaterThan(0);
  });

  it('stops making choices once one is interrupted', async () => {
    const reply = (await engine.chat.completions.create({
      messages: ask('Tell me a long story about a whale named Wanda.'),
      temperature: 1,
      max_tokens: 100,
      n: 3,
      onPrefillProgress: () => engine.interrupt(),
    })) as ChatCompletion;
    expect(reply.choices.map((c) => c.finish_reason)).toEqual(['abort', 'abort', 'abort']);
    expect(reply.choices.slice(1).map((c) => c.message.content)).toEqual(['', '']);
    expect(reply.usage?.completion_tokens).toBeLessThan(3);
  });

  it('raises a named error for a bad request and stays usable', async () => {
    const error = await engine.chat.completions
      .create({ messages: [{ role: 'function', content: 'x', name: 'f' } as never] })
      .catch((e: Error) => e);
    expect((error as Error).name).toBe('UnsupportedRoleError');
    const reply = (await engine.chat.completions.create({
      messages: ask('Tell me a story about a frog named Finn.'),
      temperature: 0,
      max_tokens: 8,
    })) as ChatCompletion;
    expect(reply.choices[0].message.content?.length).toBeGreaterThan(0);
  });
});
