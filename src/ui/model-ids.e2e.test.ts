/**
 * The chat page loading models by their catalogue ids: the page's address names them and a
 * catalogue of the site's own (served by a local model hub, as the Hugging Face Hub serves
 * web-llm's), and the Models panel offers web-llm's ids. And a GGUF file by its URL.
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askInChat, chatSettings, launchBrowser, modelsReady, openApp } from '../testing/browser';
import { type ModelHub, serveModelHub } from '../testing/model-hub';

const MODELS = resolve(import.meta.dirname, '../../public/models');

let browser: Browser;
let hub: ModelHub;
beforeAll(async () => {
  browser = await launchBrowser({ webgpu: true });
  hub = await serveModelHub({
    'tandem/Tandem-Target-q4f16_1-MLC': resolve(MODELS, 'tandem-target-q4f16_1-MLC'),
    'tandem/Tandem-Draft-q4f16_1-MLC': resolve(MODELS, 'tandem-draft-q4f16_1-MLC'),
  });
});
afterAll(async () => {
  await browser.close();
  await hub.close();
});

describe('models by id', () => {
  it('loads the model and draft the address names, from the catalogue it names, and chats', async () => {
    const query = new URLSearchParams({
      model: 'Tandem-Target-q4f16_1-MLC',
      draft: 'Tandem-Draft-q4f16_1-MLC',
      'app-config': hub.appConfigUrl,
    });
    const { page, errors } = await openApp(browser, `/?${query}`);
    await modelsReady(page);
    expect(await page.getByTestId('model-status').textContent()).toContain('Tandem-Target-q4f16_1-MLC');
    const offered = await page
      .getByTestId('model-ids')
      .locator('option')
      .evaluateAll((o) => o.map((e) => e.getAttribute('value')));
    expect(offered).toEqual(['Tandem-Target-q4f16_1-MLC', 'Tandem-Draft-q4f16_1-MLC']);

    // The picker says what a model downloads: its shards (and its draft's, where the catalogue
    // suggests one: not for these ids), from their records.
    await page.locator('summary', { hasText: 'Models' }).click();
    await page.getByTestId('model-picker').selectOption('Tandem-Target-q4f16_1-MLC');
    const shards = (name: string) =>
      (
        JSON.parse(readFileSync(resolve(MODELS, name, 'tensor-cache.json'), 'utf8')).records as { nbytes: number }[]
      ).reduce((sum, shard) => sum + shard.nbytes, 0);
    const expected = shards('tandem-target-q4f16_1-MLC') / 2 ** 20;
    await expect
      .poll(() => page.getByTestId('model-size').textContent())
      .toBe(`Download: ${expected.toFixed(1)} MB of weights.`);
    expect(await page.getByTestId('draft-url').inputValue()).toBe('');

    await chatSettings(page, { temperature: '0', maxTokens: '24' });
    const { state, reply } = await askInChat(page, 'Tell me a story about a cat named Tom.');
    expect(state).toMatch(/^(done|truncated)$/);
    expect(reply.length).toBeGreaterThan(10);
    expect(errors).toEqual([]);
  });

  it('loads a GGUF file the address names, beside a draft folder, and chats', async () => {
    const query = new URLSearchParams({
      model: '/models/tandem-target-gguf/tandem-target-mixed.gguf',
      draft: '/models/tandem-draft',
    });
    const { page, errors } = await openApp(browser, `/?${query}`);
    await modelsReady(page);
    expect(await page.getByTestId('model-status').textContent()).toContain('tandem-target-mixed.gguf');
    await chatSettings(page, { temperature: '0', maxTokens: '24' });
    const { state, reply } = await askInChat(page, 'Tell me a story about a cat named Tom.');
    expect(state).toMatch(/^(done|truncated)$/);
    expect(reply.length).toBeGreaterThan(10);
    expect(errors).toEqual([]);
  });

  it("offers web-llm's catalogue ids, and names an unknown id in a banner", async () => {
    const { page } = await openApp(browser, '/?model=No-Such-Model-q4f16_1-MLC');
    const banner = page.getByTestId('models-banner');
    await expect.poll(() => banner.textContent(), { timeout: 60_000 }).toMatch(/ModelNotFoundError|No-Such-Model/);
    const offered = await page
      .getByTestId('model-ids')
      .locator('option')
      .evaluateAll((o) => o.map((e) => e.getAttribute('value')));
    expect(offered).toContain('Llama-3.1-8B-Instruct-q4f16_1-MLC');
    expect(offered).toContain('Phi-3.5-mini-instruct-q4f16_1-MLC');
    expect(offered).toContain('Phi-4-mini-instruct-q4f16_1-MLC');
    expect(offered).toContain('phi-2-q4f16_1-MLC');
    expect(offered).toContain('Qwen3.5-0.8B-q4f16_1-MLC');
    expect(offered).not.toContain('gemma-4-E2B-it-q4f16_1-MLC'); // an architecture not run
  });
});
