/**
 * The loader against hostile model folders: a seeded generator mutates the draft fixture's
 * config.json, model.safetensors header, tokenizer.json, chat template and generation_config.json
 * (one mutation per folder, 320 folders), and every folder must either load and work (the
 * reference model gives finite logits for the chat template's prompt, every prompt id inside
 * the vocabulary) or fail with a named TandemError, each within a time and memory bound.
 * Nothing here needs a GPU; the weights' data bytes are left alone (only headers are hostile).
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixturePath } from '../testing/fixtures';
import { expectWorks, runHostileCases } from '../testing/hostile';
import { Rng } from '../util/rng';
import { loadModelFolder } from './model-folder';
import { memorySource } from './source';

const FOLDERS = 320;
const SEED = 2026;
/** A folder loads, or is refused, within this (the slowest are templates run to their step limit). */
const TIME_LIMIT_MS = 8_000;
const MEMORY_LIMIT_BYTES = 768 << 20;

type Files = Record<string, Uint8Array | string>;
type Json = Record<string, unknown>;

const folder = fixturePath(FIXTURES.draft);
const FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const original: Files = Object.fromEntries(
  FILES.map((name) => [name, new Uint8Array(readFileSync(join(folder, name)))]),
);
const text = (name: string) => new TextDecoder().decode(original[name] as Uint8Array);
const json = (name: string) => JSON.parse(text(name)) as Json;

/** Values no field expects, and edge values some do. */
const ODD_VALUES: unknown[] = [
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 53,
  1e308,
  -1e308,
  'text',
  '',
  null,
  [],
  {},
  true,
  [1, 2],
  { a: 1 },
];
/** JSON a parser turns into numbers JavaScript cannot hold exactly, or at all. */
const ODD_LITERALS = ['1e400', '-1e400', '1e-400', '18446744073709551617', '4.5e15'];

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(0, items.length)];

/** The JSON text of `source` with `key` set to a value, or to a raw literal; and how it reads. */
function withValue(source: Json, key: string, rng: Rng): { text: string; what: string } {
  if (rng.next() < 0.3) {
    const literal = pick(rng, ODD_LITERALS);
    const text = JSON.stringify({ ...source, [key]: '__odd_literal__' }).replace('"__odd_literal__"', literal);
    return { text, what: `"${key}": ${literal}` };
  }
  const value = pick(rng, ODD_VALUES);
  return { text: JSON.stringify({ ...source, [key]: value }), what: `"${key}": ${JSON.stringify(value)}` };
}

function mutateJson(name: string, rng: Rng): { files: Files; what: string } {
  const source = json(name);
  const keys = Object.keys(source);
  const choice = rng.int(0, 4);
  if (choice === 0) {
    const key = pick(rng, keys);
    const { [key]: _, ...rest } = source;
    return { files: { [name]: JSON.stringify(rest) }, what: `${name} without "${key}"` };
  }
  if (choice === 1) {
    const cut = rng.int(0, text(name).length);
    return { files: { [name]: text(name).slice(0, cut) }, what: `${name} cut at ${cut}` };
  }
  const key = choice === 2 ? pick(rng, keys) : `extra_${rng.int(0, 100)}`;
  const { text: changed, what } = withValue(source, key, rng);
  return { files: { [name]: changed }, what: `${name} ${what}` };
}

/** The safetensors file with its header JSON replaced (the length field follows). */
function withHeader(header: Json, data: Uint8Array): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8).fill(0x20);
  padded.set(bytes);
  const file = new Uint8Array(8 + padded.length + data.length);
  new DataView(file.buffer).setBigUint64(0, BigInt(padded.length), true);
  file.set(padded, 8);
  file.set(data, 8 + padded.length);
  return file;
}

function mutateSafetensors(rng: Rng): { files: Files; what: string } {
  const file = original['model.safetensors'] as Uint8Array;
  const headerBytes = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerBytes))) as Record<string, Json>;
  const data = file.subarray(8 + headerBytes);
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  const name = pick(rng, names);
  const entry = { ...header[name] };
  const offsets = entry.data_offsets as number[];
  const files = (bytes: Uint8Array) => ({ 'model.safetensors': bytes });
  switch (rng.int(0, 9)) {
    case 0: {
      const cut = rng.int(0, file.length);
      return { files: files(file.subarray(0, cut)), what: `model.safetensors cut at ${cut}` };
    }
    case 1: {
      const changed = file.slice();
      const shift = pick(rng, [-8, -1, 1, 8, 2 ** 20, -headerBytes]);
      new DataView(changed.buffer).setBigUint64(0, BigInt(Math.max(0, headerBytes + shift)), true);
      return { files: files(changed), what: `header length ${shift > 0 ? '+' : ''}${shift}` };
    }
    case 2: {
      const changed = file.slice();
      const at = 8 + rng.int(0, headerBytes);
      changed[at] = rng.int(0, 256);
      return { files: files(changed), what: `header byte ${at} = ${changed[at]}` };
    }
    case 3:
      entry.dtype = pick(rng, ['F64', 'I8', 'U8', 'toString', 'constructor', 'F16', 'BF16', 'I32', 3, null]);
      break;
    case 4: {
      const shape = entry.shape as number[];
      const variants = [[], [0], [...shape, 1], shape.slice(1), shape.map((s) => s * 2), [shape[0], -1], [2 ** 53]];
      entry.shape = pick(rng, [...variants, 'text', null]);
      break;
    }
    case 5: {
      const delta = pick(rng, [-2, -1, 1, 2, 4096, -offsets[0] - 1]);
      const which = rng.int(0, 2);
      entry.data_offsets = offsets.map((o, i) => (i === which ? o + delta : o));
      break;
    }
    case 6: {
      // Another tensor's bytes: identical or overlapping offsets.
      entry.data_offsets = [...(header[pick(rng, names)].data_offsets as number[])];
      break;
    }
    case 7: {
      const { [name]: _, ...rest } = header;
      return { files: files(withHeader(rest, data)), what: `model.safetensors without ${name}` };
    }
    default: {
      const renamed = pick(rng, ['model.layers.9.mlp.up_proj.weight', `${name}.extra`, '../escape', '__proto__']);
      const { [name]: _, ...rest } = header;
      return { files: files(withHeader({ ...rest, [renamed]: entry }, data)), what: `${name} renamed ${renamed}` };
    }
  }
  const what = `${name} ${JSON.stringify(entry)}`;
  return { files: files(withHeader({ ...header, [name]: entry }, data)), what };
}

