/**
 * The page's side of the worker boundary: `createWorkerEngine(worker, options)` returns an
 * engine with the same `chat.completions.create` as the in-thread one, running in a Web Worker
 * through comlink. Streams arrive chunk by chunk through a proxied callback, so the page's main
 * thread never blocks on the GPU.
 */

import type { ChatCompletionChunk, ChatCompletionRequest, InitProgressReport } from '@mlc-ai/web-llm';
import * as Comlink from 'comlink';
import type { ChatCompletionsCreate, RequestOptions, TandemUsage } from './engine';
import { AsyncQueue } from './queue';
import type { EngineHost, LoadedInfo, WorkerEngineOptions } from './worker-host';

export interface WorkerEngineLoadOptions extends WorkerEngineOptions {
  initProgressCallback?: (report: InitProgressReport) => void;
}

export class WorkerEngine {
  readonly chat = {
    completions: {
      create: ((request: ChatCompletionRequest & RequestOptions) => this.create(request)) as ChatCompletionsCreate,
    },
  };

  constructor(
    private readonly host: Comlink.Remote<EngineHost>,
    readonly info: LoadedInfo,
  ) {}

  get modelId(): string {
    return this.info.modelId;
  }

  warm(request: Parameters<EngineHost['warm']>[0]) {
    return this.host.warm(request);
  }

  interrupt(): Promise<void> {
    return this.host.interrupt();
  }

  lastUsage(): Promise<TandemUsage | undefined> {
    return this.host.lastUsage();
  }

  unload(): Promise<void> {
    return this.host.unload();
  }

  private async create(request: ChatCompletionRequest & RequestOptions) {
    if (!request.stream) return this.host.complete(request);
    const queue = new AsyncQueue<ChatCompletionChunk>();
    this.host
      .stream(
        request,
        Comlink.proxy((chunk: ChatCompletionChunk) => queue.push(chunk)),
      )
      .then(
        () => queue.close(),
        (error) => queue.fail(error),
      );
    return queue;
  }
}

/** Loads the engine in `worker` (a Worker running worker/engine.worker.ts, or any MessagePort). */
export async function createWorkerEngine(endpoint: Comlink.Endpoint, options: WorkerEngineLoadOptions) {
  const host = Comlink.wrap<EngineHost>(endpoint);
  const { initProgressCallback, ...rest } = options;
  const info = await host.load(rest, initProgressCallback ? Comlink.proxy(initProgressCallback) : undefined);
  return new WorkerEngine(host, info);
}
