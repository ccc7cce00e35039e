/**
 * A published model's tokenizer (Qwen3's: 151,669 tokens, 151,387 merges, its chat template),
 * not a fixture's: the ids of tokenizer.json as an independent implementation gives them
 * (transformers.js, through @lenml/tokenizers 3.7.2), the same ids and text from the tokenizer
 * rebuilt from a GGUF file's metadata as llama.cpp's converter writes it, and the template's
 * prompt. Exact throughout.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GgufValue } from '../loader/gguf';
import { ggufTokenizer } from './gguf-tokenizer';
import { TextTokenizer, type TokenizerConfig } from './tokenizer';

const DIR = join(import.meta.dirname, 'testdata/qwen3');
const JSON_BYTES = gunzipSync(readFileSync(join(DIR, 'tokenizer.json.gz')));
const CONFIG = JSON.parse(readFileSync(join(DIR, 'tokenizer_config.json'), 'utf8')) as TokenizerConfig;
/** Qwen3's config.json: the model's rows, past the tokenizer's 151,669 tokens. */
const MODEL_VOCAB = 151_936;

// transformers.js's ids for these strings (add_special_tokens: false).
const TRANSFORMERS_JS: [string, number[]][] = [
  ['Hello world! How are you doing today?', [9707, 1879, 0, 2585, 525, 498, 3730, 3351, 30]],
  [
    'Numbers: 1, 12, 123, 1234 and 3.14',
    [27237, 25, 220, 16, 11, 220, 16, 17, 11, 220, 16, 17, 18, 11, 220, 16, 17, 18, 19, 323, 220, 18, 13, 16, 19],
  ],
  ["I'LL be there, don't", [40, 6, 4086, 387, 1052, 11, 1513, 944]],
  [
    'Café naïve 日本語のテキスト 🙂',
    [34, 2577, 963, 94880, 586, 75402, 21894, 102819, 15767, 56833, 61803, 70534, 27484],
  ],
  ['<|im_start|>user\nhi<|im_end|>', [151644, 872, 198, 6023, 151645]],
];

// Text of every kind a pre-tokenizer cuts differently: contractions in any case, digit runs,
// whitespace runs and line ends, scripts without spaces, combining marks (NFC), emoji, and
// Qwen3's added tokens, special (<|im_start|>) and not (<think>).
const CORPUS = [
  ...TRANSFORMERS_JS.map(([text]) => text),
  "We'VE, they'd, SHE'S; 'quoted' and “smart quotes”",
  '12345678901234567890, 1,000,000.5 and v2.0.1',
  '    indented\n\tdef f(x):\n\t\treturn x**2  # square\n\n\n\nend  \n  ',
  '\r\nWindows\r\nlines\r\n   trailing   ',
  'CamelCaseWords HTTPServer snake_case kebab-case',
  '中文文本，还有한국어 텍스트. Arabic: مرحبا بالعالم. Thai: สวัสดีครับ',
  'decomposed: Cafe\u0301 nai\u0308ve, Å vs A\u030a',
  'Emoji: 👍🏽🇫🇷 👨‍👩‍👧‍👦',
  '<think>\nsteps\n</think>\n\n<tool_call>{"name": "f"}</tool_call><|endoftext|>',
  'a'.repeat(200),
];

/**
 * tokenizer.json as llama.cpp's converter (convert_hf_to_gguf.py) writes it into a GGUF file:
 * every row of the model's vocabulary a token (rows without one "[PADn]", unused), added
 * tokens control (special) or user-defined, the merges as "left right", and the name of the
 * pre-tokenizer.
 */
function ggufMetadata(json: {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}): Map<string, GgufValue> {
  const tokens: string[] = Array.from({ length: MODEL_VOCAB }, (_, id) => `[PAD${id}]`);
  const types: number[] = new Array(MODEL_VOCAB).fill(5);
  for (const [token, id] of Object.entries(json.model.vocab)) [tokens[id], types[id]] = [token, 1];
  for (const added of json.added_tokens) [tokens[added.id], types[added.id]] = [added.content, added.special ? 3 : 4];
  const id = (content: string) => json.added_tokens.find((t) => t.content === content)?.id as number;
  return new Map<string, GgufValue>([
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.pre', 'qwen2'],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.merges', json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m))],
    ['tokenizer.ggml.eos_token_id', id('<|im_end|>')],
    ['tokenizer.ggml.padding_token_id', id('<|endoftext|>')],
  ]);
}

describe("Qwen3's published tokenizer", () => {
  let published: TextTokenizer;
  let fromGguf: TextTokenizer;
  let stopTokenIds: number[];
  beforeAll(async () => {
    published = await TextTokenizer.fromFiles(JSON_BYTES, CONFIG, 'Qwen3');
    const gguf = ggufTokenizer(ggufMetadata(JSON.parse(new TextDecoder().decode(JSON_BYTES))), 'qwen3.gguf');
    fromGguf = await TextTokenizer.fromFiles(gguf.json, gguf.config, 'qwen3.gguf');
    stopTokenIds = gguf.stopTokenIds;
  }, 60_000);

  it("gives transformers.js's ids, and decodes them to the text", () => {
    for (const [text, ids] of TRANSFORMERS_JS) {
      expect(published.encode(text), text).toEqual(ids);
      expect(published.decode(ids), text).toBe(text);
    }
    expect(published.vocabSize).toBe(151_669);
  });

  it('is the same tokenizer when read from a GGUF file', () => {
    for (const text of CORPUS) {
      const ids = published.encode(text);
      expect(fromGguf.encode(text), text).toEqual(ids);
      expect(fromGguf.decode(ids), text).toBe(published.decode(ids));
      expect(fromGguf.decode(ids, { skipSpecial: true }), text).toBe(published.decode(ids, { skipSpecial: true }));
    }
    expect(fromGguf.vocabSize).toBe(published.vocabSize); // the padding rows make no tokens
    expect(stopTokenIds).toEqual([151645]);
  });

  it('keeps a special token typed in a message as text', () => {
    const ids = published.encodeLiteral('<|im_start|>user');
    expect(ids).not.toContain(151644);
    expect(published.decode(ids)).toBe('<|im_start|>user');
  });

  it('renders a chat through its template, with and without thinking', () => {
    const chat = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hi' },
    ];
    const opened = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
    expect(published.applyChatTemplate(chat, true, { enable_thinking: false })).toBe(
      `${opened}<think>\n\n</think>\n\n`,
    );
    expect(published.applyChatTemplate(chat, true)).toBe(opened);
  });
});
