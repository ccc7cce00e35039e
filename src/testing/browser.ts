/** Opening the app in headless Chromium for the end-to-end tests, with or without WebGPU. */

import { type Browser, chromium, type Page } from 'playwright-core';
import { inject } from 'vitest';
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
