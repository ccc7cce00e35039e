/** The page shows the adapter Chromium gives it, and explains itself when there is no WebGPU. */

import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launchBrowser, openApp } from '../testing/browser';

describe('GPU panel', () => {
  const browsers: Browser[] = [];
  afterAll(async () => {
    await Promise.all(browsers.map((browser) => browser.close()));
  });

  it('shows the adapter when WebGPU is on', async () => {
    const browser = await launchBrowser({ webgpu: true });
    browsers.push(browser);
    const { page, errors } = await openApp(browser);
    const status = page.getByTestId('gpu-status');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('ready');
    const vendor = await page.getByTestId('gpu-vendor').textContent();
    const architecture = await page.getByTestId('gpu-architecture').textContent();
    console.info(`e2e adapter: ${vendor} / ${architecture}`);
    expect(vendor?.length).toBeGreaterThan(0);
    expect(
      Number.parseInt((await page.getByTestId('gpu-limit-maxComputeWorkgroupSizeX').textContent()) ?? '', 10),
    ).toBeGreaterThanOrEqual(256);
    expect(errors).toEqual([]);
  });

  it('explains how to get WebGPU when it is off', async () => {
    const browser = await launchBrowser({ webgpu: false });
    browsers.push(browser);
    const { page } = await openApp(browser);
    const status = page.getByTestId('gpu-status');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('unavailable');
    expect(await status.getAttribute('data-error')).toBe('WebGPUUnavailableError');
    expect(await status.textContent()).toMatch(/enable-unsafe-webgpu|Chrome/);
  });
});
