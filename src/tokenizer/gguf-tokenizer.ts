/**
 * A GGUF file's tokenizer (its `tokenizer.ggml.*` metadata) as the Hugging Face tokenizer.json
 * and tokenizer_config.json it was converted from, so that the one tokenizer library reads
 * every format. llama.cpp's converter writes two kinds:
 *
 *  - Byte-level BPE ("gpt2": Llama 3, Qwen2, SmolLM, Ministral): the token list, each token's
 *    type, and the merges. The pre-tokenizer (the regular expression that cuts text into words
 *    before the merges) is not written, only its name, `tokenizer.ggml.pre`, so the names of
 *    the models Tandem runs map back to the pre-tokenizers their tokenizer.json has.
 *  - SentencePiece BPE ("llama": Llama 2, Mistral, TinyLlama): the pieces and their scores, no
 *    merges. SentencePiece merges, again and again, the adjacent pair whose union is the piece
 *    of highest score (leftmost first); a BPE whose merges are every split of every piece into
 *    two pieces, ranked by the union's score, does the same (Hugging Face's converter for these
 *    models builds its merges this way). Text is escaped as SentencePiece escapes it (a "▁"
 *    before it, spaces as "▁"), and characters outside the vocabulary become their UTF-8
 *    bytes' <0xXX> pieces (byte fallback).
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
// Qwen3.5's: Qwen2's, with combining marks (\p{M}) kept in the letters' runs and out of the
// punctuation's (llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN35).
const QWEN35_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Words that start a capital split off, so "HelloWorld" is two: GPT-4o's (o200k), and Mistral's
// Tekken (Ministral, Nemo: single digits, no contractions).
const UPPER = '\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}';
const LOWER = '\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}';
const capitalWords = (suffix: string) =>
  `[^\\r\\n\\p{L}\\p{N}]?[${UPPER}]*[${LOWER}]+${suffix}|[^\\r\\n\\p{L}\\p{N}]?[${UPPER}]+[${LOWER}]*${suffix}`;
const CONTRACTION = "(?i:'s|'t|'re|'ve|'m|'ll|'d)?";
const GPT4O_SPLIT = `${capitalWords(CONTRACTION)}|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const TEKKEN_SPLIT = `${capitalWords('')}|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

/**
 * tokenizer.ggml.pre -> the normalizer and pre-tokenizer of the tokenizer.json it names, and
 * whether llama.cpp adds BOS to its prompts when the file does not say (llama-vocab.cpp).
 */
