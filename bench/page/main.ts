/**
 * The benchmark page: finds the GPU, runs the suites of bench/run.ts (quick or full) in a Web
 * Worker (bench.worker.ts) with a progress bar, so the page stays responsive, and shows the
 * report. Results download as the JSON the CLI writes, and results files (or the published
 * H100 run) load back to compare machines, each removable. `window.tandemBench` drives it
 * from scripts and tests (bench/README.md).
 */

import * as Comlink from 'comlink';
import { WebGPUUnavailableError } from '../../src/errors';
import { type GpuInfo, NO_WEBGPU_HELP, requestGpu } from '../../src/gpu/device';
import { hideBanner, showBanner } from '../../src/ui/banner';
import { showGpu, showNoGpu } from '../../src/ui/gpu-panel';
import h100 from '../results/h100.json';
import type { BenchResults } from '../run';
import { checkResults } from '../schema';
import type { BenchWorker } from './bench.worker';
import { renderReport, sameRun } from './report';
import '../../src/ui/style.css';
import './bench.css';

type State = 'idle' | 'running' | 'done' | 'error';

export interface TandemBench {
  run(options?: { quick?: boolean }): Promise<BenchResults>;
  load(results: BenchResults): void;
  readonly state: State;
  readonly results: BenchResults | undefined;
}

declare global {
  interface Window {
    tandemBench: TandemBench;
  }
}

const byId = <T extends HTMLElement>(id: string) => document.querySelector(`[data-testid="${id}"]`) as T;
const status = byId('bench-status');
const statusText = status.querySelector('.status-text') as HTMLElement;
const progress = byId<HTMLProgressElement>('bench-progress');
const start = byId<HTMLButtonElement>('start');
const download = byId<HTMLButtonElement>('download');
const logView = byId('bench-log');
const modelsUrl = new URL(`${import.meta.env.BASE_URL}models/`, location.href).href;

let gpu: GpuInfo | undefined;
let state: State = 'idle';
let latest: BenchResults | undefined;
const compared: BenchResults[] = [];

function setState(next: State, text: string, value?: number): void {
  state = next;
  status.dataset.state = next;
  statusText.textContent = text;
  if (value !== undefined) progress.value = value;
}

function log(line: string): void {
  logView.textContent += `${line}\n`;
  logView.scrollTop = logView.scrollHeight;
}

function render(): void {
  renderReport(byId('report'), latest, compared, (removed) => {
    compared.splice(compared.indexOf(removed), 1);
    if (sameRun(removed, h100 as unknown as BenchResults)) byId<HTMLButtonElement>('compare-h100').disabled = false;
    render();
  });
}

async function run(options: { quick?: boolean } = {}): Promise<BenchResults> {
  if (!gpu) throw new WebGPUUnavailableError(NO_WEBGPU_HELP);
  if (state === 'running') throw new Error('A benchmark is already running.');
  const quick = options.quick ?? true;
  start.disabled = true;
  logView.textContent = '';
  setState('running', 'Loading the fixture models…', 0);
  hideBanner();
  const thread = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' });
  try {
    const worker = Comlink.wrap<BenchWorker>(thread);
    const results = await worker.run(
      { quick, environment: navigator.userAgent, modelsUrl },
      Comlink.proxy((done: number, stage: string) => setState('running', `Running: ${stage}…`, done)),
      Comlink.proxy(log),
    );
    latest = results;
    setState('done', `Done: ${quick ? 'quick' : 'full'} run on ${gpu.vendor} ${gpu.architecture}`, 1);
    download.disabled = false;
    render();
    return results;
  } catch (error) {
    setState('error', 'The benchmark stopped.');
    showBanner(error as Error);
    throw error;
  } finally {
    thread.terminate();
    start.disabled = false;
  }
}

function load(results: BenchResults): void {
  const problems = checkResults(results);
  if (problems.length > 0) {
    const error = new Error(`That is not a Tandem results file: ${problems.slice(0, 3).join('; ')}`);
    error.name = 'BenchResultsError';
    throw error;
  }
  // The same run loaded twice is shown once.
  if (!compared.some((r) => sameRun(r, results)) && !(latest && sameRun(latest, results))) compared.push(results);
  render();
}

window.tandemBench = {
  run,
  load,
  get state() {
    return state;
  },
  get results() {
    return latest;
  },
};

start.addEventListener('click', () => {
  const mode = (document.querySelector('input[name="mode"]:checked') as HTMLInputElement).value;
  run({ quick: mode === 'quick' }).catch(() => {}); // shown in the banner
});

download.addEventListener('click', () => {
  if (!latest) return;
  const blob = new Blob([`${JSON.stringify(latest, null, 2)}\n`], { type: 'application/json' });
  const link = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(blob),
    download: `tandem-bench-${latest.date.slice(0, 19).replace(/:/g, '-')}.json`,
  });
  link.click();
  URL.revokeObjectURL(link.href);
});

// A full run published with the project (bench/README.md), to compare this machine against.
byId<HTMLButtonElement>('compare-h100').addEventListener('click', (event) => {
  load(h100 as unknown as BenchResults);
  (event.target as HTMLButtonElement).disabled = true;
});

byId<HTMLInputElement>('load').addEventListener('change', async (event) => {
  const input = event.target as HTMLInputElement;
  for (const file of input.files ?? []) {
    try {
      load(JSON.parse(await file.text()));
    } catch (error) {
      const reason = error instanceof SyntaxError ? new Error(`${file.name} is not JSON: ${error.message}`) : error;
      showBanner(reason as Error);
    }
  }
  input.value = '';
});

async function init(): Promise<void> {
  const panel = document.getElementById('gpu') as HTMLElement;
  try {
    const device = await requestGpu(navigator.gpu);
    gpu = device.info;
    showGpu(panel, gpu);
    device.destroy(); // the worker opens its own
    setState('idle', 'Ready to run.');
    start.disabled = false;
  } catch (error) {
    showNoGpu(panel, error as Error);
    setState('error', 'WebGPU is not available in this browser.');
    showBanner(error as Error);
  }
}

void init();
