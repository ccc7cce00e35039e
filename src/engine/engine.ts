/**
 * The engine: a target model (and a draft model or prompt lookup) on one GPU, the prefix cache,
 * and the OpenAI-style API of web-llm: `engine.chat.completions.create(request)` and
 * `engine.completions.create(request)` return a whole reply, or with `stream: true` an async
 * iterable of chunks. An app written for web-llm runs on Tandem by changing the engine
 * constructor. Also `generate` (the same pipeline, giving token ids as well), `warm` (compute
 * a prompt's prefix ahead of time), `interrupt`, `unload`, and the last request's usage.
 *
 * Every request goes through one pipeline (generation.ts); usage carries the prefix-cache
 * fields hosted APIs report and, with speculation, a `spec` block (usage.ts).
 */

import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionRequestNonStreaming,
  ChatCompletionRequestStreaming,
  Completion,
  CompletionCreateParamsNonStreaming,
  CompletionCreateParamsStreaming,
  InitProgressReport,
} from '@mlc-ai/web-llm';
import { CachedGenerator } from '../cache/cached-generator';
import { type FileDirectory, originDirectory } from '../cache/file-directory';
import { modelKey, PREFIX_DIRECTORY, PrefixStore } from '../cache/prefix-store';
import { ModelNotLoadedError, StreamingCountError } from '../errors';
import { type Gpu, requestGpu } from '../gpu/device';
import type { KvFormat } from '../kernels/kv-cache';
import type { FileProgress, ModelSource } from '../loader/source';
import type { GpuModel } from '../model/gpu-model';
import type { GpuSequence } from '../model/gpu-sequence';
import { bufferLimit } from '../model/gpu-weights';
import { type DraftSource, destroyPair, disposeFolders, type ModelPair, readPair, uploadPair } from '../model/pair';
import type { CausalLM, Sequence } from '../model/types';
import { ResponseGrammars } from '../sampling/grammar';
import type { DraftLength } from '../speculative/draft-length';
import type { DraftKind } from '../speculative/draft-source';
import type { TemplateVariables } from '../tokenizer/tokenizer';
import { defaultCacheBudget, pairContext } from './context-length';
import { generateReply, type Reply, type ReplyHooks } from './generation';
import { LoadProgress } from './load-progress';
import { type ModelLocation, sourceFor } from './locations';
import { type DraftWord, isDraftWord } from './model-options';
import { buildPrompt } from './prompt';
import {
  type EngineDefaults,
  generationParams,
  type RequestOptions,
  requestPrompt,
  type TandemChatRequest,
  type TandemCompletionRequest,
  type TandemRequest,
  templateVariables,
} from './request';
import { chatChunk, chatCompletion, completionChunk, envelope, streamReply, textCompletion } from './responses';
import { combinedUsage, type TandemUsage } from './usage';

export type { ModelLocation } from './locations';
export type { RequestOptions } from './request';
export type { TandemUsage } from './usage';

export interface EngineOptions {
  target: ModelLocation;
  /** The id replies name as their `model` (a catalogue id); by default the target folder's name. */
  modelId?: string;
  /**
   * A draft model or an EAGLE head (its config.json says which), 'mtp' for the target's own
   * multi-token prediction layer (Qwen3.5's Hugging Face folders), 'ngram' for prompt lookup, or
   * 'none' (the default when absent).
   */
  draft?: ModelLocation | DraftWord;
  draftLength?: DraftLength;
  /** Requests verify a token tree with leaves beside this many of the chain's drafts (default 0: a chain). */
  draftTree?: number;
  /** Leaves beside each of them (default 1; at most 3). */
  draftTreeWidth?: number;
  /** GPU bytes the prefix cache may hold (default: what the models' weights take, at least 256 MiB). */
  cacheBudgetBytes?: number;
  /**
   * Tokens a conversation may reach. By default the model's window, bounded by what the prefix
   * cache's budget holds of both models' caches and by the adapter's buffers (context-length.ts);
   * the load report says which. Asked past the window, it is given, with a warning.
   */
  contextLength?: number;
  /** How KV caches hold keys and values: 'f16' halves their memory (default: f16 for real checkpoints, f32 for the tiny fixtures). */
  kvCache?: KvFormat;
  initProgressCallback?: (report: InitProgressReport) => void;
  /** A GPU to use; by default `navigator.gpu`'s. */
  gpu?: Gpu;
  /**
   * Where pinned prefixes (warmed system prompts, cache breakpoints) are kept across pages and
   * visits: a directory, or false for memory only. By default the origin's private file system
   * where there is one (browsers); none in Node.
   */
  prefixStore?: FileDirectory | false;
  /** Disk the prefix store may use, over every model's entries (default 512 MiB). */
  prefixStoreBudgetBytes?: number;
}

