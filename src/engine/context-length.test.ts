/** The context a conversation gets: asked for or the model's window, bounded by the cache's budget and the adapter. */

import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../loader/config';
import type { FolderPair } from '../model/pair';
import { llamaConfigJson } from '../model/random-weights';
import {
  bytesPerToken,
  chooseContextLength,
  defaultCacheBudget,
  fixedBytes,
  MIN_CACHE_BUDGET_BYTES,
} from './context-length';

// Llama-3.2-1B's shape: 16 layers of 8 KV heads of 64, a window of 131,072.
const llama1B = parseModelConfig(
  llamaConfigJson({
    vocab_size: 128256,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    max_position_embeddings: 131072,
  }),
);
const GiB = 2 ** 30;

describe('the context length', () => {
  it("is the model's window when the budget holds it", () => {
    const models = [{ config: llama1B, kvFormat: 'f16' as const }];
    expect(bytesPerToken(models)).toBe(32768); // 2 x 16 x 8 x 64 x 2 bytes
    const choice = chooseContextLength({ models, window: 131072, budgetBytes: 8 * GiB, bindingBytes: 2 * GiB });
    expect(choice).toEqual({ length: 131072, reason: "the model's window", pastWindow: false });
  });

  it("is what the prefix cache's budget holds, said so, for a model and its EAGLE head's features", () => {
    const models = [{ config: llama1B, kvFormat: 'f16' as const, featureWidth: 2048 }];
    const choice = chooseContextLength({ models, window: 131072, budgetBytes: 256 << 20, bindingBytes: 2 * GiB });
    expect(choice.length).toBe(Math.floor((256 << 20) / (32768 + 8192)));
    expect(choice.reason).toMatch(/budget of 256.0 MiB .* 40960 bytes a token/);
  });

  it("counts Qwen3.5's keys and values on its attention layers only, and its rings once", () => {
    // Qwen3.5-0.8B: 6 attention layers of 2 KV heads of 256; 18 Gated DeltaNet layers of 16 x 128 x 128.
    const qwen35 = parseModelConfig({
      architectures: ['Qwen3_5ForCausalLM'],
      vocab_size: 248320,
      hidden_size: 1024,
      intermediate_size: 3584,
      num_hidden_layers: 24,
      num_attention_heads: 8,
      num_key_value_heads: 2,
      head_dim: 256,
      partial_rotary_factor: 0.25,
      linear_num_key_heads: 16,
      linear_num_value_heads: 16,
      max_position_embeddings: 262144,
    });
    const models = [{ config: qwen35, kvFormat: 'f32' as const }];
    expect(bytesPerToken(models)).toBe(2 * 6 * 2 * 256 * 4);
    // Per layer: the rows of 20 positions (17 states and 3 taps back) of 6,144 channels, 17 states of 16 x 128 x 128.
    expect(fixedBytes(models)).toBe(18 * (20 * 6144 * 4 + 17 * 16 * 128 * 128 * 4));
    const choice = chooseContextLength({ models, window: 262144, budgetBytes: GiB, bindingBytes: 2 * GiB });
    expect(choice.length).toBe(Math.floor((GiB - fixedBytes(models)) / bytesPerToken(models)));
  });

  it("is what was asked, within the bounds, past the model's window too", () => {
    const models = [{ config: llama1B, kvFormat: 'f32' as const }];
    const base = { models, window: 131072, budgetBytes: 16 * GiB, bindingBytes: 2 * GiB };
    expect(chooseContextLength({ ...base, asked: 4096 })).toEqual({
      length: 4096,
      reason: 'as asked',
      pastWindow: false,
    });
    // Past the window when asked (the engine warns): here the budget bounds it.
    const past = chooseContextLength({ ...base, asked: 1e6 });
    expect(past).toMatchObject({ length: Math.floor((16 * GiB) / 65536), pastWindow: true });
    expect(past.reason).toMatch(/budget/);
  });

  it("is bounded by a layer's keys in one buffer binding", () => {
    const models = [{ config: llama1B, kvFormat: 'f32' as const }];
    const choice = chooseContextLength({ models, window: 131072, budgetBytes: 64 * GiB, bindingBytes: 128 << 20 });
    expect(choice.length).toBe((128 << 20) / (8 * 64 * 4));
    expect(choice.reason).toMatch(/binding/);
  });
});

describe("the prefix cache's default budget", () => {
  // Only the sizes of the arrays count: stand-ins with their byteLength, not gigabytes of zeros.
  const tensor = (name: string, bytes: number, scales = 0) => ({
    name,
    data: { byteLength: bytes },
    scales: scales > 0 ? { byteLength: scales } : undefined,
  });
  const folders = (target: number, draft?: number) =>
    ({
      target: { weights: new Map([['a', tensor('a', target, target / 8)]]) },
      draft: draft === undefined ? undefined : { weights: new Map([['b', tensor('b', draft)]]) },
    }) as unknown as FolderPair;

  it("is what the models' weights take, scales included", () => {
    expect(defaultCacheBudget(folders(2 * GiB, GiB / 4))).toBe(2 * GiB + GiB / 4 + GiB / 4);
  });

  it('counts a tensor an EAGLE head shares with its target once', () => {
    const pair = folders(2 * GiB);
    const head = new Map<string, unknown>([
      ['a', pair.target.weights.get('a')],
      ['fc', tensor('fc', GiB / 8)],
    ]);
    const withHead = { ...pair, head: { name: 'head', head: { weights: head } } } as unknown as FolderPair;
    expect(defaultCacheBudget(withHead)).toBe(2 * GiB + GiB / 4 + GiB / 8);
  });

  it('is never less than 256 MiB', () => {
    expect(defaultCacheBudget(folders(4 << 20))).toBe(MIN_CACHE_BUDGET_BYTES);
  });
});
