/**
 * The embeddable script as a host would use it: `npm run build`'s output on a plain static
 * server, and public/embed-demo.html, a page with its own (loud) styles and only the script
 * tag. The launcher appears, opens, warms, answers; the host page's styles are untouched; a
 * lost GPU stops the chat with its reason and reopening starts it again; and without WebGPU
 * the chat says why it is unavailable.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../testing/browser';
import { type ModelHub, serveModelHub } from '../testing/model-hub';
import { serveStatic } from '../testing/static-server';

let outDir: string;
let server: Server;
let demoUrl: string;
let byIdUrl: string;
let hub: ModelHub;
let siteUrl: string;
const HELP_DESK = `You are the help desk of a children's library. ${'Every story has a name, an animal, a place and a friend. '.repeat(10)}`;
const browsers: Browser[] = [];
const MODELS = resolve(import.meta.dirname, '../../public/models');

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'tandem-embed-'));
  for (const mode of ['production', 'embed']) {
    await build({ configFile: 'vite.config.ts', mode, logLevel: 'warn', build: { outDir, emptyOutDir: false } });
  }
  const served = await serveStatic(outDir);
  server = served.server;
  demoUrl = `${served.url}embed-demo.html`;
  // A host page naming its model by catalogue id, from a catalogue of its own on a model hub.
  hub = await serveModelHub({
    'tandem/Tandem-Target-q4f16_1-MLC': join(MODELS, 'tandem-target-q4f16_1-MLC'),
    'tandem/Tandem-Draft-q4f16_1-MLC': join(MODELS, 'tandem-draft-q4f16_1-MLC'),
  });
  writeFileSync(
    join(outDir, 'embed-by-id.html'),
    `<!doctype html><title>By id</title><script type="module" src="tandem-embed.js"
      data-target="Tandem-Target-q4f16_1-MLC" data-draft="Tandem-Draft-q4f16_1-MLC"
      data-app-config="${hub.appConfigUrl}" data-system-prompt="You are a storyteller."
      data-temperature="0" data-max-tokens="48" data-draft-length="3" data-draft-tree="2"></script>`,
  );
  byIdUrl = `${served.url}embed-by-id.html`;
  writeFileSync(
    join(outDir, 'embed-bad-setting.html'),
    `<!doctype html><title>Bad setting</title><script type="module" src="tandem-embed.js"
      data-target="models/tandem-target" data-draft="models/tandem-draft" data-draft-length="many"></script>`,
  );
  // Two pages of one site with the same help-desk prompt: the second reads it from disk.
  for (const page of ['help-a', 'help-b']) {
    writeFileSync(
      join(outDir, `${page}.html`),
      `<!doctype html><title>${page}</title><script type="module" src="tandem-embed.js"
        data-target="models/tandem-target" data-draft="models/tandem-draft"
        data-system-prompt="${HELP_DESK}"></script>`,
    );
  }
  siteUrl = served.url;
}, 180_000);

afterAll(async () => {
  await Promise.all(browsers.map((b) => b.close()));
  server?.close();
  await hub?.close();
  rmSync(outDir, { recursive: true, force: true });
});

async function open(webgpu: boolean, url = demoUrl): Promise<{ page: Page; errors: string[] }> {
  const browser = await launchBrowser({ webgpu });
  browsers.push(browser);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  return { page, errors };
}

/** The computed styles of the host page's own elements, and its style sheets. */
const hostStyles = (page: Page) =>
  page.evaluate(() => {
    const pick = (selector: string) => {
      const s = getComputedStyle(document.querySelector(selector) as Element);
      return { color: s.color, background: s.backgroundColor, font: s.fontFamily, margin: s.margin };
    };
    return {
      body: pick('body'),
      text: pick('[data-testid="host-text"]'),
      button: pick('[data-testid="host-button"]'),
      sheets: document.styleSheets.length,
    };
  });

