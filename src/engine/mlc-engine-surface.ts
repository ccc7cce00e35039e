/**
 * web-llm's MLCEngine methods over a Tandem engine, in this thread or in a worker, so that an
 * app written against web-llm's engine keeps working when its import changes: `reload` to
 * another model of the catalogue, `interruptGenerate`, `runtimeStatsText`, `resetChat`,
 * `getMessage`, the method forms `chatCompletion` and `completion`, and the progress callback
 * and appConfig setters. Tandem's own calls (`warm`, `failure` for a worker) stay on `engine`.
 *
 * Requests are functional, as web-llm's are: a conversation is the messages a request sends,
 * and the prefix cache reuses what earlier requests computed, so `resetChat` has nothing to
 * forget but the last reply.
 */

import type { ChatCompletionChunk, Completion, InitProgressCallback } from '@mlc-ai/web-llm';
import type { TandemEngine, TandemUsage } from './engine';
import type { MLCChatOptions, MLCEngineConfig } from './model-options';
import type { TandemChatRequest, TandemCompletionRequest } from './request';
import type { WorkerEngine } from './worker-client';

/** What the factories load: an engine in this thread or one in a worker. */
export type LoadedEngine = TandemEngine | WorkerEngine;

/**
 * Loads `modelId` with the config as it is now (its progress callback, its appConfig), in place
 * of `previous`, which it unloads once the id is known to the catalogue.
 */
export type EngineLoader<E extends LoadedEngine> = (
  modelId: string,
  config: MLCEngineConfig,
  chatOptions: MLCChatOptions,
  previous: E | undefined,
) => Promise<E>;

export class MLCEngineSurface<E extends LoadedEngine> {
  readonly chat = {
    completions: {
      create: ((request: TandemChatRequest) => this.createChat(request)) as E['chat']['completions']['create'],
    },
  };
  readonly completions = {
    create: ((request: TandemCompletionRequest) => this.createCompletion(request)) as E['completions']['create'],
  };
  /** web-llm's method forms of `chat.completions.create` and `completions.create`. */
  readonly chatCompletion = this.chat.completions.create;
  readonly completion = this.completions.create;
  /** The text of the last reply (of a request's choices, the last), as far as it has streamed. */
  private message = '';

  constructor(
    /** The engine now loaded: `reload` replaces it. */
    public engine: E,
    private readonly load: EngineLoader<E>,
    private readonly config: MLCEngineConfig,
  ) {}

  get modelId(): string {
    return this.engine.modelId;
  }

  /**
   * Loads `modelId` (the first, where web-llm takes several) of the catalogue in place of the
   * model loaded now. An id the catalogue does not have is refused with the model still loaded;
   * a load that fails after that leaves none (requests fail with ModelNotLoadedError).
   */
  async reload(modelId: string | string[], chatOptions?: MLCChatOptions | MLCChatOptions[]): Promise<void> {
    const id = Array.isArray(modelId) ? modelId[0] : modelId;
    const options = (Array.isArray(chatOptions) ? chatOptions[0] : chatOptions) ?? {};
    if (id === undefined) throw new RangeError('reload: no model id given');
    this.engine = await this.load(id, this.config, options, this.engine);
    this.message = '';
  }

  interruptGenerate(): void {
    void this.engine.interrupt();
  }

  /** web-llm's line of speeds, for the last request, with speculation's figures when it drafted. */
  async runtimeStatsText(): Promise<string> {
    const { lastUsage } = this.engine; // a worker's is asked for; this thread's is at hand
    const usage: TandemUsage | undefined =
      typeof lastUsage === 'function' ? await lastUsage.call(this.engine) : lastUsage;
    if (!usage) return '';
    const { prefill_tokens_per_s: prefill, decode_tokens_per_s: decode } = usage.extra;
    const spec = usage.spec
      ? `, acceptance: ${usage.spec.acceptance_rate.toFixed(4)}, tokens per target pass: ${usage.spec.mean_accepted_length.toFixed(4)}`
      : '';
    return `prefill: ${prefill.toFixed(4)} tokens/sec, decoding: ${decode.toFixed(4)} tokens/sec${spec}`;
  }

  /** Nothing of a conversation is kept between requests but the cache, which only saves work. */
  async resetChat(): Promise<void> {
    this.message = '';
  }

  async getMessage(): Promise<string> {
    return this.message;
  }

  setInitProgressCallback(callback: InitProgressCallback): void {
    this.config.initProgressCallback = callback;
  }

  getInitProgressCallback(): InitProgressCallback | undefined {
    return this.config.initProgressCallback;
  }

  setAppConfig(appConfig: NonNullable<MLCEngineConfig['appConfig']>): void {
    this.config.appConfig = appConfig;
  }

  async getGPUVendor(): Promise<string> {
    return this.adapter.vendor;
  }

  async getMaxStorageBufferBindingSize(): Promise<number> {
    return this.adapter.limits.maxStorageBufferBindingSize ?? 0;
  }

  unload(): Promise<void> {
    return this.engine.unload();
  }

  private get adapter() {
    return 'info' in this.engine ? this.engine.info.adapter : this.engine.gpu.info;
  }

  private async createChat(request: TandemChatRequest) {
    this.message = '';
    const result = await this.engine.chat.completions.create(request);
    if (!isStream(result)) {
      this.message = result.choices.at(-1)?.message.content ?? ''; // web-llm's: the last choice's
      return result;
    }
    return this.keep(result, (chunk: ChatCompletionChunk) => chunk.choices[0]?.delta.content ?? '');
  }

  private async createCompletion(request: TandemCompletionRequest) {
    this.message = '';
    const result = await this.engine.completions.create(request);
    if (!isStream(result)) {
      this.message = result.choices.at(-1)?.text ?? '';
      return result;
    }
    return this.keep(result, (chunk: Completion) => chunk.choices[0]?.text ?? '');
  }

  /** The stream as it was, its text kept as it passes (`getMessage`). */
  private async *keep<T>(stream: AsyncIterable<T>, text: (chunk: T) => string): AsyncIterable<T> {
    for await (const chunk of stream) {
      this.message += text(chunk);
      yield chunk;
    }
  }
}

function isStream<T>(value: T | AsyncIterable<unknown>): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
