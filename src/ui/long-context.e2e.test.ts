/**
 * A long system prompt in the chat page: a knowledge base of LONG_PROMPT_TOKENS tokens pasted
 * in (a pair given a context past its window of 2,048 by the address, `&context=`),
 * warmed chunk by chunk with its progress shown, then read from the cache by the first
 * question; and Stop during such a warm ends it within a chunk.
 *
 * 20,000 tokens by default, a knowledge base of a realistic size; TANDEM_LONG_PROMPT_TOKENS sets
 * another size (6000 for a quicker run). The draft fixture is both models of the pair here: what
 * is checked is the page's warm, its progress, the cache and Stop, the same for any pair, and
 * attention over the growing prefix, most of a warm's time on a CPU adapter (SwiftShader,
 * 2 cores), costs the target fixture six times the draft's (its 6 layers of 4 heads to 2 of 2).
 * The long-context kernels' bits are checked in the GPU tests.
 */

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askInChat, chatSettings, launchBrowser, modelsReady, openApp } from '../testing/browser';

let browser: Browser;
let page: Page;
let errors: string[];
let knowledge: string;
/** The tokens of the first warm's prompt, as the page counted them. */
let warmedTokens = 0;
const LONG_PROMPT_TOKENS = Number(process.env.TANDEM_LONG_PROMPT_TOKENS ?? 20_000);
beforeAll(async () => {
  browser = await launchBrowser({ webgpu: true });
  const context = String(2 ** Math.ceil(Math.log2(LONG_PROMPT_TOKENS + 2048)));
  const query = new URLSearchParams({ model: 'models/tandem-draft', draft: 'models/tandem-draft', context });
  ({ page, errors } = await openApp(browser, `/?${query}`));
  await modelsReady(page);
  // A knowledge base of LONG_PROMPT_TOKENS tokens or a little more (about 19 a fact for the
  // fixtures' tokenizer; the page's progress says how many exactly).
  const facts = (i: number) => `Fact ${i}: the fox named Leo ${i % 2 ? 'lives by the river' : 'likes red apples'}. `;
  knowledge = Array.from({ length: Math.ceil(LONG_PROMPT_TOKENS / 18.5) }, (_, i) => facts(i)).join('');
}, 300_000);
afterAll(() => browser.close());

const warming = () => page.getByTestId('warming');
const progress = async () => {
  if (await warming().isHidden()) return undefined;
  const match = /^Reading the prompt: (\d+) of (\d+) tokens…$/.exec((await warming().textContent()) ?? '');
  return match ? { done: Number(match[1]), total: Number(match[2]) } : undefined;
};

describe(`a system prompt of ${LONG_PROMPT_TOKENS} tokens`, () => {
  it('is warmed with its progress shown, and the first question reads it from the cache', async () => {
    expect(await page.getByTestId('model-status').textContent()).toContain('tandem-draft');
    await chatSettings(page, { temperature: '0', maxTokens: '16', system: knowledge });
    await expect
      .poll(async () => (await progress())?.total ?? 0, { timeout: 120_000 })
      .toBeGreaterThan(LONG_PROMPT_TOKENS);
    const { total } = (await progress()) as { total: number };
    warmedTokens = total;
    const warmStarted = Date.now();
    await expect.poll(() => warming().isHidden(), { timeout: 2_400_000, interval: 1000 }).toBe(true);
    console.log(`a ${total}-token system prompt warmed in ${Date.now() - warmStarted} ms`);

    const started = Date.now();
    const { state } = await askInChat(page, 'Where does Leo live?');
    console.log(`first question after a ${total}-token warm: answered in ${Date.now() - started} ms`);
    expect(state).toMatch(/^(done|truncated)$/);
    expect(Number(await page.getByTestId('cache-read-tokens').textContent())).toBeGreaterThan(LONG_PROMPT_TOKENS);
    expect(errors).toEqual([]);
  }, 3_000_000);

  it('stops warming within a chunk when asked, keeping what it read', async () => {
    await page.getByTestId('new-chat').click();
    await expect.poll(() => warming().isHidden(), { timeout: 120_000 }).toBe(true); // the cached prompt, again
    // Another knowledge base: nothing of it is cached, so it is read from the start. It is longer
    // than the first, so its progress is told from a late one of the cached prompt's.
    await chatSettings(page, { system: `Today is Monday. ${knowledge}` });
    await expect.poll(async () => (await progress())?.total ?? 0, { timeout: 120_000 }).toBeGreaterThan(warmedTokens);
    const read = (await progress())?.done ?? 0;
    expect(read).toBeLessThan(LONG_PROMPT_TOKENS / 2); // a fresh read, well before its end
    const stopAt = Date.now();
    await page.getByTestId('stop').click();
    await expect.poll(() => warming().isHidden(), { timeout: 60_000 }).toBe(true);
    const took = Date.now() - stopAt;
    console.log(`Stop during a long warm (at ${read} tokens): ended after ${took} ms`);
    expect(took).toBeLessThan(15_000);
    expect(await page.getByTestId('stop').isDisabled()).toBe(true);
    expect(errors).toEqual([]);
  }, 300_000);
});
