/**
 * Response formats compiled by xgrammar over real vocabularies: how each tokenizer's token
 * strings spell text (byte-level: the fixtures' and Qwen3's published tokenizer; SentencePiece
 * with byte fallback: a GGUF file's), the mask after each token of a reply, rollback, special
 * tokens, structural tags, and formats that do not compile. (Generation under a grammar: speculative/constrained.test.ts.)
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGguf } from '../loader/gguf';
import { bytesStream } from '../loader/source';
import { FIXTURES, fixturePath, loadFixture } from '../testing/fixtures';
import { ggufTokenizer } from '../tokenizer/gguf-tokenizer';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { type GrammarVocabulary, ResponseGrammars, type TokenConstraint } from './grammar';
import { maskRows } from './token-mask';

const vocabularyOf =
  (tokenizer: TextTokenizer, stopTokens: number[], vocabSize = tokenizer.vocabSize) =>
  () =>
    ({
      table: tokenizer.tokenTable(),
      spelling: tokenizer.spelling,
      vocabSize,
      stopTokens,
    }) satisfies GrammarVocabulary;

/** The tokens `constraint` allows next, as a set. */
async function allowed(constraint: TokenConstraint, vocabSize: number): Promise<Set<number>> {
  const row = maskRows(new Float32Array(vocabSize), await constraint.allowed(), vocabSize);
  return new Set([...row.keys()].filter((t) => row[t] === 0));
}

/** Walks `ids` through `constraint`, each allowed by the mask before it and accepted. */
async function walk(constraint: TokenConstraint, ids: number[], vocabSize: number) {
  for (const id of ids) {
    expect((await allowed(constraint, vocabSize)).has(id)).toBe(true);
    expect(constraint.accept(id)).toBe(true);
  }
}

describe("the fixture's byte-level vocabulary", () => {
  let tokenizer: TextTokenizer;
  let stopTokens: number[];
  let vocabSize: number;
  let grammars: ResponseGrammars;
  beforeAll(async () => {
    const folder = await loadFixture(FIXTURES.target);
    tokenizer = folder.tokenizer;
    stopTokens = folder.stopTokenIds;
    vocabSize = folder.config.vocabSize; // padded past the tokenizer's
    grammars = new ResponseGrammars(vocabularyOf(tokenizer, stopTokens, vocabSize));
  });
  afterAll(() => {
    grammars.dispose();
    tokenizer.dispose();
  });

  it('is spelled byte-level, with no space prepended', () => {
    expect(tokenizer.spelling).toEqual({ type: 'byte_level', prependSpace: false });
  });

  it('follows a JSON schema token by token, then allows only a stop token, then is complete', async () => {
    const schema = JSON.stringify({
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' } },
      required: ['name', 'age'],
    });
    const constraint = await grammars.constraint({ type: 'json_object', schema });
    const ids = tokenizer.encode('{"name": "Zoe the turtle", "age": 12}');
    await walk(constraint, ids, vocabSize);
    expect([...(await allowed(constraint, vocabSize))].sort()).toEqual([...stopTokens].sort());
    expect(constraint.terminated).toBe(false);
    expect(constraint.accept(stopTokens[0])).toBe(true);
    expect(constraint.terminated).toBe(true);
    constraint.dispose();
    expect(constraint.terminated).toBe(true); // still known once disposed
  });

  it('refuses what breaks the schema: a missing property, a string for an integer, newlines between items', async () => {
    const schema = JSON.stringify({
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' } },
      required: ['name', 'age'],
    });
    const refuses = async (text: string) => {
      const constraint = await grammars.constraint({ type: 'json_object', schema });
      const ids = tokenizer.encode(text);
      let refused = false;
      for (const id of ids) {
        if (!(await allowed(constraint, vocabSize)).has(id)) {
          expect(constraint.accept(id)).toBe(false);
          refused = true;
          break;
        }
        constraint.accept(id);
      }
      constraint.dispose();
      return refused;
    };
    expect(await refuses('{"name": "Zoe", "age": 12}')).toBe(false);
    expect(await refuses('{"age": 12}')).toBe(true);
    expect(await refuses('{"name": "Zoe", "age": "12"}')).toBe(true);
    expect(await refuses('{"name": "Zoe",\n"age": 12}')).toBe(true);
  });

  it('with no schema, allows any object on one line; never a padding row or a special token', async () => {
    const constraint = await grammars.constraint({ type: 'json_object' });
    await walk(constraint, tokenizer.encode('{"story": ["a bear", "Max"], "happy": true, "n": -1.5e3}'), vocabSize);
    const refused = await grammars.constraint({ type: 'json_object' });
    await walk(refused, tokenizer.encode('{"story": "'), vocabSize);
    const open = await allowed(refused, vocabSize); // inside a string: any text
    for (let padding = tokenizer.vocabSize; padding < vocabSize; padding++) expect(open.has(padding)).toBe(false);
    for (const special of tokenizer.specialIds) expect(open.has(special)).toBe(false);
    expect(open.size).toBeGreaterThan(tokenizer.vocabSize / 2);
    constraint.dispose();
    refused.dispose();
  });

  it('takes tokens back: after a rollback the mask is what it was', async () => {
    const constraint = await grammars.constraint({ type: 'grammar', grammar: 'root ::= "yes, " ("Zoe" | "Max") "."' });
    const ids = tokenizer.encode('yes, Zoe.');
    await walk(constraint, ids.slice(0, 2), vocabSize);
    const before = await allowed(constraint, vocabSize);
    await walk(constraint, ids.slice(2), vocabSize);
    constraint.rollBack(ids.length - 2);
    expect(await allowed(constraint, vocabSize)).toEqual(before);
    const other = tokenizer.encode('yes, Max.');
    expect(other.slice(0, 2)).toEqual(ids.slice(0, 2));
    await walk(constraint, other.slice(2), vocabSize);
    expect(await allowed(constraint, vocabSize)).toEqual(new Set(stopTokens));
    constraint.dispose();
  });

  it("follows a structural tag: free text, and after its trigger, the tag's JSON schema", async () => {
    const structural_tag = {
      type: 'structural_tag',
      format: {
        type: 'triggered_tags',
        triggers: ['<call='],
        tags: [
          {
            begin: '<call=add>',
            content: { type: 'json_schema', json_schema: { type: 'object', properties: { a: { type: 'integer' } } } },
            end: '</call>',
          },
        ],
      },
    };
    const takes = async (text: string) => {
      const constraint = await grammars.constraint({ type: 'structural_tag', structural_tag });
      try {
        for (const id of tokenizer.encode(text)) {
          if (!(await allowed(constraint, vocabSize)).has(id) || !constraint.accept(id)) return false;
        }
        return true;
      } finally {
        constraint.dispose();
      }
    };
    expect(await takes('Let me add them. <call=add>{"a": 2}</call> Done.')).toBe(true);
    expect(await takes('Let me add them. <call=add>{"a": "two"}')).toBe(false);
  });

  it('says by name which format does not compile', async () => {
    const error = (format: Parameters<ResponseGrammars['constraint']>[0]) =>
      grammars.constraint(format).then(
        () => undefined,
        (e: Error) => e,
      );
    const notJson = await error({ type: 'json_object', schema: '{"type": "object",' });
    expect(notJson?.name).toBe('GrammarMatcherInitError');
    expect(notJson?.message).toMatch(/json_object.*not valid JSON/);
    const badGrammar = await error({ type: 'grammar', grammar: 'root ::= "a" |' });
    expect(badGrammar?.name).toBe('GrammarMatcherInitError');
    expect(badGrammar?.message).toMatch(/`grammar`.*EBNF grammar/);
    // and the compiler still works after xgrammar refused
    const constraint = await grammars.constraint({ type: 'grammar', grammar: 'root ::= "ok"' });
    await walk(constraint, tokenizer.encode('ok'), vocabSize);
    constraint.dispose();
  });
});

