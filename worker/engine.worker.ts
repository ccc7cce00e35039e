/**
 * The Web Worker that runs Tandem's engine, off the page's main thread:
 *   new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' })
 * and then createWorkerEngine(worker, options) on the page.
 */

import { expose } from 'comlink';
import { EngineHost } from '../src/engine/worker-host';

expose(new EngineHost());
