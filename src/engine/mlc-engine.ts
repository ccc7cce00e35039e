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
 * The engine they return has web-llm's methods (mlc-engine-surface.ts: `reload`,
 * `interruptGenerate`, `runtimeStatsText`, ...), and the Tandem engine itself as `engine`.
 */

import type * as Comlink from 'comlink';
import { createEngine, type TandemEngine } from './engine';
import { MLCEngineSurface } from './mlc-engine-surface';
import { catalogueEngineOptions, type MLCChatOptions, type MLCEngineConfig } from './model-options';
import { createWorkerEngine, type WorkerEngine } from './worker-client';

export type { MLCEngineSurface } from './mlc-engine-surface';
export type { MLCChatOptions, MLCEngineConfig } from './model-options';

/** A Tandem engine in this thread, for a model of the catalogue; `reload` keeps its GPU. */
export async function CreateMLCEngine(
  modelId: string,
  engineConfig: MLCEngineConfig = {},
  chatOptions: MLCChatOptions = {},
): Promise<MLCEngineSurface<TandemEngine>> {
  const config = { ...engineConfig };
  const load = async (id: string, now: MLCEngineConfig, options: MLCChatOptions, previous?: TandemEngine) => {
    const resolved = catalogueEngineOptions(id, now, options); // an unknown id throws with the model still loaded
    await previous?.unload();
    return createEngine({ ...resolved, initProgressCallback: now.initProgressCallback, gpu: now.gpu ?? previous?.gpu });
  };
  return new MLCEngineSurface(await load(modelId, config, chatOptions), load, config);
}

/** A Tandem engine in `worker` (running worker/engine.worker.ts), for a model of the catalogue. */
export async function CreateWebWorkerMLCEngine(
  worker: Comlink.Endpoint,
  modelId: string,
  engineConfig: Omit<MLCEngineConfig, 'gpu'> = {},
  chatOptions: MLCChatOptions = {},
): Promise<MLCEngineSurface<WorkerEngine>> {
  const config = { ...engineConfig };
  // The worker unloads the model it holds as it loads the next (EngineHost.load).
  const load = (id: string, now: MLCEngineConfig, options: MLCChatOptions) =>
    createWorkerEngine(worker, {
      ...catalogueEngineOptions(id, now, options),
      initProgressCallback: now.initProgressCallback,
    });
  return new MLCEngineSurface(await load(modelId, config, chatOptions), load, config);
}
