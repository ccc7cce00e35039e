/** Opening the app in headless Chromium for the end-to-end tests, with or without WebGPU. */

import { type Browser, chromium, type Page } from 'playwright-core';
import { expect, inject } from 'vitest';
import { chromiumArgs } from './chromium-args';

export async function launchBrowser(options: { webgpu: boolean }): Promise<Browser> {
  return chromium.launch({ executablePath: inject('chromiumPath'), args: chromiumArgs(options.webgpu) });
}

/** Opens `path` of the served app; page errors are collected so a test can assert there were none. */
export async function openApp(browser: Browser, path = '/'): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(new URL(path, inject('appUrl')).href);
  return { page, errors };
}

/** Waits until the chat page has loaded its models. */
export function modelsReady(page: Page): Promise<void> {
  return page.locator('[data-testid="model-status"][data-state="ready"]').waitFor({ timeout: 120_000 });
}

/** Opens the chat page and waits until its models are loaded. */
export async function openReadyApp(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const opened = await openApp(browser);
  await modelsReady(opened.page);
  return opened;
}

/** Sends `message` in the chat page and waits for its reply to end: its state and its text. */
export async function askInChat(page: Page, message: string): Promise<{ state: string | null; reply: string }> {
  const replies = page.getByTestId('message-assistant');
  const before = await replies.count();
  await page.getByTestId('input').fill(message);
  await page.getByTestId('send').click();
  const reply = replies.nth(before);
  await expect.poll(() => reply.getAttribute('data-state'), { timeout: 120_000 }).not.toBe('streaming');
  return {
    state: await reply.getAttribute('data-state'),
    reply: (await reply.getByTestId('reply-text').textContent()) ?? '',
  };
}

/** Sets the chat page's settings that are given. */
export async function chatSettings(
  page: Page,
  values: { temperature?: string; maxTokens?: string; system?: string; speculative?: boolean },
): Promise<void> {
  if (values.temperature !== undefined) await page.getByTestId('temperature').fill(values.temperature);
  if (values.maxTokens !== undefined) await page.getByTestId('max-tokens').fill(values.maxTokens);
  if (values.system !== undefined) await page.getByTestId('system-prompt').fill(values.system);
  if (values.speculative !== undefined) await page.getByTestId('speculative').setChecked(values.speculative);
}
