/**
 * A GGUF file's tokenizer (its `tokenizer.ggml.*` metadata) as the Hugging Face tokenizer.json
 * and tokenizer_config.json it was converted from, so that the one tokenizer library reads
 * every format. llama.cpp's converter writes a byte-level BPE tokenizer ("gpt2") as the token
 * list, each token's type, and the merges; the pre-tokenizer (the regular expression that cuts
 * text into words before the merges) is not written, only its name, `tokenizer.ggml.pre`, so
 * the names of the models Tandem runs map back to the pre-tokenizers their tokenizer.json has.
 */

import { TokenizerError } from '../errors';
import type { GgufValue } from '../loader/gguf';
import type { TokenizerConfig } from './tokenizer';

/** llama.cpp's token types (llama.h's llama_token_type). */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const byteLevel = (useRegex: boolean) => ({
  type: 'ByteLevel',
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: useRegex,
});
const split = (pattern: string) => ({
  type: 'Split',
  pattern: { Regex: pattern },
  behavior: 'Isolated',
  invert: false,
});

// The regular expressions of Llama 3's and Qwen2's tokenizer.json (they differ in how digits go).
const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** tokenizer.ggml.pre -> the normalizer and pre-tokenizer of the tokenizer.json it names. */
const PRE_TOKENIZERS: Record<string, { normalizer: unknown; pre_tokenizer: unknown; ignoreMerges: boolean }> = {
  'gpt-2': { normalizer: null, pre_tokenizer: byteLevel(true), ignoreMerges: false },
  'llama-bpe': {
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
    ignoreMerges: true,
  },
  qwen2: {
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(QWEN2_SPLIT), byteLevel(false)] },
    ignoreMerges: false,
  },
  smollm: {
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)],
    },
    ignoreMerges: false,
  },
};

export interface GgufTokenizer {
  /** tokenizer.json's bytes. */
  json: Uint8Array;
  config: TokenizerConfig;
  /** Ids that end a reply: EOS, and end-of-turn and end-of-message where the file names them. */
  stopTokenIds: number[];
}

/** The tokenizer of a GGUF file's `metadata`; `where` names the file in messages. */
export function ggufTokenizer(metadata: Map<string, GgufValue>, where: string): GgufTokenizer {
  const fail = (what: string) => new TokenizerError(`${where}: ${what}`);
  const model = metadata.get('tokenizer.ggml.model');
  if (model !== 'gpt2') {
    throw fail(
      model === undefined
        ? 'the file has no tokenizer (tokenizer.ggml.model)'
        : `its tokenizer is "${String(model)}"; Tandem reads byte-level BPE ("gpt2": Llama 3, Qwen2, SmolLM) ` +
            'from a GGUF file. Load this model as a Hugging Face or MLC folder, whose tokenizer.json it reads.',
    );
  }
  const preName = String(metadata.get('tokenizer.ggml.pre') ?? 'gpt-2');
  const pre = PRE_TOKENIZERS[preName];
  if (!pre) {
    throw fail(
      `its pre-tokenizer is "${preName}", not one Tandem knows (${Object.keys(PRE_TOKENIZERS).join(', ')}): ` +
        'load this model as a Hugging Face or MLC folder.',
    );
  }
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const types = metadata.get('tokenizer.ggml.token_type');
  const merges = metadata.get('tokenizer.ggml.merges');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string'))
    throw fail('tokenizer.ggml.tokens is missing');
  if (types !== undefined && (!Array.isArray(types) || types.length !== tokens.length)) {
    throw fail(`tokenizer.ggml.token_type does not give a type for each of the ${tokens.length} tokens`);
  }
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string'))
    throw fail('tokenizer.ggml.merges is missing');

  const vocab: Record<string, number> = {};
  const added: { id: number; content: string; special: boolean }[] = [];
  tokens.forEach((token, id) => {
    const type = types ? Number(types[id]) : TokenType.NORMAL;
    if (type === TokenType.UNUSED) return; // padding rows: no text makes them
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      added.push({ id, content: token as string, special: type === TokenType.CONTROL });
    }
    vocab[token as string] = id;
  });
  const id = (key: string) => {
    const value = metadata.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value >= tokens.length) {
      throw fail(`${key} is ${String(value)}, not the id of a token`);
    }
    return value;
  };
  const bos = id('tokenizer.ggml.bos_token_id');
  const eos = id('tokenizer.ggml.eos_token_id');
  const addBos = metadata.get('tokenizer.ggml.add_bos_token');
  const template = metadata.get('tokenizer.chat_template');

  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added.map((t) => ({
      ...t,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: !t.special,
    })),
    normalizer: pre.normalizer,
    pre_tokenizer: pre.pre_tokenizer,
    post_processor: null,
    decoder: byteLevel(true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre.ignoreMerges,
      vocab,
      merges,
    },
  };
  const stops = ['eos', 'eot', 'eom'].map((name) => id(`tokenizer.ggml.${name}_token_id`));
  return {
    json: new TextEncoder().encode(JSON.stringify(json)),
    config: {
      chat_template: typeof template === 'string' ? template : undefined,
      bos_token: bos === undefined ? null : (tokens[bos] as string),
      eos_token: eos === undefined ? null : (tokens[eos] as string),
      // llama.cpp adds BOS to a BPE tokenizer's prompts only when the file says so.
      add_bos_token: addBos === true,
    },
    stopTokenIds: [...new Set(stops.filter((s) => s !== undefined))].sort((a, b) => a - b),
  };
}
