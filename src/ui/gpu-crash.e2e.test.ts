/**
 * The chat page when the GPU fails under it, in headless Chromium: the browser's GPU process is
 * crashed through the DevTools protocol (Browser.crashGpuProcess), as a driver reset or a GPU
 * process killed for memory would end it, and every device in the page's worker is lost. The
 * next request fails with GPUDeviceLostError, the page offers to reload the models, and after
 * the reload the conversation goes on. A request that fails on its own (a prompt longer than
 * the context) offers no reload: the engine is still serving.
 */

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askInChat, chatSettings, launchBrowser, modelsReady, openApp } from '../testing/browser';

let browser: Browser;
let page: Page;
let errors: string[];
beforeAll(async () => {
  browser = await launchBrowser({ webgpu: true });
  ({ page, errors } = await openApp(browser, '/?context=160'));
  await modelsReady(page);
}, 180_000);
afterAll(() => browser.close());

const banner = () => page.getByTestId('banner');

describe('chat page when the GPU fails', () => {
  it('offers no reload for a request that fails on its own: the engine goes on serving', async () => {
    await chatSettings(page, { temperature: '0', maxTokens: '8' });
    const tooLong = await askInChat(page, 'Tell me a story about a fox. '.repeat(40));
    expect(tooLong.state).toBe('failed');
    await expect.poll(() => banner().getAttribute('data-error')).toBe('ContextWindowSizeExceededError');
    // The engine is asked whether it has failed; give its answer time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await banner().getByRole('button').count()).toBe(0);
    expect((await askInChat(page, 'Tell me a story about a cat.')).state).toBe('truncated');
  });

  it('offers to reload the models once the device is lost, and goes on with the conversation after', async () => {
    await page.getByTestId('new-chat').click();
    const first = await askInChat(page, 'Tell me a story about a brave fox named Leo.');
    expect(first.state).toBe('truncated');
    const cdp = await browser.newBrowserCDPSession();
    await cdp.send('Browser.crashGpuProcess');
    const lost = await askInChat(page, 'And a story about a cat named Tom?');
    expect(lost.state).toBe('failed');
    await expect.poll(() => banner().getAttribute('data-error')).toBe('GPUDeviceLostError');
    const reload = banner().getByRole('button', { name: 'Reload the model' });
    await reload.waitFor({ timeout: 30_000 });
    await reload.click();
    await modelsReady(page);
    const after = await askInChat(page, 'And a story about a cat named Tom?');
    expect(after.state).toBe('truncated');
    expect(after.reply.length).toBeGreaterThan(0);
    // The conversation stayed: the first exchange is on screen and in the next request's prompt.
    expect(await page.getByTestId('message-user').first().textContent()).toMatch(/Leo/);
    expect(Number(await page.getByTestId('prompt-tokens').textContent())).toBeGreaterThan(30);
    expect(errors).toEqual([]);
  });
});
