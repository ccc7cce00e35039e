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

import type * as Comlink from 'comlink';
import { createEngine, type TandemEngine } from './engine';
import { catalogueEngineOptions, type MLCChatOptions, type MLCEngineConfig } from './model-options';
import { createWorkerEngine, type WorkerEngine } from './worker-client';

export type { MLCChatOptions, MLCEngineConfig } from './model-options';

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
