/**
 * Downloads that go wrong, in Chromium against a real HTTP host: a web page served for a JSON
 * file, weights cut short, gzip encoding, a connection dropped halfway. Each first load ends
 * as it should (a named error, or loaded), nothing bad is kept, and once the host is fixed the
 * same call loads the model, with no reload and nothing cleared by hand (a dropped download
 * resuming where it stopped); a later load then comes from the model store.
 */

import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openApp } from '../testing/browser';
import { type FlakyHost, type HostFault, serveFlakyFolder } from '../testing/flaky-host';

let browser: Browser;
let page: Page;
let host: FlakyHost;
beforeAll(async () => {
  host = await serveFlakyFolder(resolve(import.meta.dirname, '../../public/models/tandem-draft'));
  browser = await launchBrowser({ webgpu: false });
  ({ page } = await openApp(browser));
});
afterAll(async () => {
  await browser.close();
  await host.close();
});

/** Loads the host's folder at `folder` through the model store, in the page: 'loaded' or the error's name. */
function load(folder: string): Promise<string> {
  // A string, so that the test runner leaves the page's dynamic imports alone.
  return page.evaluate(`(async () => {
    const { storedSource } = await import('/src/loader/model-store.ts');
    const { loadModelFolder } = await import('/src/loader/model-folder.ts');
    return loadModelFolder(storedSource(${JSON.stringify(`${host.url}/${folder}/`)})).then(
      (model) => {
        model.tokenizer.dispose();
        return model.weights.size > 0 && model.config.vocabSize === 1024 ? 'loaded' : 'wrong';
      },
      (error) => error.name + ': ' + error.message,
    );
  })()`);
}

describe('downloads that go wrong', () => {
  it.each<[HostFault, RegExp]>([
    ['html-for-json', /^ModelFileMissingError: .*answered with a web page/],
    ['truncated', /^(SafetensorsFormatError|ModelFileMissingError): /],
    ['gzip', /^loaded$/],
    ['dropped', /^(SafetensorsFormatError|ModelFileMissingError): /],
  ])('%s: the first load ends by name, and the next loads once the host is fixed', async (fault, first) => {
    host.fault = fault;
    expect(await load(fault)).toMatch(first);
    host.fault = 'none';
    const ranges = host.ranges.length;
    expect(await load(fault)).toBe('loaded');
    // A dropped download resumes: the weights are asked for from where they stopped, not again whole.
    const resumed = host.ranges.slice(ranges);
    if (fault === 'dropped') expect(resumed).toEqual([expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    else expect(resumed).toEqual([]);
    // Now kept: served from the store even while the host is broken again.
    host.fault = fault;
    const requests = host.requests.length;
    expect(await load(fault)).toBe('loaded');
    // (Only the files this folder does not have, the shard index and a chat template of its own,
    // are asked for again: an absence is not kept.)
    const absent = (path: string) => path.endsWith('.index.json') || path.endsWith('/chat_template.jinja');
    expect(host.requests.slice(requests).filter((path) => !absent(path))).toEqual([]);
  });
});
