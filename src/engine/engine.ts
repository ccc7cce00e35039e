/**
 * The engine: a target model (and a draft model or prompt lookup) on one GPU, the prefix cache,
 * and the OpenAI-style chat API of web-llm: `engine.chat.completions.create(request)` returns a
 * ChatCompletion, or with `stream: true` an async iterable of ChatCompletionChunks. An app
 * written for web-llm runs on Tandem by changing the engine constructor. Also `warm` (compute
 * a prompt's prefix ahead of time), `interrupt`, `unload`, and the last request's figures.
 *
 * Usage carries the prefix-cache fields hosted APIs report (cache_read_input_tokens,
 * cache_creation_input_tokens, prompt_tokens_details.cached_tokens), the time to first token,
 * and with speculation a `spec` block (acceptance, tokens per target pass, ...).
 */

import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionRequest,
  ChatCompletionRequestNonStreaming,
  ChatCompletionRequestStreaming,
  CompletionUsage,
  InitProgressReport,
} from '@mlc-ai/web-llm';
import { CachedGenerator, type DraftKind } from '../cache/cached-generator';
import { type Gpu, requestGpu } from '../gpu/device';
import { loadModelFolder, type ModelFolder } from '../loader/model-folder';
import { storedSource } from '../loader/model-store';
import { type FileProgress, type ModelSource, urlSource } from '../loader/source';
import { GpuModel } from '../model/gpu-model';
import type { DraftLength, SpecStats } from '../spec/speculative';
import { checkVocabularies } from '../spec/vocabulary';
import { buildPrompt, InvalidRequestError } from './prompt';
import { AsyncQueue } from './queue';

/** A model folder: a URL (browser, worker), a directory path (Node), or files already at hand. */
export type ModelLocation = string | ModelSource;

export interface EngineOptions {
  target: ModelLocation;
  /** A draft model, 'ngram' for prompt lookup, or 'none' (the default when absent). */
  draft?: ModelLocation | 'ngram' | 'none';
  draftLength?: DraftLength;
  /** GPU bytes the prefix cache may hold (default 256 MiB). */
  cacheBudgetBytes?: number;
  /** Tokens a conversation may reach (default: the model's, at most 2048). */
  contextLength?: number;
  initProgressCallback?: (report: InitProgressReport) => void;
  /** A GPU to use; by default `navigator.gpu`'s. */
  gpu?: Gpu;
}

export interface TandemUsage extends CompletionUsage {
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  ttft_ms: number;
  spec?: SpecStats;
}

export interface RequestOptions {
  /** Overrides the engine's draft source for this request. */
  draft?: DraftKind;
  draftLength?: DraftLength;
}

/** Tokens a sequence may hold, unless the options say otherwise (and the model allows). */
export const DEFAULT_CONTEXT_LENGTH = 2048;
/** GPU memory the prefix cache may keep in KV caches, unless the options say otherwise. */
export const DEFAULT_CACHE_BUDGET_BYTES = 256 << 20;

type Request<R> = R & RequestOptions;

/** `chat.completions.create`, typed as web-llm's: a stream for `stream: true`, else a whole reply. */
export interface ChatCompletionsCreate {
  (request: Request<ChatCompletionRequestStreaming>): Promise<AsyncIterable<ChatCompletionChunk>>;
  (request: Request<ChatCompletionRequestNonStreaming>): Promise<ChatCompletion>;
  (request: Request<ChatCompletionRequest>): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion>;
}

export class TandemEngine {
  readonly chat = {
    completions: {
      create: ((request: Request<ChatCompletionRequest>) => this.create(request)) as ChatCompletionsCreate,
    },
  };
  lastUsage: TandemUsage | undefined;
  /** What went wrong without stopping the load: a model file browser storage would not keep. */
  readonly warnings: { name: string; message: string }[] = [];
  private interrupted = false;
  private readonly generator: CachedGenerator<
    ReturnType<GpuModel['createSequence']>,
    ReturnType<GpuModel['createSequence']>
  >;

  private constructor(
    readonly gpu: Gpu,
    private readonly target: { folder: ModelFolder; model: GpuModel },
    private readonly draft: { folder: ModelFolder; model: GpuModel } | undefined,
    private readonly defaultDraft: DraftKind,
    private readonly draftLength: DraftLength,
    readonly contextLength: number,
    cacheBudgetBytes: number,
  ) {
    this.generator = new CachedGenerator(target.model, draft?.model, {
      capacity: contextLength,
      budgetBytes: cacheBudgetBytes,
    });
  }

  get modelId(): string {
    return this.target.folder.name;
  }

