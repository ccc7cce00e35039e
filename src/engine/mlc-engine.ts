/**
 * web-llm's factories, so that a web-llm app switches to Tandem by changing its import:
 *
 *   import { CreateMLCEngine } from 'tandem';   // was: from '@mlc-ai/web-llm'
 *   const engine = await CreateMLCEngine('Llama-3.1-8B-Instruct-q4f16_1-MLC', { initProgressCallback });
 *
 * A model is named by its id in web-llm's catalogue (or the app's own `appConfig`), and its MLC
 * folder is fetched from the repo's `resolve/main/` as web-llm fetches it. Speculation comes
 * with it: the catalogue's suggested draft (the smallest model sharing the target's tokenizer,
 * loaded too), else prompt lookup; `draftModel` chooses otherwise ('none' for no speculation).
 */

import type { AppConfig, InitProgressReport } from '@mlc-ai/web-llm';
import type * as Comlink from 'comlink';
import type { Gpu } from '../gpu/device';
import { resolveModel } from '../loader/catalogue';
import type { DraftLength } from '../speculative/draft-length';
import { createEngine, type EngineOptions, type TandemEngine } from './engine';
import { createWorkerEngine, type WorkerEngine } from './worker-client';

export interface MLCEngineConfig {
  /** The catalogue of model ids (default: web-llm's prebuiltAppConfig). */
  appConfig?: AppConfig;
  initProgressCallback?: (report: InitProgressReport) => void;
  /** A catalogue id, 'ngram' (prompt lookup) or 'none'; by default the catalogue's suggestion. */
  draftModel?: string;
  draftLength?: DraftLength;
  /** GPU bytes the prefix cache may hold. */
  cacheBudgetBytes?: number;
  /** A GPU to use (Node); by default `navigator.gpu`'s. */
  gpu?: Gpu;
}

/** web-llm's per-model chat options that Tandem reads. */
export interface MLCChatOptions {
  context_window_size?: number;
}

/** The engine options for a catalogue model: its folder URL, its draft's, and the context asked for. */
export function catalogueEngineOptions(
  modelId: string,
  config: MLCEngineConfig = {},
  chatOptions: MLCChatOptions = {},
): Omit<EngineOptions, 'initProgressCallback' | 'gpu'> & { target: string; draft: string } {
  const model = resolveModel(modelId, config.appConfig);
  const draftId = config.draftModel ?? model.draft ?? 'ngram';
  const draft = draftId === 'ngram' || draftId === 'none' ? draftId : resolveModel(draftId, config.appConfig).url;
  return {
    target: model.url,
    modelId,
    draft,
    draftLength: config.draftLength,
    cacheBudgetBytes: config.cacheBudgetBytes,
    contextLength: chatOptions.context_window_size,
  };
}

/** A Tandem engine in this thread, for a model of the catalogue. */
export async function CreateMLCEngine(
  modelId: string,
  engineConfig: MLCEngineConfig = {},
  chatOptions: MLCChatOptions = {},
): Promise<TandemEngine> {
  return createEngine({
    ...catalogueEngineOptions(modelId, engineConfig, chatOptions),
    initProgressCallback: engineConfig.initProgressCallback,
    gpu: engineConfig.gpu,
  });
}

/** A Tandem engine in `worker` (running worker/engine.worker.ts), for a model of the catalogue. */
export async function CreateWebWorkerMLCEngine(
  worker: Comlink.Endpoint,
  modelId: string,
  engineConfig: Omit<MLCEngineConfig, 'gpu'> = {},
  chatOptions: MLCChatOptions = {},
): Promise<WorkerEngine> {
  return createWorkerEngine(worker, {
    ...catalogueEngineOptions(modelId, engineConfig, chatOptions),
    initProgressCallback: engineConfig.initProgressCallback,
  });
}