describe('published and GGUF vocabularies', () => {
  it("spells Qwen3's published tokenizer byte-level, and matches its tokens of a JSON reply", async () => {
    const dir = join(import.meta.dirname, '../tokenizer/testdata/qwen3');
    const json = gunzipSync(readFileSync(join(dir, 'tokenizer.json.gz')));
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    const tokenizer = await TextTokenizer.fromFiles(json, config, 'Qwen3');
    expect(tokenizer.spelling).toEqual({ type: 'byte_level', prependSpace: false });
    const end = tokenizer.tokenId('<|im_end|>') as number;
    const grammars = new ResponseGrammars(vocabularyOf(tokenizer, [end], 151936));
    const constraint = await grammars.constraint({ type: 'json_object' });
    await walk(constraint, tokenizer.encode('{"city": "Zürich", "weather": "☀️ 24°C", "ok": true}'), 151936);
    expect(await allowed(constraint, 151936)).toEqual(new Set([end]));
    constraint.dispose();
    grammars.dispose();
    tokenizer.dispose();
  });

  it('spells a SentencePiece GGUF vocabulary with byte fallback and a prepended space, and matches its tokens', async () => {
    const file = readFileSync(join(fixturePath('tandem-target-gguf'), 'spm-tokenizer.gguf'));
    const header = await readGguf(
      bytesStream(file),
      'spm-tokenizer.gguf',
      () => false,
      () => {},
    );
    const { json, config, stopTokenIds } = ggufTokenizer(header.metadata, 'spm-tokenizer.gguf');
    const tokenizer = await TextTokenizer.fromFiles(json, config, 'spm-tokenizer.gguf');
    expect(tokenizer.spelling).toEqual({ type: 'byte_fallback', prependSpace: true });
    const grammars = new ResponseGrammars(vocabularyOf(tokenizer, stopTokenIds));
    // Encoding prepends a space (▁The): xgrammar matches token strings as they spell text, so
    // the grammar takes one; ▁ spells a space and <0xC3><0xA9> the bytes of é.
    const grammar = 'root ::= " The bear said: " [^!]+ "!"';
    const constraint = await grammars.constraint({ type: 'grammar', grammar });
    const ids = tokenizer.encode('The bear said: café olé!');
    expect(ids.some((id) => /^<0x[0-9A-F]{2}>$/.test(tokenizer.idToToken(id)))).toBe(true); // bytes spelled as <0xNN>
    await walk(constraint, ids, tokenizer.vocabSize);
    expect(await allowed(constraint, tokenizer.vocabSize)).toEqual(new Set(stopTokenIds));
    constraint.dispose();
    grammars.dispose();
    tokenizer.dispose();
  });
});