describe('embeddable script', () => {
  it('opens, answers with its figures, and leaves the host page as it was', async () => {
    const { page, errors } = await open(true);
    const before = await hostStyles(page);
    const launcher = page.getByTestId('tandem-launcher');
    await launcher.waitFor({ timeout: 30_000 });
    expect(await launcher.textContent()).toContain('Ask our storyteller');
    // Inside the shadow root the host's `button { background: red }` does not apply.
    expect(await launcher.evaluate((b) => getComputedStyle(b).backgroundColor)).not.toBe('rgb(255, 0, 0)');

    await page.evaluate(() => {
      (window as unknown as { replies: string[] }).replies = [];
      window.tandemEmbed?.onReply((reply) => (window as unknown as { replies: string[] }).replies.push(reply.text));
    });
    await launcher.click();
    await expect.poll(() => page.getByTestId('tandem-input').isEnabled(), { timeout: 120_000 }).toBe(true);
    await page.getByTestId('tandem-input').fill('Tell me a story about a cat named Tom.');
    await page.getByTestId('tandem-send').click();
    const reply = page.getByTestId('tandem-message-assistant').last();
    await expect.poll(() => reply.getAttribute('data-state'), { timeout: 120_000 }).toBe('done');
    expect((await reply.textContent())?.length).toBeGreaterThan(10);
    expect(await page.getByTestId('tandem-figures').textContent()).toMatch(/tok\/s · acceptance [\d.]+ · TTFT \d+ ms/);
    // The system prompt was warmed on open, so the question found it cached.
    expect(await page.getByTestId('tandem-figures').textContent()).toMatch(/[1-9]\d* cached/);
    expect(await page.evaluate(() => (window as unknown as { replies: string[] }).replies.length)).toBe(1);

    // The host API: ask programmatically.
    const answer = await page.evaluate(() => window.tandemEmbed?.ask('And a story about a dog?').then((r) => r.text));
    expect(answer?.length).toBeGreaterThan(10);

    expect(await hostStyles(page)).toEqual(before);
    await page.getByTestId('tandem-close').click();
    expect(await page.getByTestId('tandem-panel').isHidden()).toBe(true);
    expect(errors).toEqual([]);
  });

  it("loads a model by its catalogue id (the site's own appConfig) with the draft and settings it names", async () => {
    const { page, errors } = await open(true, byIdUrl);
    await page.getByTestId('tandem-launcher').click();
    await expect.poll(() => page.getByTestId('tandem-input').isEnabled(), { timeout: 120_000 }).toBe(true);
    const answer = await page.evaluate(() => window.tandemEmbed?.ask('Tell me a story about a fox.').then((r) => r));
    expect(answer?.text.length).toBeGreaterThan(10);
    expect(answer?.usage?.completion_tokens).toBeLessThanOrEqual(48); // data-max-tokens
    const spec = answer?.usage?.spec;
    expect(spec?.draft).toBe('model');
    // data-draft-length="3": at most 3 drafts a step (a tree's leaves are not counted as drafts).
    expect(spec?.per_position.length).toBeLessThanOrEqual(3);
    expect(spec?.drafted).toBeLessThanOrEqual(3 * (spec?.steps ?? 0));
    expect(errors).toEqual([]);
  });

  it('stops with the reason when a data attribute is not a setting', async () => {
    const { page } = await open(true, `${siteUrl}embed-bad-setting.html`);
    await page.getByTestId('tandem-launcher').click();
    const status = page.getByTestId('tandem-status');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('error');
    expect(await status.textContent()).toMatch(/could not start: draft length "many"/);
    expect(await page.getByTestId('tandem-input').isEnabled()).toBe(false);
  });

  it('says the chat stopped when its GPU is lost, and answers again, conversation kept, once reopened', async () => {
    const { page, errors } = await open(true);
    const ask = async (text: string) => {
      await page.getByTestId('tandem-input').fill(text);
      await page.getByTestId('tandem-send').click();
      const reply = page.getByTestId('tandem-message-assistant').last();
      await expect.poll(() => reply.getAttribute('data-state'), { timeout: 120_000 }).not.toBe('streaming');
      return reply.getAttribute('data-state');
    };
    const ready = () => expect.poll(() => page.getByTestId('tandem-input').isEnabled(), { timeout: 120_000 });
    await page.getByTestId('tandem-launcher').click();
    await ready().toBe(true);
    expect(await ask('Tell me a story about a cat named Tom.')).toBe('done');
    // The browser's GPU process ends, as a driver reset would end it: the worker's device is lost.
    const cdp = await (browsers.at(-1) as Browser).newBrowserCDPSession();
    await cdp.send('Browser.crashGpuProcess');
    expect(await ask('And a story about a dog?')).toBe('error');
    const status = page.getByTestId('tandem-status');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('error');
    expect(await status.textContent()).toMatch(/chat stopped: The GPU device was lost.*open it again/);
    await ready().toBe(false);
    await page.getByTestId('tandem-close').click();
    await page.getByTestId('tandem-launcher').click();
    await ready().toBe(true);
    expect(await ask('And a story about a dog?')).toBe('done');
    expect(await page.getByTestId('tandem-message-user').count()).toBe(3);
    expect(errors).toEqual([]);
  });

  it('reads the system prompt another page of the site warmed from disk', async () => {
    const browser = await launchBrowser({ webgpu: true });
    browsers.push(browser);
    const page = await browser.newPage(); // one context: the site's private file system is shared
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const stored = () =>
      page.evaluate(async () => {
        const root = await navigator.storage.getDirectory();
        const folder = await root.getDirectoryHandle('tandem-prefixes', { create: true });
        const names: string[] = [];
        for await (const name of (folder as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
        return names.filter((n) => n.endsWith('.json')).length;
      });
    const openChat = async () => {
      await page.getByTestId('tandem-launcher').click();
      await expect.poll(() => page.getByTestId('tandem-input').isEnabled(), { timeout: 120_000 }).toBe(true);
    };

    await page.goto(`${siteUrl}help-a.html`);
    await openChat(); // warms the system prompt, which is stored
    await expect.poll(stored, { timeout: 60_000 }).toBe(1);

    await page.goto(`${siteUrl}help-b.html`);
    await openChat();
    const answer = await page.evaluate(() => window.tandemEmbed?.ask('Tell me a story about a fox.'));
    expect(answer?.text.length).toBeGreaterThan(10);
    expect(answer?.usage?.prompt_tokens_details.cache_source).toBe('disk');
    expect(answer?.usage?.prompt_tokens_details.disk_tokens).toBeGreaterThan(100);
    expect(errors).toEqual([]);
  });

  it('explains why the chat is unavailable without WebGPU', async () => {
    const { page } = await open(false);
    await page.getByTestId('tandem-launcher').click();
    const status = page.getByTestId('tandem-status');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('unavailable');
    expect(await status.textContent()).toMatch(/unavailable here.*WebGPU/);
    expect(await page.getByTestId('tandem-input').isDisabled()).toBe(true);
  });
});
