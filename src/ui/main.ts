/**
 * The chat page's entry point: checks for WebGPU (explaining how to get it when absent), starts
 * the engine in a Web Worker with the bundled fixture models (or other model folders given by
 * URL, or models of web-llm's catalogue by id, from the Models panel or the page's address) and
 * a progress bar, and hands it to the chat. A service worker keeps the app for use offline;
 * model files are kept in browser storage and listed in the stored-models panel, and warmed
 * system prompts in the prefix store, listed beside them. Settings are kept for the next visit.
 * An engine that has failed for good (its device lost) offers to reload the models; the
 * conversation stays.
 */

import { shortName } from '../engine/load-progress';
import { isFolder, modelOptions } from '../engine/model-options';
import { createWorkerEngine, type WorkerEngine } from '../engine/worker-client';
import { requestGpu } from '../gpu/device';
import { type Catalogue, catalogue } from '../loader/catalogue';
import { hideBanner, showBanner } from './banner';
import { Chat } from './chat';
import { showGpu, showNoGpu } from './gpu-panel';
import { showModelPicker } from './model-picker';
import { enableOffline } from './offline';
import { addressContext, applyAddress, applyDependencies, keepSettings, modelChoice } from './settings';
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

/** A folder given relative to this page (`models/x`) as a URL: the engine's worker lives elsewhere. */
const absolute = (location: string) =>
  isFolder(location) && !/^[a-z][a-z0-9+.-]*:/i.test(location) ? new URL(location, document.baseURI).href : location;

/**
 * Loads the models the Models panel names in a new worker. The engine in use keeps its worker
 * until the new one is ready: a failed load leaves it running, and the chat goes on with it.
 */
async function loadModels(): Promise<void> {
  const previous = engine && worker ? { engine, worker } : undefined;
  chat.attach(undefined);
  const candidate = new Worker(new URL('../../worker/engine.worker.ts', import.meta.url), { type: 'module' });
  const choice = modelChoice();
  setStatus('loading', 'Loading models…', 0);
  try {
    const models = modelOptions(absolute(choice.target), {
      draft: choice.draft ? absolute(choice.draft) : undefined,
      appConfig,
      folderDraft: 'ngram',
    });
    const loaded = await createWorkerEngine(candidate, {
      ...models,
      contextLength: addressContext(),
      initProgressCallback: (report) => setStatus('loading', report.text, report.progress),
    });
    previous?.worker.terminate();
    worker = candidate;
    engine = loaded;
    hideBanner('models-banner');
    setStatus('ready', `${shownName(loaded)} on ${loaded.info.adapter.vendor} ${loaded.info.adapter.architecture}`, 1);
    applyDependencies(loaded.info.draft === 'model' || loaded.info.draft === 'eagle');
    chat.attach(loaded);
    for (const warning of loaded.info.warnings) showBanner(Object.assign(new Error(warning.message), warning));
    void showStoredModels();
  } catch (error) {
    candidate.terminate();
    if (previous) {
      setStatus('ready', `Still using ${shownName(previous.engine)}: the new models could not be loaded.`, 1);
      chat.attach(previous.engine);
    } else {
      setStatus('error', 'The models could not be loaded.');
    }
    showBanner(error as Error, { label: 'Try again', run: () => void loadModels() }, 'models-banner');
    void showStoredModels();
  }
}

/** A model's name for the status line: a catalogue id as it is, a folder URL by its folder's name. */
const shownName = (loaded: WorkerEngine) =>
  /^https?:/.test(loaded.modelId) ? shortName(loaded.modelId) : loaded.modelId;

/** The theme: the system's, or the one chosen with the toggle (kept for the next visit). */
function themeToggle(): void {
  const button = document.querySelector('[data-testid="theme"]') as HTMLButtonElement;
  const apply = (theme: string | null) => {
    if (theme) document.documentElement.dataset.theme = theme;
    const dark = theme ? theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
    button.setAttribute('aria-pressed', String(dark));
  };
  apply(localStorage.getItem('tandem-theme'));
  button.addEventListener('click', () => {
    const theme = button.getAttribute('aria-pressed') === 'true' ? 'light' : 'dark';
    localStorage.setItem('tandem-theme', theme);
    apply(theme);
  });
}

async function start(): Promise<void> {
  keepSettings();
  themeToggle();
  void chat.resume();
  (document.querySelector('[data-testid="speculative"]') as HTMLElement).addEventListener('change', () =>
    applyDependencies(engine?.info.draft === 'model' || engine?.info.draft === 'eagle'),
  );
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
  showModelPicker(appConfig);
  await enableOffline();
  await loadModels();
}

void start();
