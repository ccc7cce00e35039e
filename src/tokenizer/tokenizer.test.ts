/** The tokenizer against the ids of the Python tokenizer that trained the fixtures, and its failure modes. */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memorySource } from '../loader/source';
import { FIXTURES, fixturePath, loadGolden } from '../testing/fixtures';
import { TextTokenizer } from './tokenizer';

const folder = fixturePath(FIXTURES.target);
const file = (name: string) => readFileSync(join(folder, name));

describe('TextTokenizer on the fixture tokenizer', () => {
  let tokenizer: TextTokenizer;
  beforeAll(async () => {
    tokenizer = await TextTokenizer.load(
      memorySource(folder, {
        'tokenizer.json': file('tokenizer.json'),
        'tokenizer_config.json': file('tokenizer_config.json'),
      }),
    );
  });
  afterAll(() => tokenizer.dispose());

  it('encodes the golden prompts to the golden ids (BOS first) and decodes them back', () => {
    for (const golden of loadGolden(FIXTURES.target)) {
      expect(tokenizer.encodePrompt(golden.text)).toEqual(golden.ids);
      expect(tokenizer.decode(golden.ids.slice(1))).toBe(golden.text);
      expect(tokenizer.decode(golden.greedyIds)).toBe(golden.greedyText);
    }
  });

  it('renders the chat template with the assistant turn opened', () => {
    const text = tokenizer.applyChatTemplate([
      { role: 'system', content: 'You are a friendly storyteller.' },
      { role: 'user', content: 'Tell me a story about a shy owl named Nora.' },
    ]);
    expect(text).toBe(loadGolden(FIXTURES.target)[1].text);
    expect(tokenizer.tokenId('<|im_end|>')).toBe(2);
  });

  it('knows its special tokens', () => {
    expect(tokenizer.bosToken).toBe('<|endoftext|>');
    expect(tokenizer.eosToken).toBe('<|im_end|>');
    expect(tokenizer.vocabSize).toBeGreaterThan(300);
  });
});

describe('TextTokenizer failures', () => {
  it('raises TokenizerError when tokenizer.json is missing', async () => {
    const error = await TextTokenizer.load(memorySource('empty', {})).catch((e: Error) => e);
    expect((error as Error).name).toBe('TokenizerError');
    expect((error as Error).message).toMatch(/tokenizer\.json is missing/);
  });

  it('raises TokenizerError when tokenizer.json is not JSON', async () => {
    const error = await TextTokenizer.load(memorySource('bad', { 'tokenizer.json': '{"model": ' })).catch((e) => e);
    expect((error as Error).name).toBe('TokenizerError');
    expect((error as Error).message).toMatch(/not valid JSON/);
  });

  it('raises TokenizerError when the chat template does not parse', async () => {
    const error = await TextTokenizer.load(
      memorySource('bad-template', {
        'tokenizer.json': file('tokenizer.json'),
        'tokenizer_config.json': JSON.stringify({ chat_template: '{% for m in messages %}' }),
      }),
    ).catch((e) => e);
    expect((error as Error).name).toBe('TokenizerError');
    expect((error as Error).message).toMatch(/chat template/);
  });
});
