/**
 * The chat page's entry point: checks for WebGPU (explaining how to get it when absent), starts
 * the engine in a Web Worker with the bundled fixture models (or other model folders given by
 * URL, or models of web-llm's catalogue by id, from the Models panel or the page's address) and
 * a progress bar, and hands it to the chat. A service worker keeps the app for use offline;
 * model files are kept in browser storage and listed in the stored-models panel, and warmed
 * system prompts in the prefix store, listed beside them. Settings are kept for the next visit.
 * A lost device or an out-of-memory offers to reload the models; the conversation stays.
 */

import { modelOptions } from '../engine/model-options';
import { createWorkerEngine, type WorkerEngine } from '../engine/worker-client';
import { requestGpu } from '../gpu/device';
import { type Catalogue, catalogue } from '../loader/catalogue';
import { showBanner } from './banner';
import { Chat } from './chat';
import { showGpu, showNoGpu } from './gpu-panel';
import { enableOffline } from './offline';
import { applyAddress, keepSettings, modelChoice } from './settings';
import { showStoredModels, showStoredPrefixes } from './storage-panel';
import './style.css';

const panel = document.getElementById('gpu') as HTMLElement;
const status = document.querySelector('[data-testid="model-status"]') as HTMLElement;
const statusText = status.querySelector('.status-text') as HTMLElement;
const progress = status.querySelector('progress') as HTMLProgressElement;

let worker: Worker | undefined;
let engine: WorkerEngine | undefined;
let appConfig: Catalogue | undefined;
const chat = new Chat(
  (error) => showBanner(error, { label: 'Reload the model', run: () => void loadModels() }),
  () => void showStoredPrefixes(),
);

function setStatus(state: string, text: string, value?: number): void {
  status.dataset.state = state;
  statusText.textContent = text;
  if (value !== undefined) progress.value = value;
}

async function loadModels(): Promise<void> {
  chat.attach(undefined);
  worker?.terminate();
  worker = new Worker(new URL('../../worker/engine.worker.ts', import.meta.url), { type: 'module' });
  const choice = modelChoice();
  setStatus('loading', 'Loading models…', 0);
  try {
    const models = modelOptions(choice.target, { draft: choice.draft || undefined, appConfig, folderDraft: 'ngram' });
    engine = await createWorkerEngine(worker, {
      ...models,
      contextLength: 2048,
      initProgressCallback: (report) => setStatus('loading', report.text, report.progress),
    });
    setStatus('ready', `${engine.modelId} on ${engine.info.adapter.vendor} ${engine.info.adapter.architecture}`, 1);
    chat.attach(engine);
    for (const warning of engine.info.warnings) showBanner(Object.assign(new Error(warning.message), warning));
    void showStoredModels();
  } catch (error) {
    setStatus('error', 'The models could not be loaded.');
    showBanner(error as Error, { label: 'Try again', run: () => void loadModels() });
  }
}

async function start(): Promise<void> {
  keepSettings();
  void showStoredModels();
  void showStoredPrefixes();
  try {
    const gpu = await requestGpu(navigator.gpu);
    showGpu(panel, gpu.info);
    gpu.destroy(); // the engine's worker opens its own device
  } catch (error) {
    showNoGpu(panel, error as Error);
    setStatus('unavailable', 'WebGPU is not available in this browser.');
    showBanner(error as Error);
    return;
  }
  (document.querySelector('[data-testid="reload"]') as HTMLElement).addEventListener('click', () => void loadModels());
  appConfig = await applyAddress(
    catalogue()
      .filter((m) => m.supported)
      .map((m) => m.id),
  );
  await enableOffline();
  await loadModels();
}

void start();
