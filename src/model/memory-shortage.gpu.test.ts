/**
 * A sequence the GPU has no memory to grow: the pass fails with GPUOutOfMemoryError, the
 * prefix cache gives up its idle entries first and holds less from then on, and nothing else
 * is lost: the device stays healthy and the sequence goes on as if the failed pass never was.
 * A stored prefix written back into a sequence makes room the same way.
 *
 * The out-of-memory is the adapter's own. The model's keys (or values) of one layer at full
 * capacity take a buffer of the adapter's largest size: SwiftShader refuses one that large
 * (vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY); a GPU that grants it is first filled with
 * buffers of that size until it refuses one, and they are freed at the end.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrefixCache } from '../cache/prefix-cache';
import type { Gpu } from '../gpu/device';
import { expectBitwiseEqual } from '../testing/compare';
import { testGpu } from '../testing/gpu';
import { GpuModel } from './gpu-model';
import type { GpuSequence } from './gpu-sequence';
import { randomModel } from './random-weights';
import { prefixBytes } from './types';

// 32 KV heads of 128 values, f32: 16 KiB a position in each layer's keys.
const POSITION_BYTES = 32 * 128 * 4;

let gpu: Gpu;
let model: GpuModel;
let capacity: number;
const ballast: GPUBuffer[] = [];

/** Whether the device grants a buffer of `size` bytes now (kept in `ballast` if so). */
async function grants(device: GPUDevice, size: number): Promise<boolean> {
  device.pushErrorScope('out-of-memory');
  const buffer = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE });
  const refused = await device.popErrorScope();
  if (refused) buffer.destroy();
  else ballast.push(buffer);
  return !refused;
}

beforeAll(async () => {
  gpu = await testGpu();
  const { device } = gpu;
  const largest = device.limits.maxBufferSize - (device.limits.maxBufferSize % POSITION_BYTES);
  capacity = largest / POSITION_BYTES;
  for (let i = 0; i < 1024 && (await grants(device, largest)); i++);
  const { config, weights } = randomModel(
    {
      vocab_size: 64,
      hidden_size: 64,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 32,
      num_key_value_heads: 32,
      head_dim: 128,
      max_position_embeddings: capacity,
    },
    7,
  );
  model = await GpuModel.create(gpu, config, weights, { maxContext: capacity, kvCache: 'f32' });
}, 120_000);

afterAll(() => {
  model?.destroy();
  for (const buffer of ballast) buffer.destroy();
});

const PROMPT = [1, 2, 3, 4, 5, 6, 7, 8];

describe('a sequence the GPU cannot grow', () => {
  it('refuses to grow it with GPUOutOfMemoryError and loses nothing: same logits after as a fresh sequence', async () => {
    const sequence = model.createSequence(capacity);
    await model.forward(sequence, PROMPT);
    const held = sequence.allocated;
    const error = await model.makeRoom(sequence, capacity).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('GPUOutOfMemoryError');
    expect((error as Error).message).toMatch(`no memory for ${capacity} positions`);
    expect(gpu.failure).toBeUndefined();
    expect([sequence.allocated, sequence.length]).toEqual([held, PROMPT.length]);
    const next = await model.forward(sequence, [9, 10]);
    const fresh = model.createSequence(capacity);
    const expected = (await model.forward(fresh, [...PROMPT, 9, 10])).subarray(PROMPT.length * 64);
    expectBitwiseEqual(next, expected);
    sequence.release();
    fresh.release();
    expect(gpu.failure).toBeUndefined();
  }, 120_000);

  it('refuses a stored prefix too large to write back with GPUOutOfMemoryError, the sequence empty and usable', async () => {
    const sequence = model.createSequence(capacity);
    await model.forward(sequence, PROMPT);
    const held = sequence.allocated;
    // Zeroed pages the process never touches: writePrefix makes room before it reads a byte.
    const rows = new Uint8Array(prefixBytes(model, capacity));
    const tokens = new Uint32Array(capacity);
    const error = await model.writePrefix(sequence, tokens, rows).catch((e: Error) => e);
    expect((error as Error).name).toBe('GPUOutOfMemoryError');
    expect(gpu.failure).toBeUndefined();
    expect([sequence.allocated, sequence.length]).toEqual([held, 0]);
    const logits = await model.forward(sequence, PROMPT);
    const fresh = model.createSequence(capacity);
    expectBitwiseEqual(logits, await model.forward(fresh, PROMPT));
    sequence.release();
    fresh.release();
  }, 120_000);

  it('has the prefix cache free its idle entries, unpinned first, and lower its budget to what it held', async () => {
    // Called before the cache's own reclaim each time: what the cache holds at each try.
    const held: string[][] = [];
    model.onMemoryShortage(() => {
      held.push(cache.entries.map((e) => (e.inUse ? 'in use' : e.pinned > 0 ? 'pinned' : 'idle')));
      return false;
    });
    const entryBytes = 2 * capacity * POSITION_BYTES;
    const cache = new PrefixCache<GpuSequence>({ target: model, capacity, budgetBytes: 8 * entryBytes });
    const request = async (prompt: number[], pin = 0) => {
      const { entry } = await cache.acquire(prompt);
      await model.greedy(entry.target, prompt.slice(entry.target.length), 'last');
      return { entry, done: () => cache.release(entry, prompt, pin) };
    };
    (await request([1, 2, 3], 3)).done(); // pinned, as a warmed system prompt is
    (await request([4, 5, 6])).done();
    const { entry } = await request([7, 8, 9]);
    const before = cache.heldBytes;
    expect(cache.budgetBytes).toBe(8 * entryBytes);

    const error = await model.makeRoom(entry.target, capacity).catch((e: Error) => e);
    expect((error as Error).name).toBe('GPUOutOfMemoryError');
    expect(held).toEqual([['pinned', 'idle', 'in use'], ['pinned', 'in use'], ['in use']]);
    expect(cache.entries).toEqual([entry]);
    expect(cache.budgetBytes).toBe(before);
    expect(gpu.failure).toBeUndefined();

    // The request goes on in the entry it had.
    await model.greedy(entry.target, [10], 'last');
    expect(entry.target.length).toBe(4);
    cache.clear();
  }, 120_000);
});