type Streaming<R> = R & RequestOptions & { stream: true };
type Whole<R> = R & RequestOptions;

/** `chat.completions.create`, typed as web-llm's: a stream for `stream: true`, else a whole reply. */
export interface ChatCompletionsCreate {
  (request: Streaming<ChatCompletionRequestStreaming>): Promise<AsyncIterable<ChatCompletionChunk>>;
  (request: Whole<ChatCompletionRequestNonStreaming>): Promise<ChatCompletion>;
  (request: TandemChatRequest): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion>;
}

/** `completions.create`, typed as web-llm's. */
export interface CompletionsCreate {
  (request: Streaming<CompletionCreateParamsStreaming>): Promise<AsyncIterable<Completion>>;
  (request: Whole<CompletionCreateParamsNonStreaming>): Promise<Completion>;
  (request: TandemCompletionRequest): Promise<AsyncIterable<Completion> | Completion>;
}

export class TandemEngine {
  readonly chat = {
    completions: { create: ((request: TandemChatRequest) => this.createChat(request)) as ChatCompletionsCreate },
  };
  readonly completions = {
    create: ((request: TandemCompletionRequest) => this.createCompletion(request)) as CompletionsCreate,
  };
  lastUsage: TandemUsage | undefined;
  /** The request running now (a queued one is not running yet), and whether it was interrupted. */
  private running: { interrupted: boolean } | undefined;
  private unloaded = false;
  private readonly generator: CachedGenerator<Sequence, GpuSequence>;
  /** `response_format`'s grammars, compiled against the target's vocabulary when first asked for. */
  private readonly grammars: ResponseGrammars;

  private constructor(
    readonly gpu: Gpu,
    private readonly pair: ModelPair,
    private readonly defaults: EngineDefaults,
    readonly contextLength: number,
    cacheBudgetBytes: number,
    /**
     * What went wrong without stopping anything: a model file browser storage would not keep,
     * a stored prefix found damaged (dropped, and computed instead).
     */
    readonly warnings: { name: string; message: string }[],
    store: PrefixStore | undefined,
    private readonly name?: string,
  ) {
    const { tokenizer } = pair.target.folder;
    // With an EAGLE head, the target and the head are one model whose sequences hold both.
    const target: CausalLM<Sequence> = pair.eagle?.model ?? pair.target.model;
    this.generator = new CachedGenerator<Sequence, GpuSequence>(target, pair.draft?.model, {
      capacity: contextLength,
      budgetBytes: cacheBudgetBytes,
      store,
      describe: (tokens) => tokenizer.decode(tokens, { skipSpecial: true }).trim(),
    });
    this.grammars = new ResponseGrammars(() => ({
      table: tokenizer.tokenTable(),
      spelling: tokenizer.spelling,
      vocabSize: pair.target.model.config.vocabSize,
      stopTokens: pair.target.folder.stopTokenIds,
    }));
  }

  /** The prefix store this engine reads and writes (none: memory only). */
  get prefixStore(): PrefixStore | undefined {
    return this.generator.store;
  }

  get modelId(): string {
    return this.name ?? this.pair.target.folder.name;
  }

