/**
 * How many tokens a conversation may hold on this device. Asked for, that many (past the
 * model's window too: positions it was not trained on, which the engine warns of); otherwise
 * the model's window (`max_position_embeddings`: Llama 3.2's is 131,072). Either way no more than:
 *
 *   - the prefix cache's budget holds one entry of every model's KV cache (and an EAGLE
 *     head's features, and Gated DeltaNet layers' rings) at that length: a cache of one
 *     conversation at least;
 *   - one layer's keys (or values) fit one buffer binding of the adapter.
 *
 * WebGPU says nothing of a device's memory, so the budget (`cacheBudgetBytes`) is the caller's
 * word for it; by default it is what the models' weights take (at least 256 MiB): a device chosen
 * to hold a model is taken to hold as much again for its conversations. Where the device holds
 * less, it says so when a sequence cannot grow, and the prefix cache keeps less (prefix-cache.ts). Their caches grow as
 * they fill, so the budget bounds what long conversations may take, and short ones take little.
 * The engine states the result and what bounded it in its load report.
 */

import { recurrentStateBytes } from '../kernels/gated-delta';
import { type KvFormat, kvValueBytes } from '../kernels/kv-cache';
import { attentionLayerCount, type ModelConfig } from '../loader/config';
import { defaultKvFormat, RECURRENT_WINDOW } from '../model/gpu-model';
import type { FolderPair } from '../model/pair';
import { mib } from '../util/bytes';

/** The least GPU memory the prefix cache may hold unless the options say otherwise. */
export const MIN_CACHE_BUDGET_BYTES = 256 << 20;

/** The prefix cache's budget when the caller names none: the models' weights' bytes, at least MIN_CACHE_BUDGET_BYTES. */
export function defaultCacheBudget(folders: FolderPair): number {
  const weights = [folders.target.weights, folders.draft?.weights, folders.head?.head.weights];
  // Each tensor once: an EAGLE head holds its target's embedding (and an EAGLE-1 head its LM head).
  const tensors = new Set(weights.flatMap((w) => [...(w?.values() ?? [])]));
  let bytes = 0;
  for (const tensor of tensors) bytes += tensor.data.byteLength + (tensor.scales?.byteLength ?? 0);
  return Math.max(MIN_CACHE_BUDGET_BYTES, bytes);
}

/** A model's share of a token's cache: its config, the KV format it will use, features per token (f32 values). */
export interface CacheShape {
  config: ModelConfig;
  kvFormat: KvFormat;
  featureWidth?: number;
}

export interface ContextChoice {
  length: number;
  /** What decided it, for the load report. */
  reason: string;
  /** Positions past the model's window (asked for): it was not trained on them. */
  pastWindow: boolean;
}

/** Bytes a token takes in the KV caches (and features) of `models`: Gated DeltaNet layers keep none. */
export function bytesPerToken(models: CacheShape[]): number {
  return models.reduce((sum, { config, kvFormat, featureWidth = 0 }) => {
    const kv = 2 * attentionLayerCount(config) * config.numKvHeads * config.headDim * kvValueBytes(kvFormat);
    return sum + kv + featureWidth * 4;
  }, 0);
}

/** Bytes a conversation of `models` holds whatever its length: their Gated DeltaNet layers' rings. */
export function fixedBytes(models: CacheShape[]): number {
  return models.reduce((sum, { config }) => sum + recurrentStateBytes(config, RECURRENT_WINDOW), 0);
}

export function chooseContextLength(options: {
  models: CacheShape[];
  /** The window of the model that sets it (the target's). */
  window: number;
  asked?: number;
  budgetBytes: number;
  /** The adapter's largest buffer binding, bytes. */
  bindingBytes: number;
}): ContextChoice {
  const { models, window, asked, budgetBytes, bindingBytes } = options;
  const perToken = bytesPerToken(models);
  const byBudget = Math.max(0, Math.floor((budgetBytes - fixedBytes(models)) / perToken));
  const byBinding = Math.min(
    ...models.map(({ config, kvFormat }) =>
      Math.floor(bindingBytes / (config.numKvHeads * config.headDim * kvValueBytes(kvFormat))),
    ),
  );
  const bounds: [number, string][] = [
    asked ? [asked, 'as asked'] : [window, "the model's window"],
    [byBudget, `what the prefix cache's budget of ${mib(budgetBytes)} holds at ${perToken} bytes a token`],
    [byBinding, "one layer's keys in a buffer binding of this GPU"],
  ];
  const [length, reason] = bounds.reduce((a, b) => (b[0] < a[0] ? b : a));
  return { length, reason, pastWindow: length > window };
}

/** The context a pair of folders gets: their caches (target, draft model or EAGLE head), in the KV format each will use. */
export function pairContext(
  folders: FolderPair,
  options: { kvCache?: KvFormat; asked?: number; budgetBytes: number; bindingBytes: number },
): ContextChoice {
  const shape = (config: ModelConfig, featureWidth = 0): CacheShape => ({
    config,
    kvFormat: options.kvCache ?? defaultKvFormat(config),
    featureWidth,
  });
  const { target, draft, head } = folders;
  const models = [
    shape(target.config, head ? target.config.hiddenSize : 0),
    ...(draft ? [shape(draft.config)] : []),
    ...(head ? [shape(head.head.config)] : []),
  ];
  const window = Math.min(target.config.maxPositions, draft?.config.maxPositions ?? Number.POSITIVE_INFINITY);
  return chooseContextLength({ ...options, models, window });
}
