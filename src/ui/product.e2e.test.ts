/**
 * The chat page as a product, in headless Chromium with WebGPU (SwiftShader): it fits phones
 * to desktops, every control has a name, settings are checked against their limits and apply
 * only where they mean something, figures say "–" until known, replies render as sanitised
 * markdown and say how they ended, Esc and Stop end even a long prompt's prefill, the
 * conversation and the theme outlive a reload, a failed model load keeps the model in use, and
 * the grammar library of `response_format` runs in the page.
 */

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askInChat, chatSettings, launchBrowser, modelsReady, openReadyApp } from '../testing/browser';

let browser: Browser;
let page: Page;
let errors: string[];
beforeAll(async () => {
  browser = await launchBrowser({ webgpu: true });
  ({ page, errors } = await openReadyApp(browser));
});
afterAll(() => browser.close());

const text = async (id: string) => (await page.getByTestId(id).textContent()) ?? '';
const replies = () => page.getByTestId('message-assistant');

/** Sends `message` and waits for its reply to end; its state and text. */
const ask = (message: string) => askInChat(page, message);

const settings = (values: Parameters<typeof chatSettings>[1]) => chatSettings(page, values);

describe('chat page as a product', () => {
  it('fits 360 to 1440 px wide with no horizontal scroll, Send on screen and no figure cut', async () => {
    for (const width of [360, 390, 768, 1280, 1440]) {
      await page.setViewportSize({ width, height: 800 });
      const layout = await page.evaluate(() => {
        const send = document.querySelector('[data-testid="send"]') as HTMLElement;
        const box = send.getBoundingClientRect();
        const cut = [...document.querySelectorAll('dd, .stored li, .status')].filter(
          (e) => e.scrollWidth > e.clientWidth + 1,
        );
        return {
          scroll: document.documentElement.scrollWidth,
          inner: window.innerWidth,
          sendRight: box.right,
          cut: cut.map((e) => e.textContent),
        };
      });
      expect(layout.scroll, `${width} px`).toBeLessThanOrEqual(layout.inner);
      expect(layout.sendRight, `${width} px`).toBeLessThanOrEqual(layout.inner);
      expect(layout.cut, `${width} px`).toEqual([]);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('names every control, and says what each Delete deletes', async () => {
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('button, input, textarea, select, progress')]
        .filter((e) => {
          const labelled = (e as HTMLInputElement).labels?.length || e.getAttribute('aria-label');
          return !labelled && !(e.textContent ?? '').trim();
        })
        .map((e) => e.outerHTML.slice(0, 80)),
    );
    expect(unnamed).toEqual([]);
    await expect.poll(() => page.getByTestId('delete-model').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await page.getByRole('button', { name: 'Delete', exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Delete the stored model tandem-target$/ }).count()).toBe(1);
  });

  it('checks settings against their limits, and offers draft settings only where they apply', async () => {
    await settings({ temperature: '5' });
    expect(await text('temperature-error')).toMatch(/from 0 to 2/);
    expect(await page.getByTestId('temperature').getAttribute('aria-invalid')).toBe('true');
    const before = await replies().count();
    await page.getByTestId('input').fill('Tell me a story.');
    await page.getByTestId('send').click();
    await expect.poll(() => page.getByTestId('banner').getAttribute('data-error')).toBe('InvalidSettingsError');
    expect(await replies().count()).toBe(before); // not sent
    await settings({ temperature: '0' });
    expect(await page.getByTestId('temperature-error').isHidden()).toBe(true);

    await page.getByTestId('speculative').setChecked(false);
    expect(await page.getByTestId('draft-source').isDisabled()).toBe(true);
    expect(await page.getByTestId('draft-length').isDisabled()).toBe(true);
    expect(await page.getByTestId('draft-tree').isDisabled()).toBe(true);
    await page.getByTestId('speculative').setChecked(true);
    expect(await page.getByTestId('draft-tree').isEnabled()).toBe(true);
    expect(await page.getByTestId('draft-source').isEnabled()).toBe(true);
    expect(await page.getByTestId('draft-source').inputValue()).toBe('model'); // a draft model is loaded

    // A banner goes when what it was about is resolved: here, by a new chat.
    await page.getByTestId('new-chat').click();
    expect(await page.getByTestId('banner').isHidden()).toBe(true);
  });

  it('shows "–" until a figure is known, resets figures when a request starts, and says a reply was cut off', async () => {
    await settings({ maxTokens: '1' });
    const cut = await ask('Tell me a story about a brave fox named Leo.');
    expect(cut.state).toBe('truncated');
    expect(await replies().last().locator('.note').textContent()).toMatch(/Cut off/);
    expect(await text('tok-s')).toBe('–'); // one token: no speed
    expect(Number(await text('ttft-ms'))).toBeGreaterThan(0);
    expect(await replies().last().getByTestId('message-figures').textContent()).toMatch(/TTFT \d+ ms · \d+ cached/);

    await settings({ maxTokens: '32' });
    await page.getByTestId('input').fill('Tell me a story about a cat named Tom.');
    await page.getByTestId('send').click();
    expect(await text('prompt-tokens')).toBe('–'); // the last reply's figures are gone
    await expect.poll(() => replies().last().getAttribute('data-state'), { timeout: 120_000 }).not.toBe('streaming');
    expect(Number(await text('prompt-tokens'))).toBeGreaterThan(10);
  });

  it("holds a reply to a JSON schema in the browser: xgrammar's WebAssembly loads when first asked for", async () => {
    const held = await page.evaluate(`(async () => {
      const store = await import('/src/loader/model-store.ts');
      const { TextTokenizer } = await import('/src/tokenizer/tokenizer.ts');
      const { ResponseGrammars } = await import('/src/sampling/grammar.ts');
      const { maskRows } = await import('/src/sampling/token-mask.ts');
      const tokenizer = await TextTokenizer.load(store.storedSource('/models/tandem-draft'));
      const vocabSize = tokenizer.vocabSize;
      const stop = tokenizer.tokenId('<|endoftext|>');
      const grammars = new ResponseGrammars(() => ({
        table: tokenizer.tokenTable(), spelling: tokenizer.spelling, vocabSize, stopTokens: [stop],
      }));
      const schema = JSON.stringify({ type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] });
      const takes = async (text) => {
        const constraint = await grammars.constraint({ type: 'json_object', schema });
        for (const id of tokenizer.encode(text)) {
          const row = maskRows(new Float32Array(vocabSize), await constraint.allowed(), vocabSize);
          if (row[id] !== 0 || !constraint.accept(id)) return false;
        }
        const row = maskRows(new Float32Array(vocabSize), await constraint.allowed(), vocabSize);
        return row.filter((x) => x === 0).length === 1 && row[stop] === 0; // only the stop token is left
      };
      const result = { number: await takes('{"age": 42}'), text: await takes('{"age": "42"}') };
      grammars.dispose();
      tokenizer.dispose();
      return result;
    })()`);
    expect(held).toEqual({ number: true, text: false });
  });

  it('renders replies as markdown, sanitised: no HTML from a reply, a prompt or a message runs', async () => {
    // A string, not a function: the module is imported by the page, from the app's server.
    const rendered = await page.evaluate(`(async () => {
      const { renderMarkdown } = await import('/src/ui/markdown.ts');
      const box = document.createElement('div');
      document.body.append(box);
      renderMarkdown(box, '**bold** <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>\\n\\n\`\`\`js\\nlet x = 1;\\n\`\`\`');
      await new Promise((r) => setTimeout(r, 300));
      const result = {
        strong: box.querySelector('strong')?.textContent,
        handlers: [...box.querySelectorAll('*')].filter((e) => e.getAttribute('onerror')).length,
        scripts: box.querySelectorAll('script').length,
        code: box.querySelector('pre code')?.textContent,
        copy: box.querySelectorAll('pre [data-testid="copy-code"]').length,
        pwned: window.pwned,
      };
      box.remove();
      return result;
    })()`);
    expect(rendered).toEqual({
      strong: 'bold',
      handlers: 0,
      scripts: 0,
      code: 'let x = 1;\n',
      copy: 1,
      pwned: undefined,
    });

    const hostile = '<img src=x onerror="window.pwned=3">';
    await page.getByTestId('new-chat').click();
    await settings({ system: `You are a storyteller. ${hostile}`, maxTokens: '24' });
    await ask(hostile);
    expect(await page.getByTestId('message-user').last().textContent()).toBe(hostile);
    expect(await page.locator('[data-testid="messages"] img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await replies().last().getByTestId('copy-reply').getAttribute('aria-label')).toBe('Copy this reply');
  });

  it("stops a long prompt's prefill within a chunk, with Esc", async () => {
    await page.getByTestId('new-chat').click();
    const rules = 'Every story has a name, an animal, a place and a friend, and it ends well. ';
    // Over 1,000 tokens, sent at once: a cold prefill of several chunks.
    await settings({ system: `You are a kind teacher. ${rules.repeat(40)}`, maxTokens: '32' });
    await page.getByTestId('input').fill('Tell me a story about an owl.');
    await page.getByTestId('send').click();
    const reply = replies().last();
    // How far the prompt has been read shows in the reply until its first words.
    await expect
      .poll(() => reply.getByTestId('prefill-progress').textContent(), { timeout: 30_000 })
      .toMatch(/^Reading the prompt: \d+ of \d{4} tokens…$/);
    const stopAt = Date.now();
    await page.keyboard.press('Escape');
    await expect.poll(() => reply.getAttribute('data-state'), { timeout: 60_000 }).not.toBe('streaming');
    expect(await reply.locator('.note').textContent()).toBe('Stopped.');
    const took = Date.now() - stopAt;
    console.log(`Esc during a ${await text('prompt-tokens')}-token prefill: stopped after ${took} ms`);
    expect(took).toBeLessThan(5000);
    expect(await reply.getByTestId('reply-text').textContent()).toBe('');
    expect(await reply.getByTestId('prefill-progress').count()).toBe(0);
    expect(Number(await text('prompt-tokens'))).toBeGreaterThan(1000);
    expect(await text('ttft-ms')).toBe('–'); // no token came
  });

  it('keeps the conversation and the theme across a reload, lists past ones, and starts a new chat during a reply', async () => {
    await page.getByTestId('new-chat').click();
    await settings({ maxTokens: '24', system: 'You are a friendly storyteller.' });
    const { reply } = await ask('Tell me a story about a dog named Ben.');
    await page.getByTestId('theme').click();
    const theme = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.reload();
    await modelsReady(page);
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
    expect(await page.getByTestId('message-user').last().textContent()).toBe('Tell me a story about a dog named Ben.');
    expect(await replies().last().getByTestId('reply-text').textContent()).toBe(reply);
    await expect.poll(() => page.getByTestId('conversation').count()).toBeGreaterThan(2);

    await settings({ maxTokens: '400', temperature: '0.7' });
    await page.getByTestId('input').fill('Tell me a long story about a shy owl named Nora.');
    await page.getByTestId('send').click();
    await expect
      .poll(async () => ((await replies().last().textContent()) ?? '').length, { timeout: 60_000 })
      .toBeGreaterThan(0);
    await page.getByTestId('new-chat').click();
    await expect.poll(() => page.getByTestId('message-assistant').count(), { timeout: 60_000 }).toBe(0);
    expect(await page.getByTestId('send').isEnabled()).toBe(true);
    await settings({ maxTokens: '24', temperature: '0' });
  });

  it('keeps the model in use when loading another fails, and resolves folders relative to the page', async () => {
    await page.locator('summary', { hasText: 'Models' }).click();
    await page.getByTestId('target-url').fill('models/does-not-exist');
    await page.getByTestId('reload').click();
    await expect
      .poll(() => page.getByTestId('models-banner').getAttribute('data-error'), { timeout: 60_000 })
      .toBe('ModelFileMissingError');
    expect(await text('models-banner')).toMatch(/not found/); // in the Models panel, beside what failed
    expect(await page.getByTestId('banner').isHidden()).toBe(true);
    expect(await text('model-status')).toMatch(/Still using tandem-target/);
    expect((await ask('Tell me a story about a frog named Finn.')).state).toMatch(/^(done|truncated)$/);

    // The picker: the catalogue with memory needs and drafts, the bundled pair first.
    const picker = page.getByTestId('model-picker');
    expect(
      await picker
        .locator('option', {
          hasText:
            /^Llama-3\.1-8B-Instruct-q4f16_1-MLC · needs [\d.]+ GB of GPU memory · draft Llama-3\.2-1B-Instruct-q4f16_1-MLC$/,
        })
        .count(),
    ).toBe(1);
    expect(await picker.locator('option[disabled]', { hasText: /Phi/ }).count()).toBeGreaterThan(0);
    await picker.selectOption('bundled');
    expect(await page.getByTestId('target-url').inputValue()).toBe('/models/tandem-target');
    await page.getByTestId('target-url').fill('models/tandem-target'); // relative, as a user types it
    await page.getByTestId('draft-url').fill('models/tandem-draft');
    await page.getByTestId('reload').click();
    await modelsReady(page);
    expect(await text('model-status')).not.toMatch(/Still using/);
    expect(await page.getByTestId('models-banner').isHidden()).toBe(true); // cleared by the successful load

    // Without a draft model, "Draft model" cannot be chosen: prompt lookup drafts instead.
    await page.getByTestId('draft-url').fill('');
    await page.getByTestId('reload').click();
    await modelsReady(page);
    expect(await page.getByTestId('draft-source').inputValue()).toBe('ngram');
    expect(await page.locator('[data-testid="draft-source"] option[value="model"]').isDisabled()).toBe(true);
    expect(errors).toEqual([]);
  });

  it('is pictured in docs/chat.png (the README shows it)', async () => {
    // The bundled pair as a first visit has it: the draft model drafting.
    await page.getByTestId('draft-url').fill('models/tandem-draft');
    await page.getByTestId('reload').click();
    await modelsReady(page);
    await page.getByTestId('draft-source').selectOption('model');
    await page.locator('summary', { hasText: 'Models' }).click(); // closed again
    await page.getByTestId('new-chat').click();
    await settings({ maxTokens: '160', temperature: '0' });
    await ask('Tell me a story about a brave fox named Leo.');
    if ((await page.getByTestId('theme').getAttribute('aria-pressed')) === 'true')
      await page.getByTestId('theme').click();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: 'docs/chat.png' });
  });
});
