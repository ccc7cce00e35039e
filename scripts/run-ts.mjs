#!/usr/bin/env node
/**
 * Runs a TypeScript entry point of this project in Node through Vite's module runner, so the
 * same sources (including `.wgsl?raw` imports) serve the browser, the tests and the CLI.
 * The entry exports `main(args)`, which returns the exit code.
 *
 *   node scripts/run-ts.mjs src/cli/main.ts [args...]
 */

import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createServer, createServerModuleRunner } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export async function runTs(entry, args) {
  process.env.XDG_RUNTIME_DIR ??= '/tmp'; // Dawn's Vulkan loader warns without it
  const server = await createServer({
    root,
    configFile: resolve(root, 'vite.config.ts'),
    logLevel: 'error',
    server: { middlewareMode: true, hmr: false, ws: false },
    appType: 'custom',
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
  let code = 1;
  try {
    const module = await runner.import(resolve(root, entry));
    code = (await module.main(args)) ?? 0;
  } catch (error) {
    console.error(error);
  } finally {
    await server.close();
  }
  // Dawn keeps the process alive while a GPU instance exists: exit explicitly.
  process.exit(code);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [entry, ...args] = process.argv.slice(2);
  await runTs(entry, args);
}
