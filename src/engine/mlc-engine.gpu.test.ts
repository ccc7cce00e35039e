/**
 * web-llm's factories on the GPU, with model ids resolved through an appConfig whose repos a
 * local model hub serves: in this thread and over a message port, the same replies; and the
 * engine they return has web-llm's methods (reload, runtimeStatsText, getMessage, ...).
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
  it('CreateMLCEngine loads a model by id with its draft, reloads another on the same device, refuses once unloaded', async () => {
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
      // Another model of the catalogue, on the same GPU device.
      const { gpu } = engine.engine;
      await engine.reload(DRAFT);
      expect(engine.modelId).toBe(DRAFT);
      expect(engine.engine.gpu).toBe(gpu);
      expect(((await engine.chat.completions.create(request)) as ChatCompletion).model).toBe(DRAFT);
      // An id the catalogue lacks is refused with the model still loaded.
      const unknown = await engine.reload('No-Such-Model-q4f16_1-MLC').catch((e: Error) => e);
      expect((unknown as Error).name).toBe('ModelNotFoundError');
      expect(((await engine.chat.completions.create(request)) as ChatCompletion).model).toBe(DRAFT);
      // Unloaded, it refuses requests by name, and its GPU stays usable.
      await engine.unload();
      const refused = await engine.chat.completions.create(request).catch((e: Error) => e);
      expect((refused as Error).name).toBe('ModelNotLoadedError');
      expect(gpu.failure).toBeUndefined();
    } finally {
      await engine.unload();
    }
  });

  it("has web-llm's engine methods: stats, the last message, interrupt, reset, and reload to another model", async () => {
    const channel = new MessageChannel();
    expose(new EngineHost(testGpu), channel.port1);
    const engine = await CreateWebWorkerMLCEngine(channel.port2, TARGET, { appConfig, draftModel: DRAFT });
    try {
      expect(await engine.runtimeStatsText()).toBe(''); // nothing generated yet
      let streamed = '';
      for await (const chunk of await engine.chatCompletion({ ...request, stream: true })) {
        streamed += chunk.choices[0]?.delta.content ?? '';
      }
      expect(streamed.length).toBeGreaterThan(10);
      expect(await engine.getMessage()).toBe(streamed);
      expect(await engine.runtimeStatsText()).toMatch(
        /^prefill: \d+\.\d{4} tokens\/sec, decoding: \d+\.\d{4} tokens\/sec, acceptance: [\d.]+, tokens per target pass: [\d.]+$/,
      );
      // Several choices, through the worker: the last message is the last choice's, as in web-llm.
      const choices = (await engine.chatCompletion({ ...request, n: 2, temperature: 1, seed: 3 })) as ChatCompletion;
      expect(choices.choices).toHaveLength(2);
      expect(await engine.getMessage()).toBe(choices.choices[1].message.content);
      expect(await engine.runtimeStatsText()).toMatch(/^prefill: /);
      await engine.resetChat();
      expect(await engine.getMessage()).toBe('');
      expect(await engine.getGPUVendor()).toBe((await testGpu()).info.vendor);
      expect(await engine.getMaxStorageBufferBindingSize()).toBeGreaterThan(0);

      // Interrupted part way, as a Stop button would.
      const stream = await engine.chatCompletion({ ...request, max_tokens: 200, stream: true });
      let finish: string | null = null;
      let chunks = 0;
      for await (const chunk of stream) {
        if (++chunks === 3) engine.interruptGenerate();
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(finish).toBe('abort');

      // Another model of the catalogue in the same worker, with the progress callback set since.
      const progress: number[] = [];
      engine.setInitProgressCallback((report) => progress.push(report.progress));
      await engine.reload(DRAFT);
      expect(progress.at(-1)).toBe(1);
      expect(engine.modelId).toBe(DRAFT);
      const reply = (await engine.chat.completions.create(request)) as ChatCompletion;
      expect(reply.model).toBe(DRAFT);
      expect(await engine.getMessage()).toBe(reply.choices[0].message.content);
    } finally {
      await engine.unload();
      channel.port1.close();
      channel.port2.close();
    }
  });

  it('refuses an id its catalogue does not have, by name', async () => {
    const error = await CreateMLCEngine('No-Such-Model-q4f16_1-MLC', { appConfig, gpu: await testGpu() }).catch(
      (e: Error) => e,
    );
    expect((error as Error).name).toBe('ModelNotFoundError');
  });
});
