/**
 * The engine with an EAGLE-3 head as its draft (the draft folder's config.json says what it
 * is): replies equal plain decoding's, drafted by the head; a cached system prompt, in memory
 * or read from the prefix store after a reload, carries the target's features, so the head
 * drafts from it as from a computed one; under a JSON schema it drafts through the grammar's masks.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatCompletion } from '@mlc-ai/web-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileDirectory } from '../cache/file-directory';
import { nodeDirectory } from '../cache/node-directory';
import type { Gpu } from '../gpu/device';
import { EAGLE_FIXTURE, FIXTURES, fixturePath } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { createEngine, type TandemEngine, type TandemUsage } from './engine';

let gpu: Gpu;
let path: string;
let directory: FileDirectory;
beforeAll(async () => {
  gpu = await testGpu();
  path = await mkdtemp(join(tmpdir(), 'tandem-eagle-prefixes-'));
  directory = await nodeDirectory(path);
});
afterAll(() => rm(path, { recursive: true, force: true }));

const load = (prefixStore: FileDirectory | false) =>
  createEngine({
    target: fixturePath(FIXTURES.target),
    draft: fixturePath(EAGLE_FIXTURE),
    gpu,
    contextLength: 384,
    prefixStore,
  });

const SYSTEM = { role: 'system' as const, content: 'You are a friendly storyteller.' };

async function ask(engine: TandemEngine, content: string, draft?: 'none', draftTree?: number) {
  const reply = (await engine.chat.completions.create({
    messages: [SYSTEM, { role: 'user', content }],
    temperature: 0,
    max_tokens: 40,
    ...(draft ? { draft } : {}),
    ...(draftTree ? { draftTree } : {}),
  })) as ChatCompletion;
  return { text: reply.choices[0].message.content, usage: reply.usage as TandemUsage };
}

describe('an engine whose draft is an EAGLE head', () => {
  it('drafts with the head by default and answers as plain decoding does, cached prefix or not', async () => {
    const engine = await load(false);
    expect(engine.draftKind).toBe('eagle');
    const first = await ask(engine, 'Tell me a story about a brave fox named Leo.');
    expect(first.usage.spec?.drafted).toBeGreaterThan(0);
    expect(first.usage.spec?.acceptance_rate).toBeGreaterThan(0.5);
    expect(first.text).toBe((await ask(engine, 'Tell me a story about a brave fox named Leo.', 'none')).text);
    // The system prompt now comes from the cache: the head catches up from the features kept with it.
    const second = await ask(engine, 'Can you tell me a story about Mia the duck?');
    expect(second.usage.cache_read_input_tokens).toBeGreaterThan(10);
    expect(second.usage.spec?.acceptance_rate).toBeGreaterThan(0.5);
    expect(second.text).toBe((await ask(engine, 'Can you tell me a story about Mia the duck?', 'none')).text);
    // A token tree: the same reply again.
    const tree = await ask(engine, 'Can you tell me a story about Mia the duck?', undefined, 3);
    expect(tree.text).toBe(second.text);
    // JSON mode: the head drafts under the schema through d2t, and the reply is plain decoding's.
    const hero = { hero: { type: 'string', maxLength: 12 } };
    const schema = JSON.stringify({ type: 'object', properties: hero, required: ['hero'] });
    const json = async (draft?: 'none') =>
      (await engine.chat.completions.create({
        messages: [SYSTEM, { role: 'user', content: 'Tell me a story about a brave fox named Leo.' }],
        temperature: 0,
        max_tokens: 40,
        response_format: { type: 'json_object', schema },
        ...(draft ? { draft } : {}),
      })) as ChatCompletion;
    const held = await json();
    expect(held.choices[0].finish_reason).toBe('stop');
    expect(Object.keys(JSON.parse(held.choices[0].message.content ?? ''))).toEqual(['hero']);
    expect((held.usage as TandemUsage).spec?.accepted).toBeGreaterThan(0);
    expect(held.choices[0].message.content).toBe((await json('none')).choices[0].message.content);
    await engine.unload();
  });

  it("says in its load report what context it took: as asked, or the model's window within the budget", async () => {
    const texts: string[] = [];
    const asked = await createEngine({
      target: fixturePath(FIXTURES.target),
      draft: fixturePath(EAGLE_FIXTURE),
      gpu,
      contextLength: 384,
      prefixStore: false,
      initProgressCallback: (report) => texts.push(report.text),
    });
    expect(texts.at(-1)).toBe('Ready: a context of 384 tokens (as asked)');
    await asked.unload();
    const own = await createEngine({
      target: fixturePath(FIXTURES.target),
      draft: fixturePath(EAGLE_FIXTURE),
      gpu,
      prefixStore: false,
      initProgressCallback: (report) => texts.push(report.text),
    });
    expect(own.contextLength).toBe(2048); // the fixture's max_position_embeddings
    expect(texts.at(-1)).toBe("Ready: a context of 2048 tokens (the model's window)");
    await own.unload();
  });

  it('reads a stored system prompt with its features after a reload, and drafts from it', async () => {
    const first = await load(directory);
    await first.warm({ messages: [SYSTEM] });
    await first.unload(); // waits for the write
    const reloaded = await load(directory);
    const hit = await ask(reloaded, 'Tell me a story about a shy owl named Nora.');
    expect(hit.usage.prompt_tokens_details.cache_source).toBe('disk');
    expect(hit.usage.spec?.acceptance_rate).toBeGreaterThan(0.5);
    expect(hit.text).toBe((await ask(reloaded, 'Tell me a story about a shy owl named Nora.', 'none')).text);
    await reloaded.unload();
  });
});
