import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memorySource } from '../loader/source';
import { FIXTURES, fixturePath } from '../testing/fixtures';
import { TextTokenizer } from './tokenizer';
import { checkVocabularies } from './vocabulary';

const tokenizerJson = (name: string) => JSON.parse(readFileSync(join(fixturePath(name), 'tokenizer.json'), 'utf8'));
const load = (json: unknown) => TextTokenizer.load(memorySource('t', { 'tokenizer.json': JSON.stringify(json) }));

describe('draft/target vocabulary check', () => {
  it('accepts the fixture pair, whose tokenizers agree (their embedding tables are padded alike)', async () => {
    const target = await load(tokenizerJson(FIXTURES.target));
    const draft = await load(tokenizerJson(FIXTURES.draft));
    expect(() => checkVocabularies(target, draft)).not.toThrow();
  });

  it('names the first token id that differs', async () => {
    const json = tokenizerJson(FIXTURES.draft);
    const vocab = json.model.vocab as Record<string, number>;
    const [a, b] = Object.entries(vocab).filter(([, id]) => id === 300 || id === 301);
    vocab[a[0]] = b[1]; // swap ids 300 and 301
    vocab[b[0]] = a[1];
    const target = await load(tokenizerJson(FIXTURES.target));
    const draft = await load(json);
    const mismatch = (() => {
      try {
        checkVocabularies(target, draft);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(mismatch?.name).toBe('VocabularyMismatchError');
    expect(mismatch?.message).toMatch(/token id 300/);
  });
});
