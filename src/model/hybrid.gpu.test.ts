/**
 * Qwen3.5's hybrid layers on the GPU (the fixture tandem-qwen35: three Gated DeltaNet layers to
 * one of gated attention): a prompt gives the same bits however it is split into passes; a
 * sequence cut back within its state window goes on as if the later tokens had never run, and
 * one cut back further is refused by name; speculative greedy output equals plain greedy with
 * the hybrid model as target and as draft (every rejection cuts its sequence back); the prefix
 * cache reuses what its sequences can be cut back to, and its replies equal fresh ones; a prefix
 * read out with its states at the end and written back goes on with the original's bits.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { CachedGenerator } from '../cache/cached-generator';
import type { Gpu } from '../gpu/device';
import type { ModelFolder } from '../loader/model-folder';
import { GREEDY } from '../sampling/sampling';
import { ModelDraftSource } from '../speculative/model-draft';
import { speculativeGenerate } from '../speculative/speculative';
import { expectBitwiseEqual } from '../testing/compare';
import { FIXTURES, loadFixture, loadGolden } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { generate } from './generate';
import { GpuModel } from './gpu-model';
import { storedPrefixBytes } from './types';

let gpu: Gpu;
let hybrid: ModelFolder;
let llama: ModelFolder;
let model: GpuModel;
beforeAll(async () => {
  gpu = await testGpu();
  hybrid = await loadFixture(FIXTURES.qwen35);
  llama = await loadFixture(FIXTURES.draft);
  model = await GpuModel.create(gpu, hybrid.config, hybrid.weights, { maxContext: 256, compile: 'on-first-use' });
});

const prompt = () => loadGolden(FIXTURES.qwen35)[1].ids;

describe('Qwen3.5 on the GPU', () => {
  it('gives a prompt the same bits in one pass, in chunks and token by token', async () => {
    const whole = await model.forward(model.createSequence(128), prompt());
    for (const maxBatch of [5, 1]) {
      const chunked = await GpuModel.onWeights(gpu, hybrid.config, model.weights, { maxBatch, maxContext: 256 });
      expectBitwiseEqual(await chunked.forward(chunked.createSequence(128), prompt()), whole, `chunks of ${maxBatch}`);
      chunked.destroy();
    }
  });

  it('goes on after a cut within its window as if the later tokens had never run, and refuses a deeper cut', async () => {
    const ids = prompt();
    const vocab = hybrid.config.vocabSize;
    const fresh = await model.forward(model.createSequence(128), ids);
    const sequence = model.createSequence(128);
    await model.forward(sequence, ids);
    await model.forward(sequence, [5, 6, 7]); // rejected drafts
    expect(model.maxCutBack).toBe(16);
    expect(sequence.restorable(ids.length - 4)).toBe(ids.length - 4);
    expect(sequence.restorable(ids.length + 3 - 17)).toBe(0); // its state is gone
    expect(() => sequence.truncate(ids.length + 3 - 17)).toThrow(/Gated DeltaNet states/);
    sequence.truncate(ids.length - 2);
    expectBitwiseEqual(await model.forward(sequence, ids.slice(-2)), fresh.subarray(-2 * vocab), 'after the cut');
    // A copy of a prefix it can be cut back to is as good as the sequence.
    const copy = model.createSequence(128);
    await model.copyPrefix(sequence, copy, ids.length - 3);
    expectBitwiseEqual(await model.forward(copy, ids.slice(-3)), fresh.subarray(-3 * vocab), 'after the copy');
    // Cut back to nothing, it starts afresh.
    sequence.truncate(0);
    expectBitwiseEqual(await model.forward(sequence, ids), fresh, 'from the start again');
  });

  it('reads a prefix out with its states at the end and, written back, goes on with the bits of the original', async () => {
    const ids = prompt();
    const vocab = hybrid.config.vocabSize;
    const fresh = await model.forward(model.createSequence(128), ids);
    const sequence = model.createSequence(128);
    await model.forward(sequence, ids);
    await model.forward(sequence, [5, 6, 7]); // beyond the prefix: the read takes the state at its end
    for (const length of [ids.length - 3, 2]) {
      if (sequence.restorable(length) !== length) {
        // Too far back for the state window: refused by name, not read wrong.
        await expect(model.readPrefix(sequence, length)).rejects.toThrow(/Gated DeltaNet states/);
        continue;
      }
      const rows = await model.readPrefix(sequence, length);
      expect(rows.byteLength).toBe(storedPrefixBytes(model, length));
      const written = model.createSequence(128);
      await model.writePrefix(written, ids.slice(0, length), rows);
      expect(written.restorable(length - 1)).toBe(0); // its states before its end were not kept
      const rest = ids.slice(length);
      expectBitwiseEqual(await model.forward(written, rest), fresh.subarray(-rest.length * vocab), `from ${length}`);
      written.release();
    }
    // Short prefixes keep zeros for the rows before position 0, as a fresh sequence reads them.
    const short = model.createSequence(128);
    await model.forward(short, ids.slice(0, 2));
    const written = model.createSequence(128);
    await model.writePrefix(written, ids.slice(0, 2), await model.readPrefix(short, 2));
    expectBitwiseEqual(await model.forward(written, ids.slice(2)), fresh.subarray(-(ids.length - 2) * vocab), 'from 2');
    for (const s of [sequence, short, written]) s.release();
  });

  it.each([
    ['target, a Llama drafting', 'target'],
    ['draft, for a Llama target', 'draft'],
  ] as const)('speculates greedily as the %s: the output of plain greedy, for k = 3, 16 and 40', async (_, role) => {
    const other = await GpuModel.create(gpu, llama.config, llama.weights, { maxContext: 256 });
    const [target, draft] = role === 'target' ? [model, other] : [other, model];
    for (const golden of loadGolden(FIXTURES.qwen35)) {
      const options = { maxTokens: 40, sampling: GREEDY };
      const expected = await generate(target, target.createSequence(256), golden.ids, options);
      for (const k of [3, 16, 40]) {
        // k = 40 drafts no more than the state window allows (16).
        const source = new ModelDraftSource(draft, draft.createSequence(256));
        const sequence = target.createSequence(256);
        // A tree asked for is not grown on a target with recurrent states: its branches would need one each.
        const run = { ...options, draftLength: k, fallback: false, tree: 2 };
        const { tokens, counts } = await speculativeGenerate(target, sequence, source, golden.ids, run);
        expect(tokens).toEqual(expected);
        expect(counts.drafted.length).toBeLessThanOrEqual(Math.max(k, 16));
        expect(counts.drafted[16] ?? 0).toBe(0);
        sequence.release();
      }
    }
    other.destroy();
  });

  it('serves a follow-up request from the prefix cache with the reply a fresh one gives', async () => {
    const { tokenizer } = hybrid;
    const options = { capacity: 256, budgetBytes: 64 << 20 };
    const request = {
      maxTokens: 24,
      sampling: GREEDY,
      draft: 'none' as const,
      draftLength: 'auto' as const,
      fallback: false,
    };
    const first = [{ role: 'user' as const, content: 'Tell me a story about a brave fox named Leo.' }];
    const cached = new CachedGenerator(model, undefined, options);
    const reply = await cached.generate(tokenizer.encodeChat(first), request);
    const followUp = tokenizer.encodeChat([
      ...first,
      { role: 'assistant', content: tokenizer.decode(reply.tokens) },
      { role: 'user', content: 'And then?' },
    ]);
    const hit = await cached.generate(followUp, request);
    expect(hit.reused).toBeGreaterThan(20);
    const fresh = await new CachedGenerator(model, undefined, options).generate(followUp, request);
    expect(fresh.reused).toBe(0);
    expect(hit.tokens).toEqual(fresh.tokens);
    cached.cache.clear();
  });

  it('keeps a warmed system prompt for every question after it, each reply as a fresh one', async () => {
    const { tokenizer } = hybrid;
    const options = { capacity: 256, budgetBytes: 64 << 20 };
    const request = {
      maxTokens: 16,
      sampling: GREEDY,
      draft: 'none' as const,
      draftLength: 'auto' as const,
      fallback: false,
    };
    const system = { role: 'system' as const, content: 'You are a kind teacher who tells simple stories.' };
    const chat = (content: string) => tokenizer.encodeChat([system, { role: 'user', content }]);
    const prefix = tokenizer.encodeChat([system], false);
    expect(chat('x').slice(0, prefix.length)).toEqual(prefix);
    const cached = new CachedGenerator(model, undefined, options);
    await cached.warm(prefix);
    for (const question of ['Tell me a story about a shy owl.', 'Can you tell me a story about Mia the duck?']) {
      const hit = await cached.generate(chat(question), request);
      expect(hit.reused).toBe(prefix.length);
      const fresh = await new CachedGenerator(model, undefined, options).generate(chat(question), request);
      expect(hit.tokens).toEqual(fresh.tokens);
    }
    // The warmed entry still holds the system prompt alone.
    expect(cached.cache.entries.some((e) => e.pinned === prefix.length && e.target.length === prefix.length)).toBe(
      true,
    );
    cached.cache.clear();
  });
});
