/**
 * Tandem's public API: an engine with web-llm's chat API, in this thread or in a Web Worker,
 * with speculative decoding and a prefix KV cache.
 *
 *   const engine = await createEngine({ target: '/models/tandem-target', draft: '/models/tandem-draft' });
 *   const reply = await engine.chat.completions.create({ messages, stream: true });
 */

export type { EngineOptions, ModelLocation, RequestOptions, TandemUsage } from './engine/engine';
export { createEngine, TandemEngine } from './engine/engine';
export { InvalidRequestError } from './engine/prompt';
export type { WorkerEngineLoadOptions } from './engine/worker-client';
export { createWorkerEngine, WorkerEngine } from './engine/worker-client';
export type { PortableLocation } from './engine/worker-host';
export * from './errors';
export type { GpuInfo } from './gpu/device';
export type { SpecStats } from './spec/speculative';
