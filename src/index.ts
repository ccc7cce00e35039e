/**
 * Tandem's public API: an engine with web-llm's chat and text completion API, in this thread
 * or in a Web Worker, with speculative decoding and a prefix KV cache.
 *
 *   const engine = await createEngine({ target: '/models/tandem-target', draft: '/models/tandem-draft' });
 *   const reply = await engine.chat.completions.create({ messages, stream: true });
 *
 * or, as in web-llm, by a model id of its catalogue (a draft model comes with it):
 *
 *   const engine = await CreateMLCEngine('Llama-3.2-3B-Instruct-q4f16_1-MLC', { initProgressCallback });
 *
 * Pinned prefixes are kept in the origin's private file system (`PREFIX_DIRECTORY`): list and
 * delete them with `listStoredPrefixes(await originDirectory(PREFIX_DIRECTORY))`. In Node,
 * `nodeDirectory(path)` from `src/cache/node-directory.ts` gives the engine a folder instead.
 */

export type { FileDirectory } from './cache/file-directory';
export { originDirectory } from './cache/file-directory';
export type { StoredPrefix } from './cache/prefix-store';
export { deleteStoredPrefix, listStoredPrefixes, PREFIX_DIRECTORY } from './cache/prefix-store';
export type { EngineOptions, ModelLocation, RequestOptions, TandemUsage } from './engine/engine';
export { createEngine, TandemEngine } from './engine/engine';
export type { FinishReason, Reply } from './engine/generation';
export { CreateMLCEngine, CreateWebWorkerMLCEngine, type MLCEngineSurface } from './engine/mlc-engine';
export type { MLCChatOptions, MLCEngineConfig } from './engine/model-options';
export { catalogueEngineOptions, modelOptions } from './engine/model-options';
export type { WorkerEngineLoadOptions } from './engine/worker-client';
export { createWorkerEngine, WorkerEngine } from './engine/worker-client';
export type { PortableLocation } from './engine/worker-host';
export * from './errors';
export type { GpuInfo } from './gpu/device';
export type { CatalogueModel } from './loader/catalogue';
export { catalogue as listModels, resolveModel } from './loader/catalogue';
export type { DraftLength } from './speculative/draft-length';
export type { DraftKind } from './speculative/draft-source';
export type { SpecStats } from './speculative/stats';
