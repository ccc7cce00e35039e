/**
 * The engine's side of the worker boundary: an object exposed with comlink in a Web Worker (or
 * on any MessagePort). Options cross as data: model folders as URLs, paths (Node) or files
 * already fetched (ArrayBuffers, transferred); callbacks (progress, stream chunks) cross as
 * comlink proxies. Errors cross with their `name` and message, and leave the engine usable.
 */

import type { ChatCompletion, ChatCompletionChunk, Completion, InitProgressReport } from '@mlc-ai/web-llm';
import { ModelNotLoadedError } from '../errors';
import type { Gpu, GpuInfo } from '../gpu/device';
import { memorySource } from '../loader/source';
import type { DraftKind } from '../speculative/draft-source';
import { createEngine, type EngineOptions, type ModelLocation, type TandemEngine, type TandemUsage } from './engine';
import { type DraftWord, isDraftWord } from './model-options';
import type { TandemChatRequest, TandemCompletionRequest } from './request';

/** A model folder that can cross a worker boundary. */
export type PortableLocation = string | { name: string; files: Record<string, ArrayBuffer> };

export interface WorkerEngineOptions
  extends Omit<EngineOptions, 'target' | 'draft' | 'initProgressCallback' | 'gpu' | 'prefixStore'> {
  target: PortableLocation;
  draft?: PortableLocation | DraftWord;
  /** false: keep prefixes in memory only (by default the origin's private file system keeps pinned ones). */
  prefixStore?: false;
}

export interface LoadedInfo {
  modelId: string;
  adapter: GpuInfo;
  contextLength: number;
  /** How requests draft by default: 'model' when a draft model is loaded, 'eagle' with an EAGLE head. */
  draft: DraftKind;
  /** Problems that did not stop the load (a model file browser storage would not keep). */
  warnings: { name: string; message: string }[];
}

export class EngineHost {
  private engine: TandemEngine | undefined;

  /** `gpu` gives the device to use (tests in Node); in a worker, `navigator.gpu`'s is used. */
  constructor(private readonly gpu?: () => Promise<Gpu>) {}

  async load(options: WorkerEngineOptions, progress?: (report: InitProgressReport) => void): Promise<LoadedInfo> {
    await this.engine?.unload();
    this.engine = undefined;
    this.engine = await createEngine({
      ...options,
      target: location(options.target),
      draft: isDraftWord(options.draft) ? options.draft : optional(options.draft),
      gpu: this.gpu ? await this.gpu() : undefined,
      initProgressCallback: progress,
    });
    const { modelId, gpu, contextLength, warnings, draftKind } = this.engine;
    return { modelId, adapter: gpu.info, contextLength, draft: draftKind, warnings };
  }

  async complete(request: TandemChatRequest): Promise<ChatCompletion> {
    return this.loaded().chat.completions.create({ ...request, stream: false });
  }

  async completeText(request: TandemCompletionRequest): Promise<Completion> {
    return this.loaded().completions.create({ ...request, stream: false });
  }

  /**
   * Streams the reply through `onChunk`; resolves when the last chunk has been delivered. Each
   * delivery is awaited: a proxied callback travels on its own port, so without the wait this
   * call's result could overtake the last chunks (and a slow page would not hold back the GPU).
   */
  async stream(
    request: TandemChatRequest,
    onChunk: (chunk: ChatCompletionChunk) => void | Promise<void>,
    onPrefillProgress?: (done: number, total: number) => void,
  ) {
    const chunks = await this.loaded().chat.completions.create({ ...request, stream: true, onPrefillProgress });
    for await (const chunk of chunks) await onChunk(chunk);
  }

  /** `stream` for a text completion. */
  async streamText(
    request: TandemCompletionRequest,
    onChunk: (chunk: Completion) => void | Promise<void>,
    onPrefillProgress?: (done: number, total: number) => void,
  ) {
    const chunks = await this.loaded().completions.create({ ...request, stream: true, onPrefillProgress });
    for await (const chunk of chunks) await onChunk(chunk);
  }

  /** Warms the prefix cache with `request`'s prompt; `onPrefillProgress` crosses as a proxy of its own. */
  warm(
    request: Omit<Parameters<TandemEngine['warm']>[0], 'onPrefillProgress'>,
    onPrefillProgress?: (done: number, total: number) => void,
  ) {
    return this.loaded().warm({ ...request, onPrefillProgress });
  }

  interrupt(): void {
    this.engine?.interrupt();
  }

  /** Resolves once the prefix store's queued writes are done (a page lists stored prompts after). */
  async prefixStoreSettled(): Promise<void> {
    await this.engine?.prefixStore?.flush();
  }

  /** Problems met since the load that stopped nothing (a stored prefix found damaged, say). */
  warnings(): { name: string; message: string }[] {
    return this.engine?.warnings ?? [];
  }

  lastUsage(): TandemUsage | undefined {
    return this.engine?.lastUsage;
  }

  /**
   * What stopped the engine for good, if anything: the device lost, or an error the GPU raised
   * outside any request. A request that fails on its own (a bad request, a conversation the GPU
   * has no memory for) leaves none, and the engine goes on serving.
   */
  failure(): { name: string; message: string } | undefined {
    const failure = this.engine?.gpu.failure;
    return failure && { name: failure.name, message: failure.message };
  }

  async unload(): Promise<void> {
    await this.engine?.unload();
    this.engine = undefined;
  }

  private loaded(): TandemEngine {
    if (!this.engine) throw new ModelNotLoadedError('No model is loaded: call load() first.');
    return this.engine;
  }
}

function location(portable: PortableLocation): ModelLocation {
  return typeof portable === 'string' ? portable : memorySource(portable.name, portable.files);
}

function optional(portable: PortableLocation | undefined): ModelLocation | undefined {
  return portable === undefined ? undefined : location(portable);
}
