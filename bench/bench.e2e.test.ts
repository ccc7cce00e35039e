/**
 * The benchmark page in Chromium on a real WebGPU adapter: a quick run through
 * `window.tandemBench` runs in a worker while the page stays responsive, gives results with
 * every documented field and sane values, the report shows them (medians with their spread, a
 * log scale where values span decades, what each figure means), and results load back for
 * comparison, once each and removable (while a file that is not one is refused).
 */

import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launchBrowser, openApp } from '../src/testing/browser';
import type { BenchResults } from './run';
import { checkResults } from './schema';

describe('benchmark page', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('runs the quick suite and reports it', { timeout: 1_200_000 }, async () => {
    browser = await launchBrowser({ webgpu: true });
    const { page, errors } = await openApp(browser, '/bench/');
    await expect.poll(() => page.getByTestId('start').isEnabled(), { timeout: 60_000 }).toBe(true);

    // The page's main thread is watched while the run goes: a timer that fires late means a frozen tab.
    await page.evaluate(() => {
      const w = window as unknown as { lag: number };
      w.lag = 0;
      let last = performance.now();
      setInterval(() => {
        const now = performance.now();
        w.lag = Math.max(w.lag, now - last - 50);
        last = now;
      }, 50);
    });
    const results = (await page.evaluate(() => window.tandemBench.run({ quick: true }))) as BenchResults;
    const lag = await page.evaluate(() => (window as unknown as { lag: number }).lag);
    console.info(`bench page: the main thread's longest stall during the run was ${Math.round(lag)} ms`);
    expect(lag).toBeLessThan(1000);
    console.info(`bench page quick run: ${JSON.stringify(results.decode.runs.map((r) => r.speedup))} speed-ups`);
    expect(checkResults(results)).toEqual([]);
    expect(results.quick).toBe(true);
    expect(results.environment).toMatch(/Chrome/);
    expect(await page.evaluate(() => window.tandemBench.state)).toBe('done');

    // Sane values beyond their types: the headline and the predictions are there.
    expect(results.decode.runs.length).toBeGreaterThanOrEqual(4);
    for (const run of results.decode.runs) {
      expect(run.spec_tok_s).toBeGreaterThan(0);
      expect(run.acceptance_rate).toBeGreaterThanOrEqual(0);
      expect(run.acceptance_rate).toBeLessThanOrEqual(1);
      // The GPU's busy time in a step (this adapter has timestamp queries): some, and no more
      // than the step's wall time (the browser rounds timestamps to 0.1 ms).
      expect(run.gpu_ms).toBeGreaterThan(0);
      expect(run.gpu_ms).toBeLessThanOrEqual(run.step_ms * 1.1);
      expect(run.plain_gpu_ms).toBeGreaterThan(0);
    }
    expect(results.decode.acceptance_rate).toBeGreaterThan(0.3); // the fixture pair agrees often
    // JSON mode, in this page's worker: xgrammar loaded there, and the draft model drafting under
    // the schema (a draft that ignored it would be rejected at almost every position; the few
    // steps between the forced runs accept a quarter to a third of their drafts).
    const json = results.decode.runs.filter((r) => r.constrained);
    expect(json.map((r) => [r.draft, r.draft_length, r.temperature])).toEqual([['model', 'auto', 0]]);
    expect(json[0].acceptance_rate).toBeGreaterThan(0.2);
    // The EAGLE-3 head's step: the embedding, its layer (the two input norms in one dispatch), the
    // final norm, the LM head over its draft vocabulary and the argmax (one dispatch over its 512
    // tokens, a slice of the vocabulary).
    expect(results.decode.eagle?.head_dispatches_per_step).toBe(11);
    // The Qwen3.5 fixture drafting with its own MTP layer (PyTorch: 3.13 tokens a pass at k = 3;
    // its first draft accepted 86% of the time at k = 1). Tokens a pass follow the lengths 'auto'
    // chose from this machine's timings; the first draft's acceptance does not.
    const mtpRuns = results.decode.runs.filter((r) => r.draft === 'mtp');
    expect(mtpRuns.length).toBe(1);
    expect(mtpRuns[0].per_position[0]).toBeGreaterThan(0.6);
    expect(results.decode.mtp?.mean_accepted_length).toBeGreaterThan(1.6);
    expect(results.ttft.warm_ms).toBeLessThan(results.ttft.cold_ms);
    // The page's prefix store is the origin's private file system: the prefix came from there.
    expect(results.ttft.restored_ms).toBeLessThan(results.ttft.cold_ms);
    expect(results.ttft.shape.restored_ms).toBeLessThan(results.ttft.shape.cold_ms);
    expect(results.shapes.pairs[0].target).toBe('SmolLM2-360M');
    expect(results.shapes.pairs[0].predicted.map((p) => p.acceptance)).toEqual([0.6, 0.7, 0.8]);
    expect(results.memory.prefix_cache.entries).toBeGreaterThan(0);

    // The report: summary, the four charts, the tables; download now offered.
    await expect.poll(() => page.getByTestId('bench-summary').isVisible()).toBe(true);
    for (const chart of ['chart-tok-s', 'chart-speedup', 'chart-verify', 'chart-ttft']) {
      expect(await page.getByTestId(chart).locator('svg rect, svg polyline').count()).toBeGreaterThan(0);
    }
    expect(await page.getByTestId('bench-predicted').textContent()).toMatch(/Predicted, not measured/);
    expect(await page.getByTestId('chart-ttft').locator('svg').getAttribute('data-scale')).toBe('log');
    expect(await page.getByTestId('chart-tok-s').locator('svg line.whisker').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('bench-summary').textContent()).toMatch(/[\d.]+x \(plain [\d.]+–[\d.]+ tok\/s\)/);
    expect(await page.getByTestId('bench-glossary').textContent()).toMatch(/Share of copy.*typed-ahead/is);
    for (const run of results.decode.runs) {
      expect(run.plain_tok_s_range[0]).toBeLessThanOrEqual(run.plain_tok_s);
      expect(run.plain_tok_s_range[1]).toBeGreaterThanOrEqual(run.plain_tok_s);
    }
    expect(await page.getByTestId('download').isEnabled()).toBe(true);

    // Loading results back adds a column to compare, once however often it is loaded, removable;
    // a file that is not results is refused.
    const older = { ...results, date: '2020-01-01T00:00:00.000Z' };
    await page.evaluate((r) => window.tandemBench.load(r), older);
    await page.evaluate((r) => window.tandemBench.load(r), older);
    await page.evaluate((r) => window.tandemBench.load(r), results); // this run itself: shown already
    expect(await page.getByTestId('bench-summary').locator('thead th').count()).toBe(3);
    await page.getByTestId('compare-h100').click(); // the published run, bundled with the page
    expect(await page.getByTestId('bench-summary').locator('thead th').count()).toBe(4);
    expect(await page.getByTestId('bench-summary').locator('thead').textContent()).toMatch(/nvidia-h100/);
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: 'docs/bench.png', fullPage: true }); // shown in the README
    await page.getByRole('button', { name: /Remove .*nvidia-h100/i }).click();
    expect(await page.getByTestId('bench-summary').locator('thead th').count()).toBe(3);
    expect(await page.getByTestId('compare-h100').isEnabled()).toBe(true);
    await page.getByTestId('load').setInputFiles({
      name: 'other.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify({ schema: 1 })),
    });
    await expect.poll(() => page.getByTestId('banner').getAttribute('data-error')).toBe('BenchResultsError');
    expect(errors).toEqual([]);
  });
});
