/**
 * The page's side of the worker boundary when the worker is gone: a worker that runs out of
 * memory is ended without a word, and every call to it would wait forever. `failure()` says so
 * after its time limit instead, so the page can offer to load the models again.
 */

import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import { WorkerEngine } from './worker-client';
import type { LoadedInfo } from './worker-host';

describe('WorkerEngine.failure', () => {
  it('names a worker that does not answer as failed, after its time limit', async () => {
    const channel = new MessageChannel(); // nothing listens on port1: a worker that is gone
    const engine = new WorkerEngine(Comlink.wrap(channel.port2), {} as LoadedInfo);
    const started = performance.now();
    const failure = await engine.failure(200);
    expect(failure?.name).toBe('EngineUnresponsiveError');
    expect(failure?.message).toMatch(/stopped answering.*Reload/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    channel.port1.close();
    channel.port2.close();
  });
});
