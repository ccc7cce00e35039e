/**
 * The request pipeline on the reference models (no GPU): text, finish reasons and usage, the
 * same for every draft source.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { CachedGenerator } from '../cache/cached-generator';
import { kvBytes } from '../cache/prefix-cache';
import type { ModelFolder } from '../loader/model-folder';
import { ReferenceModel, type ReferenceSequence } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import { FIXTURES, loadFixture } from '../testing/fixtures';
import { type GenerationParams, generateReply } from './generation';

let folder: ModelFolder;
let target: ReferenceModel;
let draft: ReferenceModel;
beforeAll(async () => {
  folder = await loadFixture(FIXTURES.target);
  const d = await loadFixture(FIXTURES.draft);
  d.tokenizer.dispose();
  target = new ReferenceModel(folder.config, folder.weights);
  draft = new ReferenceModel(d.config, d.weights);
});

const params = (overrides: Partial<GenerationParams> = {}): GenerationParams => ({
  maxTokens: 40,
  sampling: GREEDY,
  seed: 0,
  seeded: true,
  stop: [],
  draft: 'none',
  draftLength: 'auto',
  draftTree: 0,
  draftTreeWidth: 1,
  keep: 0,
  ...overrides,
});

const generator = () =>
  new CachedGenerator<ReferenceSequence, ReferenceSequence>(target, draft, {
    capacity: 256,
    budgetBytes: 2 * (kvBytes(target, 256) + kvBytes(draft, 256)),
  });

const prompt = () =>
  folder.tokenizer.encodeChat([
    { role: 'system', content: 'You are a friendly storyteller.' },
    { role: 'user', content: 'Tell me a story about a brave fox named Leo.' },
  ]);

describe('generateReply', () => {
  it.each(['none', 'model', 'ngram'] as const)(
    'gives the same text, ids and finish reason with draft %s',
    async (kind) => {
      const plain = await generateReply(generator(), folder, prompt(), params({ maxTokens: 120 }));
      const reply = await generateReply(generator(), folder, prompt(), params({ maxTokens: 120, draft: kind }));
      expect(reply.tokens).toEqual(plain.tokens);
      expect(reply.text).toBe(plain.text);
      expect(reply.finishReason).toBe(plain.finishReason);
      expect(reply.usage.spec?.draft).toBe(kind === 'none' ? undefined : kind);
    },
  );

  it('ends with "stop" at a stop token, which leaves no text', async () => {
    const reply = await generateReply(generator(), folder, prompt(), params({ maxTokens: 200 }));
    expect(reply.finishReason).toBe('stop');
    expect(folder.stopTokenIds).toContain(reply.tokens.at(-1));
    expect(reply.text).toBe(folder.tokenizer.decode(reply.tokens.slice(0, -1), { skipSpecial: true }));
  });

  it('ends with "length" at max_tokens, and counts the tokens in the usage', async () => {
    const ids = prompt();
    const streamed: string[] = [];
    const reply = await generateReply(generator(), folder, ids, params({ maxTokens: 12 }), {
      onText: (text) => streamed.push(text),
    });
    expect(reply.finishReason).toBe('length');
    expect(reply.tokens.length).toBe(12);
    expect(streamed.join('')).toBe(reply.text);
    expect(reply.usage).toMatchObject({
      prompt_tokens: ids.length,
      completion_tokens: 12,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: ids.length,
    });
    expect(reply.usage.extra.time_to_first_token_s).toBeGreaterThan(0);
    expect(reply.usage.extra.decode_tokens_per_s).toBeGreaterThan(0);
  });

  it('ends with "stop" before a stop string', async () => {
    const whole = await generateReply(generator(), folder, prompt(), params({ maxTokens: 60 }));
    const word = whole.text.split(' ')[6];
    const reply = await generateReply(generator(), folder, prompt(), params({ maxTokens: 60, stop: [word] }));
    expect(reply.finishReason).toBe('stop');
    expect(reply.text).toBe(whole.text.slice(0, whole.text.indexOf(word)));
  });

  it('ends with "abort" when aborted, and reads the prompt from the cache on the next turn', async () => {
    const shared = generator();
    let tokens = 0;
    const reply = await generateReply(shared, folder, prompt(), params({ maxTokens: 100 }), {
      onText: () => tokens++,
      aborted: () => tokens >= 3,
    });
    expect(reply.finishReason).toBe('abort');
    expect(reply.tokens.length).toBeLessThan(10);
    const again = await generateReply(shared, folder, prompt(), params({ maxTokens: 4 }));
    expect(again.usage.cache_read_input_tokens).toBe(prompt().length - 1);
  });
});
