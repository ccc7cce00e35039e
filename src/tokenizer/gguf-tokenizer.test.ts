/**
 * A GGUF file's SentencePiece tokenizer (the kind of Llama 2, Mistral and TinyLlama files)
 * against SentencePiece itself: public/models/tandem-target-gguf/spm-tokenizer.gguf holds a
 * model trained with Llama 2's settings, written as llama.cpp's converter writes it, and
 * spm-tokenizer.json SentencePiece's ids and text for each test string
 * (scripts/fixtures/spm_gguf_fixture.py). Exact: the same ids, the same text.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamingText } from '../engine/streaming-text';
import { readGguf } from '../loader/gguf';
import { bytesStream } from '../loader/source';
import { fixturePath } from '../testing/fixtures';
import { ggufTokenizer } from './gguf-tokenizer';
import { TextTokenizer } from './tokenizer';

const DIR = fixturePath('tandem-target-gguf');
const golden = JSON.parse(readFileSync(join(DIR, 'spm-tokenizer.json'), 'utf8')) as {
  vocab_size: number;
  cases: { text: string; ids: number[]; decoded: string }[];
};

async function spmTokenizer(edit: (metadata: Map<string, unknown>) => void = () => {}) {
  const file = readFileSync(join(DIR, 'spm-tokenizer.gguf'));
  const header = await readGguf(
    bytesStream(file),
    'spm-tokenizer.gguf',
    () => false,
    () => {},
  );
  edit(header.metadata);
  const { json, config, stopTokenIds } = ggufTokenizer(header.metadata, 'spm-tokenizer.gguf');
  return { tokenizer: await TextTokenizer.fromFiles(json, config, 'spm-tokenizer.gguf'), stopTokenIds };
}

describe("a GGUF byte-level tokenizer's pre-tokenizer, by llama.cpp's name for it", () => {
  /** tokenizer.json's normalizer, pre-tokenizer and ignore_merges for a file naming `pre`. */
  const cut = (pre: string) => {
    const metadata = new Map<string, unknown>([
      ['tokenizer.ggml.model', 'gpt2'],
      ['tokenizer.ggml.tokens', ['a', 'b', 'ab']],
      ['tokenizer.ggml.merges', ['a b']],
      ['tokenizer.ggml.pre', pre],
    ]);
    const { json, config } = ggufTokenizer(metadata as never, `${pre}.gguf`);
    const parsed = JSON.parse(new TextDecoder().decode(json));
    return {
      normalizer: parsed.normalizer,
      pre_tokenizer: parsed.pre_tokenizer,
      ignore_merges: parsed.model.ignore_merges,
      add_bos: config.add_bos_token,
    };
  };

  it("cuts StableLM 2's text as Qwen2's, without Qwen2's NFC (llama.cpp has one expression for both)", () => {
    expect(cut('stablelm2')).toEqual({ ...cut('qwen2'), normalizer: null });
  });

  it("cuts Qwen3.5's as Qwen2's but for combining marks, which stay in their letters' runs", () => {
    const qwen35 = cut('qwen35');
    expect({ ...qwen35, pre_tokenizer: undefined }).toEqual({ ...cut('qwen2'), pre_tokenizer: undefined });
    const [split] = (qwen35.pre_tokenizer as { pretokenizers: { pattern: { Regex: string } }[] }).pretokenizers;
    expect(split.pattern.Regex).toContain('[\\p{L}\\p{M}]+');
    expect(split.pattern.Regex).toContain('[^\\s\\p{L}\\p{M}\\p{N}]+');
  });

  it("cuts DBRX's (cl100k) as Llama 3's, merging every word and adding no BOS; OLMo 1's as GPT-2's", () => {
    expect(cut('dbrx')).toEqual({ ...cut('llama-bpe'), ignore_merges: false, add_bos: false });
    expect(cut('olmo')).toEqual(cut('gpt-2'));
  });
});

describe('a GGUF SentencePiece tokenizer', () => {
  let tokenizer: TextTokenizer;
  let stopTokenIds: number[];
  beforeAll(async () => {
    ({ tokenizer, stopTokenIds } = await spmTokenizer());
  });
  afterAll(() => tokenizer.dispose());

  it('has the pieces, not the padding rows', () => {
    expect(tokenizer.vocabSize).toBe(golden.vocab_size);
    expect([0, 1, 2].map((id) => tokenizer.idToToken(id))).toEqual(['<unk>', '<s>', '</s>']);
    expect(tokenizer.idToToken(3 + 0xe6)).toBe('<0xE6>'); // byte pieces follow the control pieces
    expect(stopTokenIds).toEqual([2]);
  });

  it.each(golden.cases.map((c) => [JSON.stringify(c.text), c] as const))(
    'encodes %s as SentencePiece does, BOS first',
    (_, { text, ids }) => {
      expect(tokenizer.encodePrompt(text)).toEqual(ids);
    },
  );

  it('decodes every encoding to SentencePiece’s text, whole and streamed token by token', () => {
    for (const { ids, decoded } of golden.cases) {
      expect(tokenizer.decode(ids, { skipSpecial: true }), decoded).toBe(decoded);
      const stream = new StreamingText(tokenizer);
      const streamed = ids.map((id) => stream.push(id)).join('') + stream.end();
      expect(streamed, decoded).toBe(decoded);
    }
  });

  it('splits characters outside the vocabulary into byte pieces', () => {
    const ids = tokenizer.encode('🙂');
    expect(ids.map((id) => tokenizer.idToToken(id))).toEqual(['▁', '<0xF0>', '<0x9F>', '<0x99>', '<0x82>']);
  });

  it('renders the chat template with BOS once, special tokens as their ids', () => {
    const ids = tokenizer.encodeChat([
      { role: 'user', content: 'Tell me a story.' },
      { role: 'assistant', content: 'Once upon a time.' },
    ]);
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 1)).toHaveLength(1);
    expect(ids.at(-1)).toBe(2);
    expect(tokenizer.decode(ids, { skipSpecial: true })).toBe('[INST] Tell me a story. [/INST] Once upon a time.');
  });

  it('refuses a tokenizer that collapses runs of whitespace, by name', async () => {
    const error = await spmTokenizer((m) => m.set('tokenizer.ggml.remove_extra_whitespaces', true)).catch((e) => e);
    expect(error.name).toBe('TokenizerError');
    expect(error.message).toMatch(/remove_extra_whitespaces/);
  });

  it('puts no "▁" before the text when the file turns add_space_prefix off', async () => {
    const { tokenizer: plain } = await spmTokenizer((m) => m.set('tokenizer.ggml.add_space_prefix', false));
    expect(plain.idToToken(plain.encode('Once')[0])).toBe('O');
    expect(plain.idToToken(plain.encode(' Once')[0])).toBe('▁Once');
    for (const text of ['Once upon a time', ' Once upon a time']) expect(plain.decode(plain.encode(text))).toBe(text);
    plain.dispose();
  });
});
