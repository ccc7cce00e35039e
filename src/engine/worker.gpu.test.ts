/**
 * The worker API over a MessageChannel (no Worker needed: comlink speaks to any port), with
 * the engine on the GPU in this process: streaming, errors crossing with their name, interrupt,
 * and whether the engine has failed for good (a lost device) or a request only.
 */

import type { ChatCompletion } from '@mlc-ai/web-llm';
import { expose } from 'comlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../gpu/node';
import { FIXTURES, fixturePath } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { createWorkerEngine, type WorkerEngine } from './worker-client';
import { EngineHost } from './worker-host';

let engine: WorkerEngine;
let channel: MessageChannel;
beforeAll(async () => {
  channel = new MessageChannel();
  expose(new EngineHost(testGpu), channel.port1);
  const progress: number[] = [];
  engine = await createWorkerEngine(channel.port2, {
    target: fixturePath(FIXTURES.target),
    draft: 'ngram',
    contextLength: 512,
    initProgressCallback: (report) => progress.push(report.progress),
  });
  expect(progress.at(-1)).toBe(1);
});
afterAll(async () => {
  await engine.unload();
  channel.port1.close();
  channel.port2.close();
});

const messages = [
  { role: 'system' as const, content: 'You are a friendly storyteller.' },
  { role: 'user' as const, content: 'Tell me a story about a brave fox named Leo.' },
];

describe('engine over a message port', () => {
  it('streams across the boundary the text a whole reply has', async () => {
    const whole = (await engine.chat.completions.create({
      messages,
      temperature: 0,
      max_tokens: 32,
    })) as ChatCompletion;
    let text = '';
    for await (const chunk of await engine.chat.completions.create({
      messages,
      temperature: 0,
      max_tokens: 32,
      stream: true,
    })) {
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(whole.choices[0].message.content);
    expect((await engine.lastUsage())?.cache_read_input_tokens).toBeGreaterThan(0);
  });

  it('carries the error name across, and keeps working', async () => {
    const error = await engine.chat.completions
      .create({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] })
      .catch((e: Error) => e);
    expect((error as Error).name).toBe('InvalidRequestError');
    expect(await engine.failure()).toBeUndefined();
    const reply = (await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 4 })) as ChatCompletion;
    expect(reply.choices[0].message.content?.length).toBeGreaterThan(0);
  });

  it('interrupts a stream from the other side', async () => {
    const stream = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 200, stream: true });
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      chunks++;
      if (chunks === 3) await engine.interrupt();
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('abort');
  });

  it('says the engine has failed once its device is lost, with the error its requests then raise', async () => {
    const own = await requestNodeGpu(); // a device of its own, to lose
    const lost = new MessageChannel();
    expose(new EngineHost(async () => own), lost.port1);
    const doomed = await createWorkerEngine(lost.port2, { target: fixturePath(FIXTURES.target), contextLength: 128 });
    expect(await doomed.failure()).toBeUndefined();
    own.device.destroy();
    await own.device.lost;
    const failure = await doomed.failure();
    expect(failure?.name).toBe('GPUDeviceLostError');
    const error = await doomed.chat.completions.create({ messages, max_tokens: 4 }).catch((e: Error) => e);
    expect([(error as Error).name, (error as Error).message]).toEqual([failure?.name, failure?.message]);
    lost.port1.close();
    lost.port2.close();
  });
});
