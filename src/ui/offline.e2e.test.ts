/**
 * Offline use in Chromium: after one visit the app reloads and chats with the network off (the
 * service worker keeps the app, the model store keeps the models, listed in the page). The
 * store never hands out a damaged file and keeps nothing of an interrupted download.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askInChat, chatSettings, launchBrowser, modelsReady, openReadyApp } from '../testing/browser';

const DRAFT = resolve(import.meta.dirname, '../../public/models/tandem-draft');

let browser: Browser;
let page: Page;
let errors: string[];
beforeAll(async () => {
  browser = await launchBrowser({ webgpu: true });
  ({ page, errors } = await openReadyApp(browser));
});
afterAll(() => browser.close());

describe('offline', () => {
  it('lists the models kept in browser storage', async () => {
    const stored = page.getByTestId('stored-model');
    await expect.poll(() => stored.count(), { timeout: 30_000 }).toBe(2);
    expect(await page.getByTestId('stored-models').textContent()).toMatch(/tandem-target · 5\.\d MB/);
  });

  it('reloads and chats with the network off', async () => {
    await page.context().setOffline(true);
    try {
      await page.reload();
      await modelsReady(page);
      await chatSettings(page, { temperature: '0', maxTokens: '24' });
      const { state, reply } = await askInChat(page, 'Tell me a story about a cat named Tom.');
      expect(state).toMatch(/^(done|truncated)$/);
      expect(reply.length).toBeGreaterThan(10);
    } finally {
      await page.context().setOffline(false);
    }
    expect(errors).toEqual([]);
  });

  it('replaces a damaged stored file and stores nothing of an interrupted download', async () => {
    // A download that stops short: the server promised more bytes than it sends.
    await page.route('**/models/partial/**', (route) =>
      route.request().url().endsWith('/model.safetensors')
        ? route.fulfill({ status: 200, headers: { 'content-length': '100000' }, body: 'truncated' })
        : route.fulfill({ status: 404, body: 'not found' }),
    );
    // A string, so that the test runner leaves the page's dynamic imports alone.
    const outcome = await page.evaluate(`(async () => {
      const store = await import('/src/loader/model-store.ts');
      const { loadConfig } = await import('/src/loader/model-folder.ts');
      const { loadWeights } = await import('/src/loader/weights.ts');
      const url = new URL('/models/tandem-draft/config.json', location.href).href;
      const cache = await caches.open(store.MODEL_CACHE);
      const good = await (await cache.match(url)).text();
      // Damage the stored copy but keep its record of size and checksum: the read must notice.
      await cache.put(url, new Response(good.slice(0, -2) + '!}'));
      const read = new TextDecoder().decode(await store.storedSource('/models/tandem-draft').read('config.json'));
      const restored = await (await cache.match(url)).text();

      const config = await loadConfig(store.storedSource('/models/tandem-draft'));
      const partial = new URL('/models/partial/model.safetensors', location.href).href;
      const failure = await loadWeights(store.storedSource('/models/partial'), config).then(
        () => 'loaded',
        (error) => error.name,
      );
      const kept = (await cache.keys()).some((request) => request.url.startsWith(partial));
      return { same: read === good, restored: restored === good, failure, kept };
    })()`);
    expect(outcome).toMatchObject({ same: true, restored: true, kept: false });
    // Cut off mid-file: a named error, whether the browser ends the body early or fails it.
    expect(['SafetensorsFormatError', 'ModelFileMissingError']).toContain((outcome as { failure: string }).failure);
  });

  it("keeps model files out of the app's shell cache, wherever they are served from", async () => {
    // The draft fixture served from a folder outside /models/.
    await page.route('**/elsewhere/draft/**', (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop() as string;
      const path = join(DRAFT, file);
      return existsSync(path)
        ? route.fulfill({ status: 200, body: readFileSync(path) })
        : route.fulfill({ status: 404, body: 'not found' });
    });
    const outcome = await page.evaluate(`(async () => {
      const store = await import('/src/loader/model-store.ts');
      const { loadModelFolder } = await import('/src/loader/model-folder.ts');
      const folder = await loadModelFolder(store.storedSource('/elsewhere/draft'));
      folder.tokenizer.dispose();
      navigator.serviceWorker.controller.postMessage({ type: 'cache', urls: ['https://example.com/evil.js'] });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const kept = [];
      for (const name of await caches.keys()) {
        if (name === store.MODEL_CACHE) continue; // every cache but the model store's is the shell's
        kept.push(...(await (await caches.open(name)).keys()).map((request) => request.url));
      }
      const stored = (await store.listStoredModels()).map((model) => model.folder);
      return { kept, stored };
    })()`);
    const { kept, stored } = outcome as { kept: string[]; stored: string[] };
    expect(kept.length).toBeGreaterThan(3); // the app itself
    const modelFile =
      /\/(model\.safetensors|tokenizer\.json|tokenizer_config\.json|config\.json)$|elsewhere|example\.com/;
    expect(kept.filter((url) => modelFile.test(url))).toEqual([]);
    expect(stored.some((folder) => folder.endsWith('/elsewhere/draft/'))).toBe(true);
  });

  it('deletes a stored model from the panel', async () => {
    await page.reload();
    await modelsReady(page);
    const before = await page.getByTestId('stored-model').count();
    await page
      .getByTestId('stored-model')
      .filter({ hasText: 'tandem-draft' })
      .first()
      .getByTestId('delete-model')
      .click();
    await expect.poll(() => page.getByTestId('stored-model').count()).toBe(before - 1);
  });
});
