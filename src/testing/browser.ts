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

/** Opens the chat page and waits until its models are loaded. */
export async function openReadyApp(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const opened = await openApp(browser);
  await opened.page.locator('[data-testid="model-status"][data-state="ready"]').waitFor({ timeout: 120_000 });
  return opened;
}