interface PreTokenizer {
  normalizer: unknown;
  pre_tokenizer: unknown;
  ignoreMerges: boolean;
  addBos: boolean;
}
const PRE_TOKENIZERS: Record<string, PreTokenizer> = {
  'gpt-2': { normalizer: null, pre_tokenizer: byteLevel(true), ignoreMerges: false, addBos: false },
  'llama-bpe': {
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
    ignoreMerges: true,
    addBos: true,
  },
  qwen2: {
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(QWEN2_SPLIT), byteLevel(false)] },
    ignoreMerges: false,
    addBos: false,
  },
  qwen35: {
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(QWEN35_SPLIT), byteLevel(false)] },
    ignoreMerges: false,
    addBos: false,
  },
  // StableLM 2's tokenizer cuts words as Qwen2's does (llama.cpp gives both one expression), with
  // no normalizer.
  stablelm2: {
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(QWEN2_SPLIT), byteLevel(false)] },
    ignoreMerges: false,
    addBos: false,
  },
  // DBRX's (GPT-4's cl100k, on which OLMo 2's tokenizer is built): Llama 3's expression, merges
  // applied to every word and no BOS, as llama.cpp reads the name.
  dbrx: {
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
    ignoreMerges: false,
    addBos: false,
  },
  'gpt-4o': {
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(GPT4O_SPLIT), byteLevel(false)] },
    ignoreMerges: false,
    addBos: false,
  },
  tekken: {
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split(TEKKEN_SPLIT), byteLevel(false)] },
    ignoreMerges: true,
    addBos: true,
  },
  smollm: {
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)],
    },
    ignoreMerges: false,
    addBos: false,
  },
};
/** Other names llama.cpp gives the same pre-tokenizers (DeepSeek-R1's Qwen distillations among them). */
const PRE_TOKENIZER_ALIASES: Record<string, string> = {
  llama3: 'llama-bpe',
  'llama-v3': 'llama-bpe',
  'deepseek-r1-qwen': 'qwen2',
  'phi-2': 'gpt-2',
  olmo: 'gpt-2',
  megrez: 'qwen2',
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
  if (model !== 'gpt2' && model !== 'llama') {
    throw fail(
      model === undefined
        ? 'the file has no tokenizer (tokenizer.ggml.model)'
        : `its tokenizer is "${String(model)}"; Tandem reads byte-level BPE ("gpt2": Llama 3, Qwen2, SmolLM) and ` +
            'SentencePiece BPE ("llama": Llama 2, Mistral, TinyLlama) from a GGUF file. Load this model as a ' +
            'Hugging Face or MLC folder, whose tokenizer.json it reads.',
    );
  }
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const types = metadata.get('tokenizer.ggml.token_type');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string'))
    throw fail('tokenizer.ggml.tokens is missing');
  if (types !== undefined && (!Array.isArray(types) || types.length !== tokens.length)) {
    throw fail(`tokenizer.ggml.token_type does not give a type for each of the ${tokens.length} tokens`);
  }
  const typeOf = (id: number) => (types ? Number(types[id]) : TokenType.NORMAL);
  const id = (key: string) => {
    const value = metadata.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value >= tokens.length) {
      throw fail(`${key} is ${String(value)}, not the id of a token`);
    }
    return value;
  };

  // No prototype: a token may be "__proto__" (a code model's), which must stay a key.
  const vocab: Record<string, number> = Object.create(null);
  const added: { id: number; content: string; special: boolean }[] = [];
  tokens.forEach((token, id) => {
    const type = typeOf(id);
    if (type === TokenType.UNUSED) return; // padding rows: no text makes them
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED || type === TokenType.UNKNOWN) {
      added.push({ id, content: token as string, special: type !== TokenType.USER_DEFINED });
    }
    vocab[token as string] = id;
  });
  const parts =
    model === 'gpt2'
      ? byteLevelParts(metadata, fail)
      : sentencePieceParts(metadata, tokens as string[], typeOf, id('tokenizer.ggml.unknown_token_id'), fail);

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
    normalizer: parts.normalizer,
    pre_tokenizer: parts.preTokenizer,
    post_processor: null,
    decoder: parts.decoder,
    model: {
      type: 'BPE',
      dropout: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      ...parts.model,
      vocab,
    },
  };
  const stops = ['eos', 'eot', 'eom'].map((name) => id(`tokenizer.ggml.${name}_token_id`));
  return {
    json: new TextEncoder().encode(JSON.stringify(json)),
    config: {
      chat_template: typeof template === 'string' ? template : undefined,
      bos_token: bos === undefined ? null : (tokens[bos] as string),
      eos_token: eos === undefined ? null : (tokens[eos] as string),
      // llama.cpp adds BOS where the file says so, else where the tokenizer's kind does.
      add_bos_token: typeof addBos === 'boolean' ? addBos : parts.addBos,
    },
    stopTokenIds: [...new Set(stops.filter((s) => s !== undefined))].sort((a, b) => a - b),
  };
}

/** What differs between the two kinds: how text is cut and escaped, merged, and decoded. */
interface TokenizerParts {
  normalizer: unknown;
  preTokenizer: unknown;
  decoder: unknown;
  model: Record<string, unknown>;
  /** Whether llama.cpp adds BOS to prompts when the file does not say. */
  addBos: boolean;
}

type Fail = (what: string) => TokenizerError;

