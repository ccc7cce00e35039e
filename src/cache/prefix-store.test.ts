/**
 * The prefix store on a folder on disk, with the reference models: a prefix warmed by one
 * generator is read by another (a new page) and gives the same reply and bit for bit the same
 * logits as computing it; damaged or half-written entries are dropped, never used; the budget
 * evicts the least recently used; a prompt that parts from the cached tokens is diagnosed.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ReferenceModel } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import { loadReferencePair } from '../testing/fixtures';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { CachedGenerator, type CachedRequest } from './cached-generator';
import type { FileDirectory } from './file-directory';
import { nodeDirectory } from './node-directory';
import { kvBytes } from './prefix-cache';
import { entryBytes, listStoredPrefixes, PrefixStore } from './prefix-store';

const CAPACITY = 256;
const SYSTEM =
  'You are a kind teacher who tells simple stories. Every story has a name, an animal, a place and a friend.';

let target: ReferenceModel;
let draft: ReferenceModel;
let tokenizer: TextTokenizer;
let path: string;
let directory: FileDirectory;
let warnings: Error[];

beforeAll(async () => {
  ({ target, draft, tokenizer } = await loadReferencePair());
});

beforeEach(async () => {
  path = await mkdtemp(join(tmpdir(), 'tandem-prefixes-'));
  directory = await nodeDirectory(path);
  warnings = [];
});
afterEach(() => rm(path, { recursive: true, force: true }));

const store = (model = 'pair-a', budgetBytes?: number) =>
  new PrefixStore(directory, { model, modelName: model, budgetBytes, onWarning: (w) => warnings.push(w) });
/** A generator as a new page would make it: empty memory, the store on disk. */
const page = (withStore = true, model = 'pair-a') =>
  new CachedGenerator(target, draft, {
    capacity: CAPACITY,
    budgetBytes: 2 * (kvBytes(target, CAPACITY) + kvBytes(draft, CAPACITY)),
    store: withStore ? store(model) : undefined,
    describe: (tokens) => tokenizer.decode(tokens),
  });
const chat = (system: string, user: string) =>
  tokenizer.encodeChat([
    { role: 'system', content: system },
    { role: 'user', content: user },
  ]);
const systemOnly = (system: string) => tokenizer.encodeChat([{ role: 'system', content: system }], false);
const request: CachedRequest = {
  maxTokens: 16,
  sampling: GREEDY,
  draft: 'model',
  draftLength: 'auto',
  fallback: false,
};

