/**
 * The engine with a prefix store on disk (Node): a system prompt warmed by one engine is read
 * by the next one loaded (a reload), which answers exactly as an engine without the store and
 * says in its usage that the prefix came from disk (Qwen3.5 too, its Gated DeltaNet states kept
 * at the prefix's end); another KV format is another model's key;
 * a prompt that parts from a cached one is diagnosed in usage.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatCompletion } from '@mlc-ai/web-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileDirectory } from '../cache/file-directory';
import { nodeDirectory } from '../cache/node-directory';
import { listStoredPrefixes } from '../cache/prefix-store';
import type { Gpu } from '../gpu/device';
import type { KvFormat } from '../kernels/kv-cache';
import { FIXTURES, fixturePath } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { createEngine, type TandemEngine, type TandemUsage } from './engine';

let gpu: Gpu;
let path: string;
let directory: FileDirectory;
beforeAll(async () => {
  gpu = await testGpu();
  path = await mkdtemp(join(tmpdir(), 'tandem-engine-prefixes-'));
  directory = await nodeDirectory(path);
});
afterAll(() => rm(path, { recursive: true, force: true }));

const load = (prefixStore: FileDirectory | false, kvCache?: KvFormat) =>
  createEngine({
    target: fixturePath(FIXTURES.target),
    draft: fixturePath(FIXTURES.draft),
    gpu,
    contextLength: 384,
    prefixStore,
    kvCache,
  });

const SYSTEM = {
  role: 'system' as const,
  content:
    'You are a kind teacher who tells simple stories to children. Every story has a name, an animal, a place ' +
    'and a friend, and it ends well.',
};
const question = { role: 'user' as const, content: 'Tell me a story about a brave fox named Leo.' };

async function ask(engine: TandemEngine, system = SYSTEM) {
  const reply = (await engine.chat.completions.create({
    messages: [system, question],
    temperature: 0,
    max_tokens: 24,
  })) as ChatCompletion;
  return { text: reply.choices[0].message.content, usage: reply.usage as TandemUsage };
}

/** A reply's usage says its prompt's first `tokens` came from the prefix store. */
function expectReadFromDisk(usage: TandemUsage, tokens: number) {
  expect(usage.prompt_tokens_details).toEqual({ cached_tokens: tokens, cache_source: 'disk', disk_tokens: tokens });
}

describe('engine with a prefix store', () => {
  it('reads a warmed system prompt from disk after a reload, and answers as computing it would', async () => {
    const first = await load(directory);
    const warmed = await first.warm({ messages: [SYSTEM] });
    expect(warmed.computed).toBeGreaterThan(20);
    await first.unload(); // waits for the write
    const [record] = await listStoredPrefixes(directory);
    // The system turn is pinned and stored; the assistant header after it is not.
    expect(record.tokens.length).toBeGreaterThan(warmed.computed - 8);
    expect(record.modelName).toContain(FIXTURES.target);

    const reloaded = await load(directory);
    const hit = await ask(reloaded);
    expectReadFromDisk(hit.usage, record.tokens.length);
    const next = await ask(reloaded);
    expect(next.usage.prompt_tokens_details.cache_source).toBe('memory');
    await reloaded.unload();

    const fresh = await load(false);
    const computed = await ask(fresh);
    expect(computed.usage.prompt_tokens_details.cache_source).toBe('none');
    expect(hit.text).toBe(computed.text);
    await fresh.unload();

    // An f16 KV cache holds other bits: another key, nothing read.
    const other = await load(directory, 'f16');
    expect((await ask(other)).usage.prompt_tokens_details.disk_tokens).toBe(0);
    await other.unload();
    expect(new Set((await listStoredPrefixes(directory)).map((r) => r.model)).size).toBe(1);
  });

  it("keeps Qwen3.5's Gated DeltaNet states at a stored prefix's end: a reload drafting with its MTP layer reads it", async () => {
    // Its own directory: the listing below is this model's alone.
    const qwenPath = await mkdtemp(join(tmpdir(), 'tandem-engine-prefixes-qwen35-'));
    const qwenDirectory = await nodeDirectory(qwenPath);
    const qwen35 = (prefixStore: FileDirectory | false) =>
      createEngine({ target: fixturePath(FIXTURES.qwen35), draft: 'mtp', gpu, contextLength: 384, prefixStore });
    const first = await qwen35(qwenDirectory);
    await first.warm({ messages: [SYSTEM] });
    await first.unload(); // waits for the write
    const [record] = await listStoredPrefixes(qwenDirectory);
    expect(record.modelName).toContain(FIXTURES.qwen35);

    const reloaded = await qwen35(qwenDirectory);
    const hit = await ask(reloaded);
    expectReadFromDisk(hit.usage, record.tokens.length);
    await reloaded.unload();
    const fresh = await qwen35(false);
    const computed = await ask(fresh);
    expect(computed.usage.prompt_tokens_details.cache_source).toBe('none');
    expect(hit.text).toBe(computed.text);
    await fresh.unload();
    await rm(qwenPath, { recursive: true, force: true });
  });

  it('says where a prompt parted from the cached system prompt, and what the two texts were', async () => {
    const engine = await load(false);
    await engine.warm({ messages: [{ ...SYSTEM, content: `${SYSTEM.content} Today is Monday.` }] });
    const { usage } = await ask(engine, { ...SYSTEM, content: `${SYSTEM.content} Today is Tuesday.` });
    expect(usage.cache_miss?.at_token).toBe(usage.cache_read_input_tokens);
    expect(usage.cache_miss?.cached_text).toContain('Monday');
    expect(usage.cache_miss?.prompt_text).toContain('Tuesday');
    await engine.unload();
  });
});
