/**
 * The GGUF loader against hostile files: a seeded generator changes a small llama GGUF file
 * (src/testing/gguf-writer.ts) one way per file, 240 files: a metadata value set to one of the
 * wrong type or an edge value, a key removed, another architecture or tokenizer kind named, a
 * tensor removed, retyped, reshaped or renamed, RoPE tensors of odd lengths, the file cut, a
 * header byte changed. Every file must either load and work (the reference model gives finite
 * logits for a prompt whose ids are all inside the vocabulary) or fail with a named
 * TandemError, each within a time and memory bound. Nothing here needs a GPU.
 */

import { describe, expect, it } from 'vitest';
import { f32Bytes, type GgufWriteTensor, type GgufWriteValue, tinyLlamaGguf } from '../testing/gguf-writer';
import { expectWorks, runHostileCases } from '../testing/hostile';
import { Rng } from '../util/rng';
import { loadModelFolder } from './model-folder';
import { memorySource } from './source';

const FILES = 240;
const SEED = 2027;
const TIME_LIMIT_MS = 8_000;
const MEMORY_LIMIT_BYTES = 768 << 20;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(0, items.length)];

/** Keys the loader reads: those the small file has, and those it may have. */
const KEYS = [
  'general.architecture',
  'llama.context_length',
  'llama.embedding_length',
  'llama.block_count',
  'llama.feed_forward_length',
  'llama.attention.head_count',
  'llama.attention.head_count_kv',
  'llama.attention.key_length',
  'llama.rope.dimension_count',
  'llama.rope.freq_base',
  'llama.rope.scaling.type',
  'llama.rope.scaling.factor',
  'llama.attention.layer_norm_rms_epsilon',
  'llama.attention.sliding_window',
  'tokenizer.ggml.model',
  'tokenizer.ggml.pre',
  'tokenizer.ggml.tokens',
  'tokenizer.ggml.token_type',
  'tokenizer.ggml.merges',
  'tokenizer.ggml.scores',
  'tokenizer.ggml.bos_token_id',
  'tokenizer.ggml.eos_token_id',
  'tokenizer.ggml.eot_token_id',
  'tokenizer.ggml.unknown_token_id',
  'tokenizer.ggml.add_bos_token',
  'tokenizer.ggml.add_space_prefix',
  'tokenizer.chat_template',
];

/** Values of every type a key may hold, edge values among them. */
const ODD_VALUES: GgufWriteValue[] = [
  { type: 'u32', value: 0 },
  { type: 'u32', value: 1 },
  { type: 'u32', value: 7 },
  { type: 'u32', value: 2 ** 31 },
  { type: 'u32', value: 2 ** 32 - 1 },
  { type: 'i32', value: -1 },
  { type: 'f32', value: Number.NaN },
  { type: 'f32', value: Number.POSITIVE_INFINITY },
  { type: 'f32', value: 1e38 },
  { type: 'f32', value: -0.5 },
  { type: 'bool', value: true },
  { type: 'bool', value: false },
  { type: 'string', value: '' },
  { type: 'string', value: 'llama' },
  { type: 'string', value: '{% for m in messages %}{{ m.content }}{% endfor %}' },
  { type: 'string', value: '{% for i in range(1000000000) %}x{% endfor %}' },
  { type: 'array', element: 'string', values: [] },
  { type: 'array', element: 'string', values: ['a', 'b'] },
  { type: 'array', element: 'i32', values: [1, 2, 3] },
  { type: 'array', element: 'f32', values: Array(8).fill(-1) },
];
const ARCHITECTURES = ['qwen2', 'qwen3', 'phi3', 'gemma', 'gemma2', 'gemma3', 'mamba', 'llama'];

type Mutation = Parameters<typeof tinyLlamaGguf>[0] & { cut?: number; flip?: [number, number]; what: string };

function mutateMetadata(rng: Rng): Mutation {
  const key = pick(rng, KEYS);
  switch (rng.int(0, 5)) {
    case 0:
      // Removed: the writer leaves a key out whose value is undefined.
      return { changes: { [key]: undefined as unknown as GgufWriteValue }, what: `without ${key}` };
    case 1: {
      const arch = pick(rng, ARCHITECTURES);
      return { changes: { 'general.architecture': { type: 'string', value: arch } }, what: `architecture ${arch}` };
    }
    case 2: {
      // A SentencePiece tokenizer: scores of the right length, or odd ones.
      const scores = pick(rng, [Array.from({ length: 8 }, (_, i) => -i), [], [Number.NaN, ...Array(7).fill(0)]]);
      return {
        changes: {
          'tokenizer.ggml.model': { type: 'string', value: 'llama' },
          'tokenizer.ggml.scores': { type: 'array', element: 'f32', values: scores },
        },
        what: `SentencePiece with scores ${JSON.stringify(scores)}`,
      };
    }
    default: {
      const value = pick(rng, ODD_VALUES);
      return { changes: { [key]: value }, what: `${key} = ${JSON.stringify(value)}` };
    }
  }
}

