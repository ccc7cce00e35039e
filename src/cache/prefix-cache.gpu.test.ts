/** The prefix cache on the GPU: a reply with the prefix cached equals the reply computed from scratch. */

import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../gpu/device';
import { GpuModel } from '../model/gpu-model';
import { GREEDY } from '../sampling/sampling';
import { expectBitwiseEqual } from '../testing/compare';
import { loadGpuPair } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { CachedGenerator } from './cached-generator';
import { kvBytes } from './prefix-cache';

let gpu: Gpu;
let target: GpuModel;
let draft: GpuModel;
let tokenizer: TextTokenizer;
beforeAll(async () => {
  gpu = await testGpu();
  ({ target, draft, tokenizer } = await loadGpuPair(gpu));
});

describe('prefix cache on the GPU', () => {
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
      model.copyPrefix(source, copy, ids.length - 3);
      const vocab = model.config.vocabSize;
      const fromCopy = await model.forward(copy, ids.slice(-3));
      const fresh = await model.forward(model.createSequence(64), ids);
      expectBitwiseEqual(fromCopy, fresh.subarray(-3 * vocab), 'logits after copyPrefix');
      expect(kvBytes(model, 64)).toBe(source.bytes);
      if (model !== target) model.destroy();
    },
  );
});