  /** How requests draft unless they say otherwise: with the loaded draft model, prompt lookup, or not at all. */
  get draftKind(): DraftKind {
    return this.defaults.draft;
  }

  static async load(options: EngineOptions): Promise<TandemEngine> {
    const started = performance.now();
    const report = (progress: number, text: string) =>
      options.initProgressCallback?.({ progress, text, timeElapsed: (performance.now() - started) / 1000 });
    const gpu = options.gpu ?? (await requestGpu(globalThis.navigator?.gpu));
    report(0, `Using ${gpu.info.vendor} ${gpu.info.architecture}`);

    const warnings: { name: string; message: string }[] = [];
    const onStoreError = (error: Error) => warnings.push({ name: error.name, message: error.message });
    const hasDraftModel = options.draft !== undefined && !isDraftWord(options.draft);
    const sources: { target: ModelSource; draft?: DraftSource } = {
      target: await sourceFor(options.target, onStoreError),
      draft: hasDraftModel
        ? await sourceFor(options.draft as ModelLocation, onStoreError)
        : options.draft === 'mtp'
          ? 'mtp'
          : undefined,
    };
    // The target's files are the first 80% of the bar when a draft model follows.
    const share = { target: hasDraftModel ? 0.8 : 1, draft: 0.2 };
    const lines = new LoadProgress();
    const onProgress = (role: 'target' | 'draft', p: FileProgress) =>
      report(
        (role === 'draft' ? share.target : 0) + share[role] * (p.total > 0 ? p.loaded / p.total : 0),
        lines.describe(
          role === 'draft' && typeof sources.draft === 'object' ? sources.draft.name : sources.target.name,
          p,
        ),
      );
    const folders = await readPair(sources, onProgress);
    const budgetBytes = options.cacheBudgetBytes ?? defaultCacheBudget(folders);
    const context = pairContext(folders, {
      kvCache: options.kvCache,
      asked: options.contextLength,
      budgetBytes,
      bindingBytes: bufferLimit(gpu),
    });
    let pair: ModelPair;
    try {
      pair = await uploadPair(gpu, folders, { maxContext: context.length, kvCache: options.kvCache });
    } catch (error) {
      disposeFolders(folders);
      throw error;
    }
    for (const { folder } of [pair.target, ...(pair.draft ? [pair.draft] : [])]) {
      if (folder.config.unknownKeys.length === 0) continue;
      warnings.push({
        name: 'UnknownConfigKeys',
        message:
          `${folder.name}/config.json has keys Tandem does not know: ${folder.config.unknownKeys.join(', ')}. ` +
          'If one of them changes how the model computes, its output may differ from the reference implementation.',
      });
    }
    if (context.pastWindow) {
      warnings.push({
        name: 'ContextPastWindow',
        message:
          `A context of ${context.length} tokens was asked for, past ${pair.target.folder.name}'s window of ` +
          `${pair.target.folder.config.maxPositions} positions: it was not trained on the later ones, and may answer worse there.`,
      });
    }
    report(1, `Ready: a context of ${context.length} tokens (${context.reason})`);
    const draft: DraftKind = pair.eagle ? 'eagle' : pair.draft ? 'model' : options.draft === 'ngram' ? 'ngram' : 'none';
    const defaults: EngineDefaults = {
      draft,
      draftLength: options.draftLength ?? 'auto',
      draftTree: options.draftTree ?? 0,
      draftTreeWidth: options.draftTreeWidth ?? 1,
      generation: pair.target.folder.generation,
    };
    const contextLength = Math.min(
      context.length,
      pair.target.model.maxContext,
      pair.draft?.model.maxContext ?? Infinity,
    );
    const directory =
      options.prefixStore === false ? undefined : (options.prefixStore ?? (await originDirectory(PREFIX_DIRECTORY)));
    const store =
      directory &&
      new PrefixStore(directory, {
        model: await modelKey(pairIdentity(gpu, pair)),
        modelName: [pair.target.folder.name, pair.draft?.folder.name ?? pair.eagle?.name].filter(Boolean).join(' + '),
        budgetBytes: options.prefixStoreBudgetBytes,
        onWarning: (error) => {
          console.warn(`${error.name}: ${error.message}`);
          warnings.push({ name: error.name, message: error.message });
        },
      });
    return new TandemEngine(gpu, pair, defaults, contextLength, budgetBytes, warnings, store, options.modelId);
  }

