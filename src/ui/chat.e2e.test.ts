/**
 * The chat page in headless Chromium with WebGPU (SwiftShader): the engine in a real Web
 * Worker, streamed replies with live figures, the prefix cache across messages, speculation
 * changing nothing in a greedy reply, and the stop button.
 */

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askInChat, chatSettings, launchBrowser, openReadyApp } from '../testing/browser';

let browser: Browser;
let page: Page;
let errors: string[];
beforeAll(async () => {
  browser = await launchBrowser({ webgpu: true });
  ({ page, errors } = await openReadyApp(browser));
});
afterAll(() => browser.close());

const number = async (id: string) => Number(await page.getByTestId(id).textContent());

const ask = (text: string) => askInChat(page, text);

const settle = (values: Parameters<typeof chatSettings>[1]) => chatSettings(page, values);

describe('chat page', () => {
  it('streams a reply and shows its speed and acceptance', async () => {
    await settle({ temperature: '0', maxTokens: '48', speculative: true });
    const { reply, state } = await ask('Tell me a story about a brave fox named Leo.');
    expect(state).toMatch(/^(done|truncated)$/); // finished, or cut off at max tokens
    expect(reply).toMatch(/Leo/);
    expect(await number('tok-s')).toBeGreaterThan(0);
    expect(await number('acceptance-rate')).toBeGreaterThan(0);
    expect(await number('mean-draft-length')).toBeGreaterThanOrEqual(1); // the default draft length is 'auto'
    expect(await number('prompt-tokens')).toBeGreaterThan(10);
    expect(errors).toEqual([]);
  });

  it('reads the system prompt from the cache on the next message, with a lower time to first token', async () => {
    await page.getByTestId('new-chat').click();
    // A new, longer system prompt, sent at once (before the page can warm it): a cold request.
    const rules = 'Every story has a name, an animal, a place and a friend, and it ends well. ';
    await page
      .getByTestId('system-prompt')
      .fill(`You are a kind teacher who tells simple stories. ${rules.repeat(12)}`);
    await ask('Tell me a story about a cat named Tom.');
    expect(await number('cache-read-tokens')).toBeLessThan(10);
    const coldTtft = await number('ttft-ms');
    await page.getByTestId('new-chat').click();
    await ask('Tell me a story about a dog named Ben.');
    expect(await number('cache-read-tokens')).toBeGreaterThan(10);
    expect(await number('ttft-ms')).toBeLessThan(coldTtft);
  });

  it('gives the same greedy reply with speculative decoding on and off', async () => {
    await page.getByTestId('new-chat').click();
    await settle({ speculative: true });
    const on = await ask('Please write a short story about a bear called Max.');
    await page.getByTestId('new-chat').click();
    await settle({ speculative: false });
    const off = await ask('Please write a short story about a bear called Max.');
    expect(on.reply.length).toBeGreaterThan(20);
    expect(off.reply).toBe(on.reply);
    await settle({ speculative: true });
  });

  it('stops a reply with the stop button and stays usable', async () => {
    await page.getByTestId('new-chat').click();
    await settle({ maxTokens: '400', temperature: '0.7' });
    const replies = page.getByTestId('message-assistant');
    await page.getByTestId('input').fill('Tell me a story about a shy owl named Nora.');
    await page.getByTestId('send').click();
    const reply = replies.last();
    await expect.poll(async () => ((await reply.textContent()) ?? '').length, { timeout: 60_000 }).toBeGreaterThan(0);
    await page.getByTestId('stop').click();
    await expect.poll(() => reply.getAttribute('data-state'), { timeout: 60_000 }).toBe('stopped');
    await settle({ maxTokens: '16', temperature: '0' });
    const next = await ask('Tell me a story about a frog named Finn.');
    expect(next.state).toMatch(/^(done|truncated)$/);
    expect(errors).toEqual([]);
  });
});