describe('prefix store', () => {
  it('restores a warmed system prompt in a new page: same reply, same logits, only the rest computed', async () => {
    const system = systemOnly(SYSTEM);
    const first = page();
    await first.warm(system);
    await first.store?.flush();
    const [record] = await listStoredPrefixes(directory);
    expect(record.tokens).toEqual(system);
    expect(entryBytes(record)).toBe((kvBytes(target, system.length) + kvBytes(draft, system.length)) as number);
    expect(record.preview).toContain('kind teacher');

    const prompt = chat(SYSTEM, 'Tell me a story about a brave fox named Leo.');
    const reloaded = page();
    const hit = await reloaded.generate(prompt, request);
    expect(hit.reused).toBe(system.length);
    expect(hit.restored).toBe(system.length);
    const fresh = await page(false).generate(prompt, request);
    expect(fresh.reused).toBe(0);
    expect(hit.tokens).toEqual(fresh.tokens);
    // The next request finds the prefix in memory: nothing more is read from disk.
    const again = await reloaded.generate(chat(SYSTEM, 'Can you tell me a story about Mia the duck?'), request);
    expect(again.reused).toBeGreaterThanOrEqual(system.length);
    expect(again.restored).toBe(0);

    // Bit for bit: the logits after restored rows are the logits after computed ones.
    const rows = await target.readPrefix(
      (() => {
        const s = target.createSequence(CAPACITY);
        target.forwardSync(s, system);
        return s;
      })(),
      system.length,
    );
    const restored = target.createSequence(CAPACITY);
    await target.writePrefix(restored, system, rows);
    const computed = target.createSequence(CAPACITY);
    const rest = prompt.slice(system.length);
    expect(await target.forward(restored, rest)).toEqual(
      (await target.forward(computed, prompt)).slice(-rest.length * target.config.vocabSize),
    );
    expect(warnings).toEqual([]);
  });

  it('keeps an explicit breakpoint of a request, and never stores what is stored already', async () => {
    const prompt = chat(SYSTEM, 'Tell me a story about a cat named Tom.');
    const keep = systemOnly(SYSTEM).length;
    const first = page();
    await first.generate(prompt, { ...request, keep });
    await first.generate(prompt, { ...request, keep });
    await first.warm(systemOnly(SYSTEM).slice(0, keep - 3)); // a prefix of a stored one
    await first.store?.flush();
    const records = await listStoredPrefixes(directory);
    expect(records.map((r) => r.tokens.length)).toEqual([keep]);
  });

  it('drops a damaged entry with a warning and computes the prefix instead', async () => {
    const system = systemOnly(SYSTEM);
    const first = page();
    await first.warm(system);
    await first.store?.flush();
    const [record] = await listStoredPrefixes(directory);
    const file = join(path, `${record.id}.kv`);
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0x40;
    await writeFile(file, bytes);

    const prompt = chat(SYSTEM, 'Tell me a story about a brave fox named Leo.');
    const hit = await page().generate(prompt, request);
    expect(hit.restored).toBe(0);
    expect(hit.reused).toBe(0);
    expect(hit.tokens).toEqual((await page(false).generate(prompt, request)).tokens);
    expect(warnings.map((w) => w.name)).toEqual(['StoredPrefixDamagedError']);
    expect(await listStoredPrefixes(directory)).toEqual([]);
  });

  it('drops the halves of interrupted writes, and keeps the entries of other models apart', async () => {
    const system = systemOnly(SYSTEM);
    const first = page(true, 'pair-a');
    await first.warm(system);
    await first.store?.flush();
    await writeFile(join(path, 'deadbeef.kv'), new Uint8Array(16)); // rows with no record
    await writeFile(join(path, 'cafe.json'), '{"id":"cafe"}'); // a record with no rows
    await writeFile(join(path, 'x.kv.partial'), new Uint8Array(8));
    expect((await listStoredPrefixes(directory)).length).toBe(1);
    expect((await directory.names()).sort()).toHaveLength(2);

    const other = await page(true, 'pair-b').generate(chat(SYSTEM, 'Hello.'), request);
    expect(other.restored).toBe(0);
  });

  it('evicts the least recently used entries past its budget', async () => {
    const a = store('pair-a', 3000);
    const rows = (n: number) => Promise.resolve({ target: new Uint8Array(n) });
    await a.save([1, 2, 3], rows(1000), 'one');
    await a.save([4, 5, 6], rows(1000), 'two');
    await a.save([1, 2, 3, 4], rows(1200), 'one, longer'); // makes [1, 2, 3] redundant
    expect((await listStoredPrefixes(directory)).map((r) => r.preview).sort()).toEqual(['one, longer', 'two']);
    await a.load((await a.longest([4, 5, 6, 7], 100))?.record as never); // 'two' is used
    await a.save([7, 8], rows(1500), 'three');
    expect((await listStoredPrefixes(directory)).map((r) => r.preview).sort()).toEqual(['three', 'two']);
    expect(await a.save([9], rows(4000), 'too big')).toBeUndefined();
  });

  it('keeps a system prompt beside a long conversation that starts with it, and serves each from its own', async () => {
    const a = store('pair-a');
    const rows = (n: number) => Promise.resolve({ target: new Uint8Array(n) });
    const system = [1, 2, 3, 4];
    const conversation = [...system, ...Array.from({ length: 12 }, (_, i) => 10 + i)];
    await a.save(system, rows(40), 'system');
    await a.save(conversation, rows(160), 'conversation, turn 1');
    await a.save([...conversation, 30, 31], rows(180), 'conversation, turn 2'); // covers turn 1
    const stored = await listStoredPrefixes(directory);
    expect(stored.map((r) => r.preview).sort()).toEqual(['conversation, turn 2', 'system']);
    expect((await a.longest([...system, 99, 98], 100))?.record.preview).toBe('system');
    expect((await a.longest([...conversation, 30, 5], 100))?.record.preview).toBe('conversation, turn 2');
    expect(await a.holds(conversation)).toBe(true);
    expect(await a.holds(system.slice(0, 3))).toBe(true);
  });

  it('says where a prompt parts from the cached tokens sharing most with it', async () => {
    const monday = chat(`${SYSTEM} Today is Monday.`, 'Tell me a story.');
    const tuesday = chat(`${SYSTEM} Today is Tuesday.`, 'Tell me a story.');
    const cached = page(false);
    await cached.warm(monday);
    const result = await cached.generate(tuesday, { ...request, maxTokens: 1 });
    const at = tuesday.findIndex((id, i) => id !== monday[i]);
    expect(result.divergence?.at).toBe(at);
    expect(result.reused).toBe(at);
    expect(tokenizer.decode(result.divergence?.cached.slice(at) ?? [])).toContain('Monday');
    const same = await cached.generate(tuesday, { ...request, maxTokens: 1 });
    expect(same.divergence).toBeUndefined();
  });
});