function byteLevelParts(metadata: Map<string, GgufValue>, fail: Fail): TokenizerParts {
  const preName = String(metadata.get('tokenizer.ggml.pre') ?? 'gpt-2');
  const own = <T>(table: Record<string, T>, key: string) => (Object.hasOwn(table, key) ? table[key] : undefined);
  const pre = own(PRE_TOKENIZERS, own(PRE_TOKENIZER_ALIASES, preName) ?? preName);
  if (!pre) {
    throw fail(
      `its pre-tokenizer is "${preName}", not one Tandem knows ` +
        `(${[...Object.keys(PRE_TOKENIZERS), ...Object.keys(PRE_TOKENIZER_ALIASES)].join(', ')}): ` +
        'load this model as a Hugging Face or MLC folder.',
    );
  }
  const merges = metadata.get('tokenizer.ggml.merges');
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string'))
    throw fail('tokenizer.ggml.merges is missing');
  return {
    normalizer: pre.normalizer,
    preTokenizer: pre.pre_tokenizer,
    decoder: byteLevel(true),
    model: { unk_token: null, fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignoreMerges, merges },
    addBos: pre.addBos,
  };
}

function sentencePieceParts(
  metadata: Map<string, GgufValue>,
  tokens: string[],
  typeOf: (id: number) => number,
  unknownId: number | undefined,
  fail: Fail,
): TokenizerParts {
  const scores = metadata.get('tokenizer.ggml.scores');
  if (!Array.isArray(scores) || scores.length !== tokens.length || !scores.every((s) => typeof s === 'number')) {
    throw fail(`tokenizer.ggml.scores does not give a score for each of the ${tokens.length} pieces`);
  }
  if (metadata.get('tokenizer.ggml.remove_extra_whitespaces') === true) {
    throw fail(
      'its SentencePiece tokenizer collapses runs of whitespace (remove_extra_whitespaces), which Tandem ' +
        'does not do: load this model as a Hugging Face or MLC folder.',
    );
  }
  const unknown = unknownId ?? tokens.findIndex((_, id) => typeOf(id) === TokenType.UNKNOWN);
  // SentencePiece's add_dummy_prefix: llama.cpp's default, which a file may turn off.
  const spacePrefix = metadata.get('tokenizer.ggml.add_space_prefix') !== false;
  const escapeSpaces = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
  return {
    normalizer: spacePrefix
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, escapeSpaces] }
      : escapeSpaces,
    preTokenizer: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(spacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      unk_token: unknown >= 0 ? tokens[unknown] : null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      merges: sentencePieceMerges(tokens, scores as number[], typeOf),
    },
    addBos: true,
  };
}

/**
 * BPE merges that reproduce SentencePiece's: every split of a normal piece into two normal
 * pieces, ranked by the piece's score, highest first (ties in id order, then by the halves'
 * ids: Hugging Face's SentencePieceExtractor). Split at characters (code points), as
 * SentencePiece's symbols are. A piece with a space in it cannot be written as a merge, and
 * SentencePiece's escaping leaves none in the text to merge.
 */
function sentencePieceMerges(tokens: string[], scores: number[], typeOf: (id: number) => number): string[] {
  const normal = new Map<string, number>();
  tokens.forEach((token, id) => {
    if (typeOf(id) === TokenType.NORMAL && !token.includes(' ')) normal.set(token, id);
  });
  const merges: { left: number; right: number; score: number; text: string }[] = [];
  for (const [piece, id] of normal) {
    const chars = Array.from(piece);
    const splits: typeof merges = [];
    for (let i = 1; i < chars.length; i++) {
      const left = normal.get(chars.slice(0, i).join(''));
      const right = normal.get(chars.slice(i).join(''));
      if (left === undefined || right === undefined) continue;
      splits.push({ left, right, score: scores[id], text: `${tokens[left]} ${tokens[right]}` });
    }
    merges.push(...splits.sort((a, b) => a.left - b.left || a.right - b.right));
  }
  // Array.prototype.sort is stable: equal scores keep the order above.
  return merges.sort((a, b) => b.score - a.score).map((m) => m.text);
}
