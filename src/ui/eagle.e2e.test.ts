/**
 * The chat page drafting with an EAGLE head: the address names the head as the draft (its
 * config.json says what it is: EAGLE-3 by its architecture, EAGLE-1 as a one-layer Llama config
 * in a folder without a tokenizer, which the page finds missing over HTTP), the page loads it
 * beside the target, and a greedy reply is the one plain decoding gives, with the head's drafts
 * accepted, drafting a chain or a tree (the Draft tree setting).
 */

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askInChat, chatSettings, launchBrowser, modelsReady, openApp } from '../testing/browser';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser({ webgpu: true });
});
afterAll(() => browser.close());

describe('an EAGLE head in the chat page', () => {
  it.each([
    ['EAGLE-3', 'models/tandem-target-eagle3'],
    ['EAGLE-1', 'models/tandem-target-eagle1'],
  ])(
    '%s: loads as the draft and drafts a reply equal to plain decoding, as a chain, a tree and a wider tree',
    async (_, draft) => {
      const query = new URLSearchParams({ model: 'models/tandem-target', draft });
      const { page, errors } = await openApp(browser, `/?${query}`);
      await modelsReady(page);
      await chatSettings(page, { temperature: '0', maxTokens: '32' });
      const question = 'Tell me a story about a shy owl named Nora.';
      const drafted = await askInChat(page, question);
      const acceptance = Number(await page.getByTestId('acceptance-rate').textContent());
      expect(acceptance).toBeGreaterThan(0.5);

      await page.getByTestId('draft-tree').selectOption('2');
      await page.getByTestId('new-chat').click();
      const tree = await askInChat(page, question);
      // A wider tree: the top three candidates at the first two depths.
      await page.getByTestId('draft-tree').selectOption('2x2');
      await page.getByTestId('new-chat').click();
      const wide = await askInChat(page, question);

      await page.getByTestId('speculative').uncheck();
      await page.getByTestId('new-chat').click();
      const plain = await askInChat(page, question);
      expect(drafted.reply).toBe(plain.reply);
      expect(tree.reply).toBe(plain.reply);
      expect(wide.reply).toBe(plain.reply);
      expect(errors).toEqual([]);
    },
  );
});
