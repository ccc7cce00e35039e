/**
 * web-llm's factories on the GPU, with model ids resolved through an appConfig whose repos a
 * local model hub serves: in this thread and over a message port, the same replies.
 */

import type { ChatCompletion } from '@mlc-ai/web-llm';
import { expose } from 'comlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixturePath, loadGolden } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { type ModelHub, serveModelHub } from '../testing/model-hub';
import { CreateMLCEngine, CreateWebWorkerMLCEngine } from './mlc-engine';
import { EngineHost } from './worker-host';

const TARGET = 'Tandem-Target-q4f16_1-MLC';
const DRAFT = 'Tandem-Draft-q4f16_1-MLC';

let hub: ModelHub;
let appConfig: { model_list: { model: string; model_id: string; model_lib: string }[] };
beforeAll(async () => {
  hub = await serveModelHub({
    [`tandem/${TARGET}`]: fixturePath(FIXTURES.targetQ4),
    [`tandem/${DRAFT}`]: fixturePath(FIXTURES.draftQ4),
  });
  const record = (id: string) => ({ model: `${hub.url}/tandem/${id}`, model_id: id, model_lib: '' });
  appConfig = { model_list: [record(TARGET), record(DRAFT)] };
});
afterAll(() => hub.close());

const request = {
  messages: [{ role: 'user' as const, content: loadGolden(FIXTURES.targetQ4)[1].text }],
  temperature: 0,
  max_tokens: 24,
};

describe("web-llm's factories", () => {
  it('CreateMLCEngine loads a model by id with its draft, and replies name the id', async () => {
    const progress: number[] = [];
    const engine = await CreateMLCEngine(TARGET, {
      appConfig,
      draftModel: DRAFT,
      gpu: await testGpu(),
      initProgressCallback: (report) => progress.push(report.progress),
    });
    try {
      expect(progress.at(-1)).toBe(1);
      const reply = (await engine.chat.completions.create(request)) as ChatCompletion;
      expect(reply.model).toBe(TARGET);
      expect(reply.usage).toMatchObject({ spec: { draft: 'model' } });
      expect(reply.choices[0].message.content?.length).toBeGreaterThan(10);

      // Over a message port, as CreateWebWorkerMLCEngine runs in a Worker: the same reply.
      const channel = new MessageChannel();
      expose(new EngineHost(testGpu), channel.port1);
      const remote = await CreateWebWorkerMLCEngine(channel.port2, TARGET, { appConfig, draftModel: 'none' });
      try {
        const again = (await remote.chat.completions.create(request)) as ChatCompletion;
        expect(again.choices[0].message.content).toBe(reply.choices[0].message.content);
        expect(again.model).toBe(TARGET);
      } finally {
        await remote.unload();
        channel.port1.close();
        channel.port2.close();
      }
    } finally {
      await engine.unload();
    }
  });

  it('refuses an id its catalogue does not have, by name', async () => {
    const error = await CreateMLCEngine('No-Such-Model-q4f16_1-MLC', { appConfig, gpu: await testGpu() }).catch(
      (e: Error) => e,
    );
    expect((error as Error).name).toBe('ModelNotFoundError');
  });
});