function mutateTokenizer(rng: Rng): { files: Files; what: string } {
  const tokenizer = json('tokenizer.json');
  const model = tokenizer.model as Json;
  switch (rng.int(0, 5)) {
    case 0:
      return mutateJson('tokenizer.json', rng);
    case 1: {
      const key = pick(rng, Object.keys(model));
      const value = pick(rng, ['Nope', 'Unigram', 'WordPiece', ...ODD_VALUES]);
      return {
        files: { 'tokenizer.json': JSON.stringify({ ...tokenizer, model: { ...model, [key]: value } }) },
        what: `model.${key} = ${JSON.stringify(value)}`,
      };
    }
    case 2: {
      const key = pick(rng, ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']);
      const value = pick(rng, [
        { type: 'Nope' },
        { type: 'Sequence' },
        { type: 'ByteLevel', add_prefix_space: 'no' },
        7,
        'x',
        null,
      ]);
      return {
        files: { 'tokenizer.json': JSON.stringify({ ...tokenizer, [key]: value }) },
        what: `${key} = ${JSON.stringify(value)}`,
      };
    }
    case 3: {
      const added = [...(tokenizer.added_tokens as Json[])];
      const i = rng.int(0, added.length);
      added[i] = { ...added[i], [pick(rng, ['id', 'content', 'special'])]: pick(rng, ODD_VALUES) };
      return {
        files: { 'tokenizer.json': JSON.stringify({ ...tokenizer, added_tokens: added }) },
        what: `added_tokens[${i}] = ${JSON.stringify(added[i])}`,
      };
    }
    default: {
      // A vocabulary larger than the model's embedding: ids the model has no row for.
      const vocab = { ...(model.vocab as Record<string, number>) };
      const count = Object.keys(vocab).length;
      for (let i = 0; i < 600; i++) vocab[`zz${i}`] = count + i;
      return {
        files: { 'tokenizer.json': JSON.stringify({ ...tokenizer, model: { ...model, vocab } }) },
        what: 'vocabulary beyond the model',
      };
    }
  }
}

/** Templates that loop, recurse, grow or fail, beside some that are merely odd. */
const TEMPLATES = [
  '{% for i in range(1000000000) %}x{% endfor %}',
  '{% for i in range(30000000) %}{% endfor %}',
  '{% for a in range(3000) %}{% for b in range(3000) %}{{ a }}{% endfor %}{% endfor %}',
  '{% set s = "xxxxxxxx" %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}{{ s }}',
  '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}',
  '{{ raise_exception("no system messages") }}',
  '{{ messages[0].content.nope() }}',
  '{% for m in messages %}{{ m.content }}',
  '{{ undefined_function(1) }}',
  '{{ messages[99].content }}',
  '',
  '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}',
];

function mutateTemplate(rng: Rng): { files: Files; what: string } {
  const config = json('tokenizer_config.json');
  if (rng.next() < 0.25) return mutateJson('tokenizer_config.json', rng);
  const template = pick(rng, [...TEMPLATES, ...ODD_VALUES]);
  return {
    files: { 'tokenizer_config.json': JSON.stringify({ ...config, chat_template: template }) },
    what: `chat_template ${JSON.stringify(template).slice(0, 80)}`,
  };
}

function mutateFolder(rng: Rng): { files: Files; what: string } {
  const family = rng.int(0, 10);
  if (family < 3) return mutateJson('config.json', rng);
  if (family < 6) return mutateSafetensors(rng);
  if (family < 8) return mutateTokenizer(rng);
  if (family < 9) return mutateTemplate(rng);
  return mutateJson('generation_config.json', rng);
}

/** Loads the folder and uses it as the engine would: a chat prompt, and logits for it. */
async function loadAndRun(files: Files): Promise<void> {
  const loaded = await loadModelFolder(memorySource('fuzzed', files));
  expectWorks(loaded, () => loaded.tokenizer.encodeChat([{ role: 'user', content: 'Tell me a story.' }]));
}

describe('hostile model folders', () => {
  it(`load and work, or fail with a named error, in time: ${FOLDERS} seeded mutations`, async () => {
    const rng = new Rng(SEED);
    const outcomes = await runHostileCases(
      FOLDERS,
      () => {
        const { files, what } = mutateFolder(rng);
        return { what, run: () => loadAndRun({ ...original, ...files }) };
      },
      { ms: TIME_LIMIT_MS, bytes: MEMORY_LIMIT_BYTES },
    );
    // The generator must exercise both outcomes, and several errors.
    expect(outcomes.loaded).toBeGreaterThan(20);
    expect(outcomes.refused.size).toBeGreaterThanOrEqual(5);
  }, 600_000);
});