  static async load(options: EngineOptions): Promise<TandemEngine> {
    const started = performance.now();
    const report = (progress: number, text: string) =>
      options.initProgressCallback?.({ progress, text, timeElapsed: (performance.now() - started) / 1000 });
    const gpu = options.gpu ?? (await requestGpu(globalThis.navigator?.gpu));
    report(0, `Using ${gpu.info.vendor} ${gpu.info.architecture}`);

    const hasDraftModel = options.draft !== undefined && options.draft !== 'ngram' && options.draft !== 'none';
    const onFile = (share: number, offset: number) => (p: FileProgress) =>
      report(
        offset + share * (p.total > 0 ? p.loaded / p.total : 0),
        `Loading ${p.file}: ${(p.loaded / 2 ** 20).toFixed(1)}${p.total ? ` of ${(p.total / 2 ** 20).toFixed(1)}` : ''} MB`,
      );
    const warnings: { name: string; message: string }[] = [];
    const onStoreError = (error: Error) => warnings.push({ name: error.name, message: error.message });
    const targetFolder = await loadModelFolder(
      await sourceFor(options.target, onStoreError),
      onFile(hasDraftModel ? 0.8 : 1, 0),
    );
    const contextLength = Math.min(options.contextLength ?? DEFAULT_CONTEXT_LENGTH, targetFolder.config.maxPositions);
    const targetModel = await GpuModel.create(gpu, targetFolder.config, targetFolder.weights, {
      maxContext: contextLength,
    });
    let draft: { folder: ModelFolder; model: GpuModel } | undefined;
    if (hasDraftModel) {
      const folder = await loadModelFolder(
        await sourceFor(options.draft as ModelLocation, onStoreError),
        onFile(0.2, 0.8),
      );
      checkVocabularies(targetFolder.tokenizer, folder.tokenizer);
      draft = {
        folder,
        model: await GpuModel.create(gpu, folder.config, folder.weights, { maxContext: contextLength }),
      };
    }
    report(1, 'Ready');
    const defaultDraft: DraftKind = draft ? 'model' : options.draft === 'ngram' ? 'ngram' : 'none';
    const engine = new TandemEngine(
      gpu,
      { folder: targetFolder, model: targetModel },
      draft,
      defaultDraft,
      options.draftLength ?? 'auto',
      contextLength,
      options.cacheBudgetBytes ?? DEFAULT_CACHE_BUDGET_BYTES,
    );
    engine.warnings.push(...warnings);
    return engine;
  }

  /**
   * Computes and caches the prompt of `request` ahead of time. Everything before the last user
   * message (the system prompt, earlier turns) is kept as a pinned prefix; a last user message
   * may still be half typed, so it is cached but not pinned: warming again as it grows
   * computes only the new tokens.
   */
  async warm(request: { messages: ChatCompletionMessageParam[] }): Promise<{ computed: number; cached: number }> {
    const { tokenizer } = this.target.folder;
    const { messages } = request;
    const { ids } = buildPrompt(tokenizer, messages);
    const settled = messages.at(-1)?.role === 'user' ? messages.slice(0, -1) : messages;
    const keep = settled.length > 0 ? buildPrompt(tokenizer, settled, false).ids.length : 0;
    const prompt = ids.slice(0, this.contextLength - 1);
    const { computed, reused } = await this.generator.warm(prompt, Math.min(keep, prompt.length));
    return { computed, cached: reused };
  }

  /** Ends the request in progress after its current step; it finishes with finish_reason "abort". */
  interrupt(): void {
    this.interrupted = true;
  }

  async unload(): Promise<void> {
    await this.generator.cache.exclusive(async () => this.generator.cache.clear());
    this.target.model.destroy();
    this.draft?.model.destroy();
    this.target.folder.tokenizer.dispose();
    this.draft?.folder.tokenizer.dispose();
  }

