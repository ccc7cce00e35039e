/**
 * The prefix cache on the reference models: outputs with a cached prefix equal outputs from
 * scratch (with and without speculation), reuse stops exactly at the first differing token,
 * a request during a warm of its prefix computes nothing twice, typed-ahead warming computes
 * only the new tokens, and a tiny budget (evictions) keeps results correct.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { GPUOutOfMemoryError } from '../errors';
import type { ModelConfig } from '../loader/config';
import type { CausalLM, Rows } from '../model/types';
import { ReferenceModel, type ReferenceSequence } from '../ref/model';
import { GREEDY, type SamplingParams } from '../sampling/sampling';
import { FIXTURES, loadFixture } from '../testing/fixtures';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { CachedGenerator, type CachedRequest, PREFILL_CHUNK } from './cached-generator';
import { kvBytes, PrefixCache } from './prefix-cache';

/**
 * A model that counts the tokens it is asked to compute, and can refuse to copy or write a
 * prefix as a GPU without the memory for it does (memory-shortage.gpu.test.ts has the GPU's own).
 */
class Counting implements CausalLM<ReferenceSequence> {
  computed = 0;
  outOfMemory = false;
  constructor(private readonly model: ReferenceModel) {}
  get config(): ModelConfig {
    return this.model.config;
  }
  get kvFormat() {
    return this.model.kvFormat;
  }
  createSequence(capacity: number) {
    return this.model.createSequence(capacity);
  }
  forward(s: ReferenceSequence, t: ArrayLike<number>) {
    this.computed += t.length;
    return this.model.forward(s, t);
  }
  forwardLast(s: ReferenceSequence, t: ArrayLike<number>) {
    this.computed += t.length;
    return this.model.forwardLast(s, t);
  }
  greedy(s: ReferenceSequence, t: ArrayLike<number>, rows?: Rows) {
    this.computed += t.length;
    return this.model.greedy(s, t, rows);
  }
  sample(s: ReferenceSequence, t: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    this.computed += t.length;
    return this.model.sample(s, t, sampling, seed);
  }
  greedyWithLogits(s: ReferenceSequence, t: ArrayLike<number>, rows?: Rows) {
    this.computed += t.length;
    return this.model.greedyWithLogits(s, t, rows);
  }
  sampleWithLogits(s: ReferenceSequence, t: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    this.computed += t.length;
    return this.model.sampleWithLogits(s, t, sampling, seed);
  }
  copyPrefix(from: ReferenceSequence, to: ReferenceSequence, length: number) {
    if (this.outOfMemory) return this.refuse(to);
    return this.model.copyPrefix(from, to, length);
  }
  readPrefix(s: ReferenceSequence, length: number) {
    return this.model.readPrefix(s, length);
  }
  writePrefix(s: ReferenceSequence, tokens: ArrayLike<number>, rows: Uint8Array<ArrayBuffer>) {
    if (this.outOfMemory) return this.refuse(s);
    return this.model.writePrefix(s, tokens, rows);
  }
  /** As GpuModel when the device refuses the room: the sequence emptied, the error named. */
  private async refuse(sequence: ReferenceSequence): Promise<never> {
    sequence.truncate(0);
    throw new GPUOutOfMemoryError('The GPU has no memory for this prefix.');
  }
}

const CAPACITY = 320;
const SYSTEM =
  'You are a kind teacher who tells simple stories. Every story has a name, an animal, a place and a friend. ' +
  'Stories are short and happy, and they end well.';

let target: Counting;
let draft: Counting;
let tokenizer: TextTokenizer;
const generator = (entries: number, withDraft = true) =>
  new CachedGenerator(target, withDraft ? draft : undefined, {
    capacity: CAPACITY,
    budgetBytes: entries * (kvBytes(target, CAPACITY) + (withDraft ? kvBytes(draft, CAPACITY) : 0)),
  });
const chat = (system: string, user: string) =>
  tokenizer.encodeChat([
    { role: 'system', content: system },
    { role: 'user', content: user },
  ]);
const request = (draftKind: CachedRequest['draft']): CachedRequest => ({
  maxTokens: 24,
  sampling: GREEDY,
  draft: draftKind,
  draftLength: 'auto',
  fallback: false,
});

beforeAll(async () => {
  const t = await loadFixture(FIXTURES.target);
  const d = await loadFixture(FIXTURES.draft);
  target = new Counting(new ReferenceModel(t.config, t.weights));
  draft = new Counting(new ReferenceModel(d.config, d.weights));
  tokenizer = t.tokenizer;
  d.tokenizer.dispose();
});

