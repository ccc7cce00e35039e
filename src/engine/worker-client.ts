/**
 * The page's side of the worker boundary: `createWorkerEngine(worker, options)` returns an
 * engine with the same `chat.completions.create` as the in-thread one, running in a Web Worker
 * through comlink. Streams arrive chunk by chunk through a proxied callback, so the page's main
 * thread never blocks on the GPU.
 */

import type { ChatCompletionChunk, Completion, InitProgressReport } from '@mlc-ai/web-llm';
import * as Comlink from 'comlink';
import type { ChatCompletionsCreate, CompletionsCreate, TandemEngine, TandemUsage } from './engine';
import { AsyncQueue } from './queue';
import type { TandemChatRequest, TandemCompletionRequest } from './request';
import type { EngineHost, LoadedInfo, WorkerEngineOptions } from './worker-host';

export interface WorkerEngineLoadOptions extends WorkerEngineOptions {
  initProgressCallback?: (report: InitProgressReport) => void;
}

export class WorkerEngine {
  readonly chat = {
    completions: { create: ((request: TandemChatRequest) => this.createChat(request)) as ChatCompletionsCreate },
  };
  readonly completions = {
    create: ((request: TandemCompletionRequest) => this.createCompletion(request)) as CompletionsCreate,
  };

  constructor(
    private readonly host: Comlink.Remote<EngineHost>,
    readonly info: LoadedInfo,
  ) {}

  get modelId(): string {
    return this.info.modelId;
  }

  warm(request: Parameters<TandemEngine['warm']>[0]) {
    // A callback crosses the boundary as a proxy of its own, not inside the request.
    const { onPrefillProgress, ...data } = request;
    return this.host.warm(data, onPrefillProgress && Comlink.proxy(onPrefillProgress));
  }

  interrupt(): Promise<void> {
    return this.host.interrupt();
  }

  /** Resolves once pinned prefixes computed so far are written to the prefix store. */
  prefixStoreSettled(): Promise<void> {
    return this.host.prefixStoreSettled();
  }

  /** Problems met since the load that stopped nothing (a stored prefix found damaged, say). */
  warnings(): Promise<{ name: string; message: string }[]> {
    return this.host.warnings();
  }

  lastUsage(): Promise<TandemUsage | undefined> {
    return this.host.lastUsage();
  }

  /**
   * What stopped the engine for good, if anything: the models must be loaded again. The device
   * lost, say; or the worker itself gone (a worker that runs out of memory is ended without a
   * word), when it does not answer within `timeoutMs` or the call itself fails. Never rejects.
   */
  failure(timeoutMs = 10_000): Promise<{ name: string; message: string } | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silence = new Promise<{ name: string; message: string }>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            name: 'EngineUnresponsiveError',
            message: "The engine's worker stopped answering (it may have run out of memory). Reload the model.",
          }),
        timeoutMs,
      );
    });
    const answer = this.host.failure().catch((error: Error) => ({ name: error.name, message: error.message }));
    return Promise.race([answer, silence]).finally(() => clearTimeout(timer));
  }

  unload(): Promise<void> {
    return this.host.unload();
  }

  private async createChat(request: TandemChatRequest) {
    // A callback crosses the boundary as a proxy of its own, not inside the request.
    const { onPrefillProgress, ...data } = request;
    if (!data.stream) return this.host.complete(data);
    const progress = onPrefillProgress && Comlink.proxy(onPrefillProgress);
    return chunks<ChatCompletionChunk>((onChunk) => this.host.stream(data, onChunk, progress));
  }

  private async createCompletion(request: TandemCompletionRequest) {
    const { onPrefillProgress, ...data } = request;
    if (!data.stream) return this.host.completeText(data);
    const progress = onPrefillProgress && Comlink.proxy(onPrefillProgress);
    return chunks<Completion>((onChunk) => this.host.streamText(data, onChunk, progress));
  }
}

/** The chunks a host streams through a proxied callback, as an async iterable. */
function chunks<T>(stream: (onChunk: (chunk: T) => void) => Promise<void>): AsyncIterable<T> {
  const queue = new AsyncQueue<T>();
  stream(Comlink.proxy((chunk: T) => queue.push(chunk))).then(
    () => queue.close(),
    (error) => queue.fail(error),
  );
  return queue;
}

/** Loads the engine in `worker` (a Worker running worker/engine.worker.ts, or any MessagePort). */
export async function createWorkerEngine(endpoint: Comlink.Endpoint, options: WorkerEngineLoadOptions) {
  const host = Comlink.wrap<EngineHost>(endpoint);
  const { initProgressCallback, ...rest } = options;
  const info = await host.load(rest, initProgressCallback ? Comlink.proxy(initProgressCallback) : undefined);
  return new WorkerEngine(host, info);
}