  /**
   * One reply through the pipeline, `onText` called with each new piece of text (and the
   * tokens' log-probabilities, when asked): the text, every generated token id, the finish
   * reason and the usage. `chat.completions.create` and `completions.create` are this, in
   * web-llm's shapes.
   */
  async generate(request: TandemRequest, onText?: ReplyHooks['onText']): Promise<Reply> {
    this.assertLoaded();
    this.gpu.assertHealthy();
    const { tokenizer, stopTokenIds } = this.pair.target.folder;
    const prompt = requestPrompt(tokenizer, request);
    const params = generationParams(
      request,
      prompt,
      this.contextLength,
      this.pair.target.model.config.vocabSize,
      this.defaults,
    );
    const state = { interrupted: false };
    try {
      const model = { tokenizer, stopTokenIds, grammars: this.grammars };
      const reply = await generateReply(this.generator, model, prompt.ids, params, {
        onText,
        onStart: () => {
          this.running = state;
        },
        aborted: () => state.interrupted,
        onPrefill: request.onPrefillProgress,
      });
      this.lastUsage = reply.usage;
      return reply;
    } finally {
      if (this.running === state) this.running = undefined;
    }
  }

  /**
   * Computes and caches the prompt of `request` ahead of time. What comes before the first user
   * message (the system prompt) is kept as a pinned prefix, and in the prefix store: it is what
   * every conversation starts with. Later turns are cached but not pinned, and a last user
   * message may still be half typed: warming again as it grows computes only the new tokens.
   * `restored`: of the cached tokens, those read from the prefix store on disk just now.
   */
  async warm(request: {
    messages: ChatCompletionMessageParam[];
    chat_template_kwargs?: TemplateVariables;
    /** Called after each chunk of the prompt: tokens done (cached ones included) of all. */
    onPrefillProgress?: (done: number, total: number) => void;
  }): Promise<{ computed: number; cached: number; restored: number; stopped: boolean }> {
    this.assertLoaded();
    const { tokenizer } = this.pair.target.folder;
    const { messages } = request;
    const variables = templateVariables(request);
    // A reply's header follows a user message; after a system prompt alone, a user turn comes next.
    const typing = messages.at(-1)?.role === 'user';
    const { ids } = buildPrompt(tokenizer, messages, typing, variables);
    const firstUser = messages.findIndex((m) => m.role === 'user');
    const settled = firstUser < 0 ? messages : messages.slice(0, firstUser);
    const keep = settled.length > 0 ? buildPrompt(tokenizer, settled, false, variables).ids.length : 0;
    const prompt = ids.slice(0, this.contextLength - 1);
    if (prompt.length === 0) return { computed: 0, cached: 0, restored: 0, stopped: false };
    // Stop (`interrupt`) ends a long warm between chunks, as it ends a request's prefill.
    const state = { interrupted: false };
    try {
      const { computed, reused, restored, stopped } = await this.generator.warm(prompt, Math.min(keep, prompt.length), {
        onStart: () => {
          this.running = state;
        },
        shouldStop: () => state.interrupted,
        onPrefill: request.onPrefillProgress,
      });
      return { computed, cached: reused, restored, stopped };
    } finally {
      if (this.running === state) this.running = undefined;
    }
  }

  /**
   * Ends the request running now after its current step (it finishes with finish_reason
   * "abort"), or a warm between two chunks of its prompt (what it computed stays cached).
   */
  interrupt(): void {
    if (this.running) this.running.interrupted = true;
  }