function mutateTensors(rng: Rng): Mutation {
  const choice = rng.int(0, 6);
  const edit = (change: (tensors: GgufWriteTensor[], t: GgufWriteTensor) => string) => {
    let what = '';
    return {
      edit: (tensors: GgufWriteTensor[]) => {
        what = change(tensors, pick(rng, tensors));
      },
      get what() {
        return what;
      },
    };
  };
  switch (choice) {
    case 0:
      return edit((tensors, t) => {
        tensors.splice(tensors.indexOf(t), 1);
        return `without ${t.name}`;
      });
    case 1:
      return edit((_, t) => {
        t.type = pick(rng, [1, 2, 8, 12, 14, 30, 99]);
        return `${t.name} of type ${t.type}`;
      });
    case 2:
      return edit((_, t) => {
        t.shape = pick(rng, [[], [0], [...t.shape, 1], t.shape.map((s) => s * 2), [2 ** 31, 1], [t.shape[0] + 1]]);
        return `${t.name} of shape [${t.shape}]`;
      });
    case 3:
      return edit((_, t) => {
        t.name = pick(rng, [
          'blk.5.attn_q.weight',
          `${t.name}.extra`,
          'output.weight',
          'blk.0.attn_qkv.weight',
          '',
          'constructor',
          'blk.0.__proto__',
        ]);
        return `renamed ${t.name}`;
      });
    case 4:
      return edit((tensors) => {
        const name = pick(rng, ['rope_freqs.weight', 'rope_factors_long.weight', 'rope_factors_short.weight']);
        const length = pick(rng, [0, 3, 8, 16]);
        tensors.push({ name, type: 0, shape: [length], bytes: f32Bytes(Array(length).fill(1.5)) });
        return `${name} of ${length} values`;
      });
    default:
      return edit((tensors, t) => {
        tensors.push({ ...t });
        return `${t.name} twice`;
      });
  }
}

function mutation(rng: Rng, size: number): Mutation {
  const family = rng.int(0, 10);
  if (family < 5) return mutateMetadata(rng);
  if (family < 8) return mutateTensors(rng);
  if (family < 9) {
    const cut = rng.int(0, size);
    return { cut, what: `cut at ${cut}` };
  }
  const at = rng.int(0, Math.min(size, 1500)); // the header: metadata and tensor infos
  const value = rng.int(0, 256);
  return { flip: [at, value], what: `byte ${at} = ${value}` };
}

/** The file of `m`: written with its changes, then cut or a byte changed. */
function fileOf(m: Mutation): Uint8Array {
  const changes = Object.fromEntries(Object.entries(m.changes ?? {}).filter(([, v]) => v !== undefined));
  const removed = Object.keys(m.changes ?? {}).filter((k) => m.changes?.[k] === undefined);
  let bytes = tinyLlamaGguf({ changes, edit: m.edit, without: removed });
  if (m.cut !== undefined) bytes = bytes.subarray(0, m.cut);
  if (m.flip) {
    bytes = bytes.slice();
    bytes[m.flip[0]] = m.flip[1];
  }
  return bytes;
}

/** Loads the file and uses it as the engine would: a prompt (through its chat template where it has one), and logits for it. */
async function loadAndRun(bytes: Uint8Array): Promise<void> {
  const source = { ...memorySource('models', { 'm.gguf': bytes }), name: 'models/m.gguf', file: 'm.gguf' };
  const loaded = await loadModelFolder(source);
  expectWorks(loaded, () =>
    loaded.tokenizer.hasChatTemplate
      ? loaded.tokenizer.encodeChat([{ role: 'user', content: 'abcd' }])
      : loaded.tokenizer.encodePrompt('abcd'),
  );
}

describe('hostile GGUF files', () => {
  it(`load and work, or fail with a named error, in time: ${FILES} seeded mutations`, async () => {
    const rng = new Rng(SEED);
    const size = tinyLlamaGguf().length;
    const outcomes = await runHostileCases(
      FILES,
      () => {
        const m = mutation(rng, size);
        // m.what is known once the file is written (a tensor edit names what it picked).
        return {
          get what() {
            return m.what;
          },
          run: () => loadAndRun(fileOf(m)),
        };
      },
      { ms: TIME_LIMIT_MS, bytes: MEMORY_LIMIT_BYTES },
    );
    console.info(`hostile GGUF files: ${outcomes.loaded} loaded, refused ${JSON.stringify([...outcomes.refused])}`);
    expect(outcomes.loaded).toBeGreaterThan(20);
    expect(outcomes.refused.size).toBeGreaterThanOrEqual(5);
  }, 600_000);
});
