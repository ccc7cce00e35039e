/** The prefix cache on the GPU: a reply with the prefix cached equals the reply computed from scratch. */

import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../gpu/device';
import { widenF16 } from '../loader/half';
import type { ModelFolder } from '../loader/model-folder';
import { GpuModel } from '../model/gpu-model';
import { prefixBytes } from '../model/types';
import { ReferenceModel } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { FIXTURES, loadFixture, loadGpuPair } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { CachedGenerator } from './cached-generator';
import { kvBytes, PrefixCache } from './prefix-cache';

let gpu: Gpu;
let target: GpuModel;
let draft: GpuModel;
let tokenizer: TextTokenizer;
let targetFolder: ModelFolder;
beforeAll(async () => {
  gpu = await testGpu();
  ({ target, draft, tokenizer } = await loadGpuPair(gpu));
  targetFolder = await loadFixture(FIXTURES.targetF16);
});

describe('prefix cache on the GPU', () => {
  it('counts what entries hold: four short ones share the budget of one long one, trimmed when one grows', async () => {
    const model = await GpuModel.create(gpu, targetFolder.config, targetFolder.weights, { maxContext: 2048 });
    // The budget holds one entry at full capacity; entries start at 512 positions, a quarter of it.
    const cache = new PrefixCache({ target: model, capacity: 2048, budgetBytes: kvBytes(model, 2048) });
    expect(cache.maxEntries).toBe(1);
    const request = async (prompt: number[], grow?: number) => {
      const { entry } = await cache.acquire(prompt);
      await model.greedy(entry.target, prompt.slice(entry.target.length), 'last');
      if (grow) model.reserve(entry.target, grow);
      return entry;
    };
    for (let i = 0; i < 5; i++) cache.release(await request([i, 1, 2, 3]), [i, 1, 2, 3]);
    expect(cache.entries.length).toBe(4); // the fifth took over the least recently used
    expect(cache.entries.map((e) => e.tokens[0])).toEqual([4, 1, 2, 3]);
    expect(cache.heldBytes).toBe(kvBytes(model, 2048));
    // One conversation grows to 1,500 positions: after it, the oldest idle entries give way.
    const entry = await request([3, 1, 2, 3, 9], 1500);
    expect(cache.heldBytes).toBeGreaterThan(kvBytes(model, 2048));
    cache.release(entry, [3, 1, 2, 3, 9]);
    expect(cache.heldBytes).toBe(kvBytes(model, 1500) + kvBytes(model, 512));
    expect(cache.entries.map((e) => e.tokens[0])).toEqual([4, 3]);
    cache.clear();
    model.destroy();
  });

  it.each(['none', 'model'] as const)('gives the same reply cached as fresh (draft: %s)', async (kind) => {
    const chat = (user: string) =>
      tokenizer.encodeChat([
        { role: 'system', content: 'You are a kind teacher who tells simple stories.' },
        { role: 'user', content: user },
      ]);
    const options = { capacity: 256, budgetBytes: 64 << 20 };
    const request = { maxTokens: 32, sampling: GREEDY, draft: kind, draftLength: 'auto' as const, fallback: false };
    const cached = new CachedGenerator(target, draft, options);
    await cached.generate(chat('Tell me a story about a brave fox named Leo.'), request);
    const hit = await cached.generate(chat('Can you tell me a story about Mia the duck?'), request);
    expect(hit.reused).toBeGreaterThan(15);
    const fresh = await new CachedGenerator(target, draft, options).generate(
      chat('Can you tell me a story about Mia the duck?'),
      request,
    );
    expect(fresh.reused).toBe(0);
    expect(hit.tokens).toEqual(fresh.tokens);
    cached.cache.clear();
  });

  it.each(['f32', 'f16'] as const)(
    'copies a KV prefix on the GPU exactly (%s cache): logits after the copy equal a fresh computation',
    async (kv) => {
      const model =
        kv === 'f32' ? target : await GpuModel.onWeights(gpu, target.config, target.weights, { kvCache: kv });
      const ids = tokenizer.encodePrompt(
        'Once upon a time, there was a little cat named Tom. Tom lived in a small house.',
      );
      const source = model.createSequence(64);
      await model.forward(source, ids);
      const copy = model.createSequence(64);
      await model.copyPrefix(source, copy, ids.length - 3);
      const vocab = model.config.vocabSize;
      const fromCopy = await model.forward(copy, ids.slice(-3));
      const fresh = await model.forward(model.createSequence(64), ids);
      expectBitwiseEqual(fromCopy, fresh.subarray(-3 * vocab), 'logits after copyPrefix');
      expect(kvBytes(model, 64)).toBe(source.bytes);
      if (model !== target) model.destroy();
    },
  );

  it.each(['f32', 'f16'] as const)(
    'reads a KV prefix out and writes it into another sequence exactly (%s cache), laid out as the reference lays it out',
    async (kv) => {
      const model =
        kv === 'f32' ? target : await GpuModel.onWeights(gpu, target.config, target.weights, { kvCache: kv });
      const ids = tokenizer.encodePrompt('Once upon a time, there was a little dog named Max. Max liked to run.');
      const keep = ids.length - 4;
      const source = model.createSequence(64);
      await model.forward(source, ids);
      const rows = await model.readPrefix(source, keep);
      expect(rows.byteLength).toBe(prefixBytes(model, keep));
      // What is read is fixed at the call: a pass after it changes nothing.
      source.truncate(keep);
      const late = model.readPrefix(source, keep);
      await model.forward(source, ids.slice(keep));
      expect(await late).toEqual(await model.readPrefix(source, keep));

      const restored = model.createSequence(64);
      await model.writePrefix(restored, ids.slice(0, keep), rows);
      expect(restored.length).toBe(keep);
      const vocab = model.config.vocabSize;
      const fromRows = await model.forward(restored, ids.slice(keep));
      const fresh = await model.forward(model.createSequence(64), ids);
      expectBitwiseEqual(fromRows, fresh.subarray(-4 * vocab), 'logits after writePrefix');

      // The same layout as the reference model's, values within the model tolerance.
      const reference = new ReferenceModel(model.config, targetFolder.weights, { kvCache: kv });
      const refSequence = reference.createSequence(64);
      await reference.forward(refSequence, ids.slice(0, keep));
      const mine = kv === 'f16' ? widenF16(new Uint16Array(rows.buffer)) : new Float32Array(rows.buffer);
      const theirs = await reference.readPrefix(refSequence, keep);
      const expected = kv === 'f16' ? widenF16(new Uint16Array(theirs.buffer)) : new Float32Array(theirs.buffer);
      expectClose(mine, expected, { atol: 2e-3, rtol: 2e-3 }, 'KV rows against the reference');
      if (model !== target) model.destroy();
    },
  );
});