describe('prefix cache', () => {
  it.each(['none', 'model', 'ngram'] as const)(
    'gives the same reply with the system prompt cached as from scratch (draft: %s)',
    async (kind) => {
      const first = chat(SYSTEM, 'Tell me a story about a brave fox named Leo.');
      const second = chat(SYSTEM, 'Can you tell me a story about Mia the duck?');
      const cached = generator(2);
      await cached.generate(first, request(kind));
      const hit = await cached.generate(second, request(kind));
      const fresh = await generator(1).generate(second, request(kind));
      expect(hit.tokens).toEqual(fresh.tokens);
      expect(fresh.reused).toBe(0);
      expect(hit.reused).toBe(second.findIndex((id, i) => id !== first[i]));
    },
  );

  it('reuses exactly the tokens before the first difference (one character changed)', async () => {
    const cached = generator(2);
    const a = chat(SYSTEM, 'Tell me a story about a brave fox named Leo.');
    const changed = `${SYSTEM.slice(0, 40)}${SYSTEM[40] === 'a' ? 'e' : 'a'}${SYSTEM.slice(41)}`;
    const b = chat(changed, 'Tell me a story about a brave fox named Leo.');
    await cached.warm(a);
    const firstDifference = b.findIndex((id, i) => id !== a[i]);
    expect(firstDifference).toBeGreaterThan(5);
    const before = target.computed;
    const result = await cached.generate(b, { ...request('none'), maxTokens: 1 });
    expect(result.reused).toBe(firstDifference);
    expect(target.computed - before).toBe(b.length - firstDifference);
  });

  it('lets a request arriving during a warm of its prefix wait for it and compute nothing twice', async () => {
    const cached = generator(2);
    const system = chat(SYSTEM, '').slice(0, -6); // the system turn and a little more
    const full = chat(SYSTEM, 'Please write a short story about a bear called Max.');
    const before = { target: target.computed, draft: draft.computed };
    const warming = cached.warm(system);
    const result = await cached.generate(full, { ...request('model'), maxTokens: 1 });
    await warming;
    expect(result.reused).toBe(system.length);
    expect(target.computed - before.target).toBe(full.length); // every prompt token exactly once
    expect(draft.computed - before.draft).toBeLessThanOrEqual(full.length);
  });

  it('warms a message as it is typed, computing only the new tokens each time', async () => {
    const cached = generator(1);
    const typed = ['Tell me', 'Tell me a story about', 'Tell me a story about a shy owl named Nora.'];
    await cached.warm(chat(SYSTEM, '').slice(0, -4));
    let last = 0;
    for (const text of typed) {
      const prompt = chat(SYSTEM, text).slice(0, -4); // as typed: without the closing turn tokens
      const { computed, reused } = await cached.warm(prompt);
      expect(reused).toBeGreaterThanOrEqual(last - 2);
      expect(computed).toBeLessThan(12);
      last = prompt.length;
    }
    const final = chat(SYSTEM, typed[2]);
    const result = await cached.generate(final, request('model'));
    expect(final.length - result.reused).toBeLessThanOrEqual(5);
    const fresh = await generator(1).generate(final, request('model'));
    expect(result.tokens).toEqual(fresh.tokens);
  });

  it('keeps a pinned prefix (a breakpoint) intact while a request that diverges inside it is served', async () => {
    const cached = generator(2);
    const keptSystem = chat(SYSTEM, '').slice(0, -6);
    await cached.warm(keptSystem); // pinned: a system prompt worth keeping
    const other = chat('You are a friendly storyteller.', 'Tell me a story about a cat named Tom.');
    const diverging = await cached.generate(other, request('model'));
    expect(diverging.tokens).toEqual((await generator(1).generate(other, request('model'))).tokens);
    const before = target.computed;
    const prompt = chat(SYSTEM, 'Tell me a story about a brave fox named Leo.');
    const back = await cached.generate(prompt, { ...request('model'), maxTokens: 1 });
    expect(back.reused).toBe(keptSystem.length);
    expect(target.computed - before).toBe(prompt.length - keptSystem.length);
  });

  it('serves a request diverging inside a pinned prefix from the pinned entry when the GPU has no memory for a copy', async () => {
    const cached = generator(2);
    await cached.warm(chat(SYSTEM, '').slice(0, -6)); // pinned
    const other = chat('You are a friendly storyteller.', 'Tell me a story about a cat named Tom.');
    target.outOfMemory = true;
    try {
      const result = await cached.generate(other, request('model'));
      expect(result.tokens).toEqual((await generator(1).generate(other, request('model'))).tokens);
    } finally {
      target.outOfMemory = false;
    }
    // The copy's entry was freed; the pin gave way, as when the budget has no room for a copy.
    expect(cached.cache.entries.map((e) => [e.pinned, e.inUse])).toEqual([[0, false]]);
  });

  it('leaves an entry empty and idle when the GPU has no memory for a stored prefix written into it', async () => {
    const cache = new PrefixCache({ target, capacity: CAPACITY, budgetBytes: kvBytes(target, CAPACITY) });
    const prompt = chat(SYSTEM, 'Tell me a story about a brave fox named Leo.');
    const { entry } = await cache.acquire(prompt);
    await target.forward(entry.target, prompt);
    cache.release(entry, prompt);
    const rows = await target.readPrefix(entry.target, 10);
    target.outOfMemory = true;
    const error = await cache
      .adopt(prompt.slice(0, 10), (e) => target.writePrefix(e.target, prompt.slice(0, 10), rows))
      .catch((e: Error) => e)
      .finally(() => {
        target.outOfMemory = false;
      });
    expect((error as Error).name).toBe('GPUOutOfMemoryError');
    expect(cache.entries).toEqual([entry]);
    expect([entry.tokens, entry.target.length, entry.pinned, entry.inUse]).toEqual([[], 0, 0, false]);
    expect((await cache.acquire(prompt)).reused).toBe(0);
  });

  it('honours an explicit breakpoint on a request: the prefix it marks outlives a diverging request', async () => {
    const systemPrefix = chat(SYSTEM, '').slice(0, -6);
    const first = chat(SYSTEM, 'Tell me a story about a brave fox named Leo.');
    const other = chat('You are a friendly storyteller.', 'Tell me a story about a cat named Tom.');
    const later = chat(SYSTEM, 'Can you tell me a story about Mia the duck?');
    for (const keep of [0, systemPrefix.length]) {
      const cached = generator(2);
      await cached.generate(first, { ...request('none'), keep });
      await cached.generate(other, request('none')); // shares only the template's first tokens
      const result = await cached.generate(later, { ...request('none'), maxTokens: 1 });
      const shared = later.findIndex((id, i) => id !== first[i]);
      // Without the breakpoint the diverging request took that entry and cut it; with it, it did not.
      if (keep === 0) expect(result.reused).toBeLessThan(systemPrefix.length);
      else expect(result.reused).toBe(shared);
    }
  });

  it('stops a long prefill between chunks, keeps what it computed, and answers the same afterwards', async () => {
    const capacity = 3 * PREFILL_CHUNK;
    const long = new CachedGenerator(target, draft, {
      capacity,
      budgetBytes: kvBytes(target, capacity) + kvBytes(draft, capacity),
    });
    const prompt = chat(SYSTEM.repeat(12), 'Tell me a story about a brave fox named Leo.');
    expect(prompt.length).toBeGreaterThan(2 * PREFILL_CHUNK + 1);
    expect(prompt.length).toBeLessThan(3 * PREFILL_CHUNK);
    const before = target.computed;
    const stopped = await long.generate(prompt, {
      ...request('model'),
      shouldStop: () => target.computed - before >= PREFILL_CHUNK,
    });
    expect(stopped.tokens).toEqual([]);
    expect(target.computed - before).toBe(PREFILL_CHUNK); // one chunk, then Stop was seen
    const again = await long.generate(prompt, { ...request('model'), maxTokens: 8 });
    expect(again.reused).toBe(PREFILL_CHUNK);
    const fresh = new CachedGenerator(target, draft, {
      capacity,
      budgetBytes: kvBytes(target, capacity) + kvBytes(draft, capacity),
    });
    const progress: number[] = [];
    const computed = await fresh.generate(prompt, {
      ...request('model'),
      maxTokens: 8,
      onPrefill: (done, total) => {
        expect(total).toBe(prompt.length);
        progress.push(done);
      },
    });
    expect(again.tokens).toEqual(computed.tokens);
    // Chunk by chunk, up to all but the last prompt token (which the first step computes).
    expect(progress).toEqual([PREFILL_CHUNK, 2 * PREFILL_CHUNK, prompt.length - 1]);
  });

  it('stays correct when a one-entry budget forces every other request to start over', async () => {
    const cached = generator(1, false);
    const prompts = [
      chat('You are a friendly storyteller.', 'Tell me a story about a brave fox named Leo.'),
      chat('You tell short, happy stories for children.', 'Tell me a story about a cat named Tom.'),
    ];
    const fresh = await Promise.all(prompts.map((p) => generator(1, false).generate(p, request('none'))));
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < prompts.length; i++) {
        const result = await cached.generate(prompts[i], request('none'));
        expect(result.tokens).toEqual(fresh[i].tokens);
      }
    }
    expect(cached.cache.entries.length).toBe(1);
  });
});
