/**
 * Memory suite: the GPU memory the engine allocates for the fixture pair at its default context
 * length and cache budget: weights, scratch (activations, staging, RoPE tables), and the KV
 * caches the prefix cache holds after two conversations with different system prompts, each
 * warmed first. Each
 * figure is the sum of the sizes of the buffers actually created, not a formula.
 */

import { CachedGenerator } from '../../src/cache/cached-generator';
import { kvBytes } from '../../src/cache/prefix-cache';
import { defaultCacheBudget, pairContext } from '../../src/engine/context-length';
import type { Gpu } from '../../src/gpu/device';
import { bufferLimit } from '../../src/model/gpu-weights';
import { type FolderPair, uploadPair } from '../../src/model/pair';
import { GREEDY } from '../../src/sampling/sampling';

export interface ModelMemory {
  model: string;
  weight_bytes: number;
  scratch_bytes: number;
  kv_bytes_per_token: number;
}

export interface MemoryResults {
  context_tokens: number;
  models: ModelMemory[];
  prefix_cache: {
    budget_bytes: number;
    /** One entry: a target and a draft KV cache of `context_tokens` tokens. */
    entry_bytes: number;
    max_entries: number;
    /** Entries held after the two conversations, and their bytes. */
    entries: number;
    bytes: number;
  };
  /** Weights + scratch of both models + the prefix cache's KV caches. */
  total_bytes: number;
}

export async function runMemorySuite(gpu: Gpu, folders: FolderPair): Promise<MemoryResults> {
  // The engine's context for the pair (context-length.ts).
  const pairFolders = { target: folders.target, draft: folders.draft };
  const budgetBytes = defaultCacheBudget(pairFolders);
  const context = pairContext(pairFolders, { budgetBytes, bindingBytes: bufferLimit(gpu) }).length;
  const pair = await uploadPair(gpu, pairFolders, { maxContext: context });
  const models = [pair.target, ...(pair.draft ? [pair.draft] : [])];
  const [targetModel, draftModel] = models.map((m) => m.model);
  const generator = new CachedGenerator(targetModel, draftModel, {
    capacity: context,
    budgetBytes,
  });
  // Two system prompts, each warmed (and pinned) as the engine does when one is set, then a
  // conversation under each.
  const { tokenizer } = folders.target;
  for (const system of ['You are a friendly storyteller.', 'You are a kind teacher who tells simple stories.']) {
    const messages = [{ role: 'system' as const, content: system }];
    await generator.warm(tokenizer.encodeChat(messages, false));
    const prompt = tokenizer.encodeChat([...messages, { role: 'user', content: 'Tell me a story.' }]);
    await generator.generate(prompt, { maxTokens: 4, sampling: GREEDY, draft: 'model', draftLength: 4 });
  }
  const { cache } = generator;
  const memory = models.map(({ folder, model }) => ({
    model: folder.name,
    weight_bytes: model.weights.bytes,
    scratch_bytes: model.scratchBytes,
    kv_bytes_per_token: kvBytes(model, 1),
  }));
  const results: MemoryResults = {
    context_tokens: context,
    models: memory,
    prefix_cache: {
      budget_bytes: budgetBytes,
      entry_bytes: cache.entryBytes,
      max_entries: cache.maxEntries,
      entries: cache.entries.length,
      bytes: cache.heldBytes,
    },
    total_bytes: memory.reduce((sum, m) => sum + m.weight_bytes + m.scratch_bytes, 0) + cache.heldBytes,
  };
  cache.clear();
  for (const { model } of models) model.destroy();
  return results;
}
