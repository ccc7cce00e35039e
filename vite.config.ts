/**
 * One config for the app (Vite), the embeddable script (`vite build --mode embed`) and the
 * tests (Vitest). The tests come in three projects,
 * split by what they need:
 *   unit  - plain TypeScript, no GPU            (*.test.ts)
 *   gpu   - a real WebGPU adapter through Dawn   (*.gpu.test.ts)
 *   e2e   - the app in headless Chromium         (*.e2e.test.ts)
 * GPU and browser work is heavy on a 2-core machine, so those projects run files one at a time:
 * SwiftShader's threads keep every core busy, and two processes beside each other took several
 * times as long each.
 */

import { defineConfig } from 'vitest/config';

const skipGpu = process.env.TANDEM_SKIP_GPU === '1';
if (skipGpu) console.warn('TANDEM_SKIP_GPU=1: the GPU and end-to-end tests are left out.');

/**
 * tandem-embed.js: one ES module for host pages, written next to the app in dist/. Its engine
 * worker and shared chunks go to dist/assets/ and are found relative to the script
 * (`base: './'`), so the files work from any folder of any static host. Loaded only when the
 * chat first opens, the worker costs a host page nothing until then.
 */
const embed = defineConfig({
  base: './',
  publicDir: false,
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    emptyOutDir: false,
    rolldownOptions: {
      input: { embed: 'src/embed/embed.ts' },
      preserveEntrySignatures: 'exports-only',
      output: { entryFileNames: 'tandem-embed.js', chunkFileNames: 'assets/embed-[name]-[hash].js' },
    },
  },
});

const app = defineConfig({
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // Two pages: the chat (/) and the benchmark (/bench/).
    rolldownOptions: { input: { chat: 'index.html', bench: 'bench/index.html' } },
  },
  test: {
    passWithNoTests: skipGpu,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // Every core: Vitest's default leaves one idle, half of a 2-core machine.
          maxWorkers: '100%',
          setupFiles: ['src/node/require-shim.ts'],
          testTimeout: 30_000, // reference-model tests take seconds on a busy 2-core machine
          include: ['src/**/*.test.ts', 'bench/**/*.test.ts', 'worker/**/*.test.ts'],
          exclude: ['**/*.gpu.test.ts', '**/*.e2e.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'gpu',
          setupFiles: ['src/node/require-shim.ts', 'src/testing/gpu-test-setup.ts'],
          include: skipGpu ? [] : ['src/**/*.gpu.test.ts', 'bench/**/*.gpu.test.ts'],
          globalSetup: ['src/testing/gpu-setup.ts'],
          pool: 'forks',
          fileParallelism: false,
          // The files share one process, so one device (src/testing/gpu.ts) and the pipelines
          // it has compiled: SwiftShader takes seconds to compile a model's shaders, which
          // most files would otherwise compile again.
          isolate: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: skipGpu ? [] : ['src/**/*.e2e.test.ts', 'bench/**/*.e2e.test.ts'],
          globalSetup: ['src/testing/e2e-setup.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});

export default defineConfig(({ mode }) => (mode === 'embed' ? embed : app));
