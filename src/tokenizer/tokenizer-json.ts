/**
 * The shape of tokenizer.json, checked before the WebAssembly tokenizers library reads it.
 * That library aborts on a file it cannot deserialize with nothing but "Aborted()"; this says
 * which field is wrong, as serde would have. It checks what every file has (the model and its
 * vocabulary, the added tokens, the pipeline components' tags), not each component's options:
 * a file that passes and still aborts is reported with the component types it names.
 */

import { TokenizerError } from '../errors';

/** The parts of tokenizer.json Tandem itself reads (the library reads the rest). */
export interface TokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[];
  post_processor?: PostProcessor | null;
  normalizer?: Component | null;
  pre_tokenizer?: Component | null;
  decoder?: Component | null;
}

/** A pipeline component: its type, its options, and the components of a Sequence. */
export interface Component {
  type: string;
  decoders?: Component[];
  normalizers?: Component[];
  prepend?: string;
  prepend_scheme?: string;
}

export type TemplatePiece = { SpecialToken?: { id: string }; Sequence?: { id: string } };
export interface PostProcessor {
  type: string;
  single?: TemplatePiece[];
  special_tokens?: Record<string, { ids: number[] }>;
  processors?: PostProcessor[];
}

const MODELS = ['BPE', 'Unigram', 'WordPiece', 'WordLevel'];
const COMPONENTS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isId = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;

/** Parses tokenizer.json's text and checks its shape; `where` names the file in messages. */
export function parseTokenizerJson(bytes: Uint8Array, where: string): TokenizerJson {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new TokenizerError(`${where} is not valid JSON: ${String(cause)}`, { cause });
  }
  const fail = (what: string) => new TokenizerError(`${where}: ${what}`);
  if (!isObject(json)) throw fail('the file is not a JSON object');
  checkModel(json.model, fail);
  const added = json.added_tokens;
  if (added != null) {
    if (!Array.isArray(added)) throw fail('"added_tokens" must be a list');
    added.forEach((token, i) => {
      if (!isObject(token) || !isId(token.id) || typeof token.content !== 'string') {
        throw fail(`added_tokens[${i}] needs an integer "id" and a string "content"`);
      }
    });
  }
  for (const key of COMPONENTS) {
    const component = json[key];
    if (component != null && !(isObject(component) && typeof component.type === 'string')) {
      throw fail(`"${key}" must be null or an object with a string "type"`);
    }
  }
  return json as TokenizerJson;
}

function checkModel(model: unknown, fail: (what: string) => TokenizerError): void {
  if (!isObject(model)) throw fail('"model" (the vocabulary and how text is split into it) is missing');
  const type = model.type;
  if (type !== undefined && !MODELS.includes(type as string)) {
    throw fail(`model.type ${JSON.stringify(type)} is not one of ${MODELS.join(', ')}`);
  }
  const vocab = model.vocab;
  if (type === 'Unigram' || (type === undefined && Array.isArray(vocab))) {
    // Unigram: [piece, log probability] pairs, in id order.
    const pairs = Array.isArray(vocab) && vocab.every((p) => Array.isArray(p) && typeof p[0] === 'string');
    if (!pairs) throw fail('model.vocab of a Unigram model must be a list of [piece, score] pairs');
    return;
  }
  if (!isObject(vocab) || !Object.values(vocab).every(isId)) {
    throw fail('model.vocab must map each token to a non-negative integer id');
  }
  if (type === 'BPE' || (type === undefined && 'merges' in model)) {
    const merges = model.merges;
    // Merges are "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs.
    const valid =
      Array.isArray(merges) &&
      merges.every(
        (m) => typeof m === 'string' || (Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string')),
      );
    if (!valid) throw fail('model.merges of a BPE model must be a list of "a b" strings or ["a", "b"] pairs');
  }
}

/** What to say when the library still refuses the file: the component types it names. */
export function describeTokenizer(json: TokenizerJson): string {
  const raw = json as Record<string, unknown>;
  const types = ['model', ...COMPONENTS]
    .map((key) => [key, (raw[key] as { type?: unknown } | null | undefined)?.type] as const)
    .filter(([, type]) => type !== undefined)
    .map(([key, type]) => `${key} ${JSON.stringify(type)}`);
  return types.length > 0 ? types.join(', ') : 'no component types';
}

/**
 * How a vocabulary's token strings spell text, in the terms of xgrammar's TokenizerInfo (which
 * needs to know to match tokens against a grammar), detected as xgrammar detects it from
 * tokenizer.json: 'byte_level' where a ByteLevel decoder maps bytes to printable characters
 * (GPT-2, Llama 3, Qwen), 'byte_fallback' where a ByteFallback decoder spells bytes `<0x0A>` and
 * spaces `▁` (Llama 2, Gemma), else 'raw'; `prependSpace` where the normalizer prepends `▁` or a
 * Metaspace pre-tokenizer does.
 */
export interface TokenSpelling {
  type: 'byte_level' | 'byte_fallback' | 'raw';
  prependSpace: boolean;
}

export function tokenSpelling(json: TokenizerJson): TokenSpelling {
  const decoders = json.decoder?.type === 'Sequence' ? (json.decoder.decoders ?? []) : [json.decoder];
  const decoder = decoders.find((d) => d?.type === 'ByteLevel' || d?.type === 'ByteFallback')?.type;
  const type = decoder === 'ByteLevel' ? 'byte_level' : decoder === 'ByteFallback' ? 'byte_fallback' : 'raw';
  const normalizers = json.normalizer?.type === 'Sequence' ? (json.normalizer.normalizers ?? []) : [json.normalizer];
  const prepends = normalizers.some((n) => n?.type === 'Prepend' && n.prepend === '\u2581');
  const pre = json.pre_tokenizer;
  const metaspace = pre?.type === 'Metaspace' && (pre.prepend_scheme === 'always' || pre.prepend_scheme === 'first');
  return { type, prependSpace: prepends || metaspace };
}
