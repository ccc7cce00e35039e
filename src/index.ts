/**
 * Tandem's public API: an engine with web-llm's chat and text completion API, in this thread
 * or in a Web Worker, with speculative decoding and a prefix KV cache.
 *
 *   const engine = await createEngine({ target: '/models/tandem-target', draft: '/models/tandem-draft' });
 *   const reply = await engine.chat.completions.create({ messages, stream: true });
 */

export type { EngineOptions, ModelLocation, RequestOptions, TandemUsage } from './engine/engine';
export { createEngine, TandemEngine } from './engine/engine';
export type { FinishReason, Reply } from './engine/generation';
export type { WorkerEngineLoadOptions } from './engine/worker-client';
export { createWorkerEngine, WorkerEngine } from './engine/worker-client';
export type { PortableLocation } from './engine/worker-host';
export * from './errors';
export type { GpuInfo } from './gpu/device';
export type { DraftLength } from './speculative/draft-length';
export type { DraftKind } from './speculative/draft-source';
export type { SpecStats } from './speculative/stats';