  /** Frees the models and their caches; requests after it fail with ModelNotLoadedError. */
  async unload(): Promise<void> {
    if (this.unloaded) return;
    this.unloaded = true;
    await this.generator.cache.exclusive(async () => this.generator.cache.clear());
    await this.generator.store?.flush();
    this.grammars.dispose();
    destroyPair(this.pair);
  }

  /** A request to unloaded models would reach freed GPU buffers: an error the device would keep. */
  private assertLoaded(): void {
    if (this.unloaded) throw new ModelNotLoadedError('This engine was unloaded: load a model again (reload()).');
  }

  /** The loaded models (the benchmark and tests read their figures). */
  get models(): { target: GpuModel; draft?: GpuModel } {
    return { target: this.pair.target.model, draft: this.pair.draft?.model };
  }

  /**
   * The replies to a request for `n` choices, one after another as web-llm makes them (the
   * later ones read the prompt from the prefix cache): choice i with seed `seed + i` when the
   * request has a seed, so that they differ and each can be had again alone. Once one is
   * interrupted the rest are not made: empty, finish reason "abort". Their usage is one
   * (usage.ts: `combinedUsage`), of the replies made.
   */
  private async choices(request: TandemRequest): Promise<{ replies: Reply[]; usage: TandemUsage }> {
    const made = [await this.generate(request)]; // checks the request, `n` among its fields
    const n = request.n ?? 1;
    const { seed } = request;
    while (made.length < n && made[made.length - 1].finishReason !== 'abort') {
      const i = made.length;
      made.push(
        await this.generate(seed == null ? request : { ...request, seed: (seed + i) % Number.MAX_SAFE_INTEGER }),
      );
    }
    const unmade: Reply = { ...made[0], text: '', tokens: [], finishReason: 'abort', logprobs: undefined };
    const replies = [...made, ...new Array(n - made.length).fill(unmade)];
    const usage = combinedUsage(made.map((r) => r.usage));
    this.lastUsage = usage;
    return { replies, usage };
  }

  private async createChat(request: TandemChatRequest) {
    const e = envelope(this.modelId, 'chatcmpl');
    if (!request.stream) return chatCompletion(e, await this.choices(request));
    refuseStreamedChoices(request);
    return streamReply(
      (onText) => this.generate(request, onText),
      (piece) => chatChunk(e, piece),
      { includeUsage: !!request.stream_options?.include_usage, first: chatChunk(e, { role: 'assistant' }) },
    );
  }

  private async createCompletion(request: TandemCompletionRequest) {
    const e = envelope(this.modelId, 'cmpl');
    if (!request.stream) return textCompletion(e, await this.choices(request));
    refuseStreamedChoices(request);
    return streamReply(
      (onText) => this.generate(request, onText),
      (piece) => completionChunk(e, piece),
      { includeUsage: !!request.stream_options?.include_usage },
    );
  }
}

/** A stream of several choices is refused when it is asked for, as web-llm refuses it, not when it is read. */
function refuseStreamedChoices(request: TandemRequest): void {
  if ((request.n ?? 1) > 1) throw new StreamingCountError();
}

/**
 * What the bits of a pair's KV rows depend on: each model's weights and config (fingerprint),
 * its KV format and kernel profile, and the adapter (batch invariance holds per device and
 * profile). Stored prefixes are kept under its hash.
 */
function pairIdentity(gpu: Gpu, pair: ModelPair) {
  const { vendor, architecture, description } = gpu.info;
  return {
    layout: 1,
    adapter: { vendor, architecture, description },
    models: [pair.target, pair.draft].map(
      (m) => m && { fingerprint: m.folder.fingerprint, kv: m.model.kvFormat, profile: m.model.profile },
    ),
    // The rows hold the head's features too: they depend on its fc and the layers it reads.
    eagle: pair.eagle && { name: pair.eagle.name, fingerprint: pair.eagle.fingerprint },
  };
}

/** The engine in this thread. */
export function createEngine(options: EngineOptions): Promise<TandemEngine> {
  return TandemEngine.load(options);
}
