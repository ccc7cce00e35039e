/**
 * The benchmark CLI on the real adapter. `--suite` runs the suites named and writes only those.
 * `--invariance` finds every split of a prompt identical to the whole, on both kernel profiles,
 * and writes what it found after each model. `--profile` times each step and kernel, and the
 * profile's choices the other way. (The suites of a quick
 * run are the page's, and bench/bench.e2e.test.ts checks their results against the schema.)
 *
 * The draft fixture stands in for the target (`--target`, and `--draft` the same folder: one
 * model, checked once): these check the CLI's passes, checks and files, which are the same for
 * any model, and the draft's cost a fifth of the target's on a software adapter. The GPU model
 * tests check each fixture's bits themselves.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { kernelProfile } from '../src/kernels/profile';
import { FIXTURES, fixturePath, loadFixture } from '../src/testing/fixtures';
import { testGpu } from '../src/testing/gpu';
import { main } from './cli';
import type { InvarianceResults } from './invariance';
import { alternatives, describeChange, type ProfileResults } from './profile';
import type { BenchResults } from './run';

const DRAFT_DIR = fixturePath(FIXTURES.draft);

describe('bench CLI', () => {
  it('says what is wrong with an option, with its usage', async () => {
    let said = '';
    const progress = vi.spyOn(console, 'error').mockImplementation((line: string) => {
      said += line;
    });
    try {
      expect(await main(['--quick', '--bogus'])).toBe(2);
      expect(said).toMatch(/^bench: Unknown option '--bogus'.*\n\nUsage: npm run bench/s);
      said = '';
      expect(await main(['--invariance', '--long', 'many'])).toBe(2);
      expect(said).toMatch(/^bench: --long: many is not a number of tokens\n/);
      said = '';
      expect(await main(['--profile', '--context', '0'])).toBe(2);
      expect(said).toMatch(/^bench: --context: a step needs a context of at least 1 token\n/);
      said = '';
      expect(await main(['--suite', 'kernels,speed'])).toBe(2);
      expect(said).toMatch(/^bench: --suite: speed is not a suite \(kernels, model, decode, ttft, memory, shapes\)\n/);
    } finally {
      progress.mockRestore();
    }
  });

  it('runs only the suites it is asked for, and writes those', { timeout: 300_000 }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tandem-bench-')), 'kernels.json');
    const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
    const lines: string[] = [];
    const progress = vi.spyOn(console, 'error').mockImplementation((line: string) => lines.push(line));
    try {
      expect(await main(['--quick', '--suite', 'kernels', '--json', file])).toBe(0);
    } finally {
      quiet.mockRestore();
      progress.mockRestore();
    }
    expect(lines[0]).toMatch(/^\[\d+ s\] bench on .* \(quick: kernels\)$/);
    const results = JSON.parse(readFileSync(file, 'utf8')) as Partial<BenchResults>;
    expect(Object.keys(results)).toEqual(['schema', 'date', 'quick', 'environment', 'device', 'kernels']);
    expect(results.kernels?.linear.map((l) => l.dtype)).toEqual(['F32', 'F16', 'Q4F16', 'Q4F32']);
    expect(results.kernels?.copy_gb_s).toBeGreaterThan(0);
    // Attention: the quick run's one context, and on a GPU its heads grouped beside (a CPU
    // adapter's serial kernel has no other way).
    const attention = results.kernels?.attention ?? [];
    const serial = kernelProfile((await testGpu()).info).serialAttention;
    expect(attention.map((a) => [a.shape, a.heads, a.kv, a.context, a.tokens, a.variant])).toEqual(
      ['profile', ...(serial ? [] : ['heads grouped'])].map((variant) => [
        'Llama-3.2-1B',
        '32/8x64',
        'f16',
        1024,
        1,
        variant,
      ]),
    );
    expect(attention.every((a) => a.ms > 0 && a.step_ms > a.ms)).toBe(true);
  });

  it('profiles the fixtures step by step after the context asked for, kernel by kernel, with its profile timed the other way', {
    timeout: 900_000,
  }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tandem-bench-')), 'profile.json');
    const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
    const progress = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const args = ['--profile', '--context', '40', '--shape', 'none', '--target', DRAFT_DIR, '--draft', DRAFT_DIR];
      args.push('--json', file);
      expect(await main(args)).toBe(0);
    } finally {
      quiet.mockRestore();
      progress.mockRestore();
    }
    const results = JSON.parse(readFileSync(file, 'utf8')) as ProfileResults;
    expect(results.models.map((m) => m.name)).toEqual(['fixture target', 'fixture target q4f16_1']);
    const gpu = await testGpu();
    const { headDim } = (await loadFixture(FIXTURES.draft)).config;
    for (const model of results.models) {
      expect(model.context_tokens).toBe(40);
      expect(model.steps.map((s) => s.tokens)).toEqual([1, 5, 64]);
      for (const step of model.steps) {
        expect(step.wall_ms).toBeGreaterThan(0);
        expect(step.kernels.length).toBeGreaterThan(3);
        const asked = alternatives(kernelProfile(gpu.info), step.tokens, headDim);
        expect(step.alternatives.map((a) => a.change)).toEqual(asked.map(describeChange));
      }
    }
  });

  it('checks batch invariance on the fixtures, writing the file after each model', { timeout: 900_000 }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tandem-bench-')), 'invariance.json');
    const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
    // What the file holds when the second model's first line is logged: the first model's checks.
    let writtenBefore: InvarianceResults | undefined;
    const lines: string[] = [];
    const progress = vi.spyOn(console, 'error').mockImplementation((line: string) => {
      lines.push(line);
      if (!writtenBefore && line.includes('fixture target q4f16_1'))
        writtenBefore = JSON.parse(readFileSync(file, 'utf8'));
    });
    try {
      // A "long" prompt of 20 tokens: the long check's passes and comparisons, not its length
      // (a prefill of 512 tokens on the GPU profile takes SwiftShader about a minute).
      const args = ['--invariance', '--shape', 'none', '--long', '20', '--target', DRAFT_DIR, '--draft', DRAFT_DIR];
      args.push('--json', file);
      expect(await main(args)).toBe(0);
    } finally {
      quiet.mockRestore();
      progress.mockRestore();
    }
    expect(writtenBefore?.checks.map((c) => c.model)).toEqual(Array(4).fill('fixture target'));
    expect(lines.every((line) => /^\[\d+ s\] /.test(line))).toBe(true); // seconds since the start
    const results = JSON.parse(readFileSync(file, 'utf8')) as InvarianceResults;
    expect(results.identical).toBe(true);
    const checked = results.checks.map((c) => `${c.model} ${c.profile} ${c.splits.length}`);
    expect(checked).toEqual([
      'fixture target GPU 3',
      'fixture target CPU 3',
      'fixture target GPU, split attention 2',
      'fixture target GPU, long prompt 3',
      'fixture target q4f16_1 GPU 3',
      'fixture target q4f16_1 CPU 3',
      'fixture target q4f16_1 GPU, split attention 2',
      'fixture target q4f16_1 GPU, long prompt 3',
    ]);
  });
});