  private async create(
    request: Request<ChatCompletionRequest>,
  ): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
    const created = Math.floor(Date.now() / 1000);
    const model = this.modelId;
    if (request.stream) {
      const queue = new AsyncQueue<ChatCompletionChunk>();
      const chunk = (delta: { role?: 'assistant'; content?: string }, finish: string | null): ChatCompletionChunk => ({
        id,
        created,
        model,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, finish_reason: finish as never, logprobs: null }],
      });
      queue.push(chunk({ role: 'assistant', content: '' }, null));
      this.run(request, (text) => queue.push(chunk({ content: text }, null))).then(
        ({ finishReason, usage }) => {
          queue.push(chunk({}, finishReason));
          if (request.stream_options?.include_usage) {
            queue.push({ id, created, model, object: 'chat.completion.chunk', choices: [], usage });
          }
          queue.close();
        },
        (error) => queue.fail(error),
      );
      return queue;
    }
    const { text, finishReason, usage } = await this.run(request);
    return {
      id,
      created,
      model,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text },
          finish_reason: finishReason as never,
          logprobs: null,
        },
      ],
      usage,
    } as ChatCompletion;
  }

  /** Generates one reply, calling `onText` with each new piece of text. */
  private async run(request: Request<ChatCompletionRequest>, onText?: (text: string) => void) {
    this.gpu.assertHealthy();
    if ((request.n ?? 1) !== 1) throw new InvalidRequestError('Only n = 1 is supported.');
    const { tokenizer } = this.target.folder;
    const stopTokens = this.target.folder.stopTokenIds;
    const prompt = buildPrompt(tokenizer, request.messages);
    if (prompt.ids.length >= this.contextLength) {
      throw new InvalidRequestError(
        `The conversation is ${prompt.ids.length} tokens long; this engine holds ${this.contextLength}. Start a new conversation or shorten it.`,
      );
    }
    const stops = request.stop == null ? [] : Array.isArray(request.stop) ? request.stop : [request.stop];
    const room = this.contextLength - prompt.ids.length - 16; // room for a verify pass's drafts
    const maxTokens = Math.max(1, Math.min(request.max_tokens ?? room, room));

    const tokens: number[] = [];
    let sent = '';
    let stopped = false;
    this.interrupted = false;
    const started = performance.now();
    const result = await this.generator.generate(prompt.ids, {
      maxTokens,
      sampling: { temperature: request.temperature ?? 1, topP: request.top_p ?? 1, topK: 0 },
      seed: request.seed ?? Math.floor(Math.random() * 2 ** 31),
      stopTokens,
      draft: request.draft ?? this.defaultDraft,
      draftLength: request.draftLength ?? this.draftLength,
      keep: prompt.keep,
      shouldStop: () => stopped || this.interrupted,
      onToken: (token) => {
        if (stopTokens.includes(token)) return;
        tokens.push(token);
        let text = tokenizer.decode(tokens);
        if (text.endsWith('\uFFFD')) return; // a character split across tokens: wait for the rest
        const at = stops.map((s) => text.indexOf(s, Math.max(0, sent.length - s.length))).filter((i) => i >= 0);
        if (at.length > 0) {
          text = text.slice(0, Math.min(...at));
          stopped = true;
        }
        if (text.length > sent.length) onText?.(text.slice(sent.length));
        sent = text;
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const last = result.tokens[result.tokens.length - 1];
    const finishReason = this.interrupted ? 'abort' : stopped || stopTokens.includes(last) ? 'stop' : 'length';
    const { usage: u, spec } = result;
    const decodeSeconds = seconds - u.ttft_ms / 1000;
    const usage: TandemUsage = {
      prompt_tokens: u.prompt_tokens,
      completion_tokens: u.completion_tokens,
      total_tokens: u.total_tokens,
      cache_creation_input_tokens: u.cache_creation_input_tokens,
      cache_read_input_tokens: u.cache_read_input_tokens,
      prompt_tokens_details: u.prompt_tokens_details,
      ttft_ms: u.ttft_ms,
      extra: {
        e2e_latency_s: seconds,
        prefill_tokens_per_s: (u.prompt_tokens - u.cache_read_input_tokens) / (u.ttft_ms / 1000),
        decode_tokens_per_s: u.completion_tokens > 1 ? (u.completion_tokens - 1) / decodeSeconds : 0,
        time_to_first_token_s: u.ttft_ms / 1000,
        time_per_output_token_s: u.completion_tokens > 1 ? decodeSeconds / (u.completion_tokens - 1) : 0,
      },
      ...(spec.draft !== 'none' ? { spec } : {}),
    };
    this.lastUsage = usage;
    return { text: sent, finishReason, usage };
  }
}

/** The engine in this thread. */
export function createEngine(options: EngineOptions): Promise<TandemEngine> {
  return TandemEngine.load(options);
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** A folder path in Node; a URL elsewhere, kept in browser storage where there is one. */
async function sourceFor(location: ModelLocation, onStoreError: (error: Error) => void): Promise<ModelSource> {
  if (typeof location !== 'string') return location;
  if (isNode && !/^https?:\/\//.test(location)) {
    const { directorySource } = await import('../loader/node-source');
    return directorySource(location);
  }
  return isNode ? urlSource(location) : storedSource(location, onStoreError);
}
