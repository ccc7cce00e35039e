#!/usr/bin/env node
import { dirname, resolve } from 'node:path';
// Runs a TypeScript entry point of this project in Node through Vite's module runner, so that
// the same sources (including `.wgsl?raw` imports) serve the browser, the tests and the CLI.
// Usage: node scripts/run-ts.mjs src/cli/main.ts [args...]
import { fileURLToPath } from 'node:url';
import { createServer, createServerModuleRunner } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
const server = await createServer({
  root,
  configFile: resolve(root, 'vite.config.ts'),
  logLevel: 'error',
  server: { middlewareMode: true, hmr: false, ws: false },
  appType: 'custom',
  optimizeDeps: { noDiscovery: true, include: [] },
});
const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
const module = await runner.import(resolve(root, entry));
let code = 0;
try {
  if (typeof module.main === 'function') code = (await module.main(args)) ?? 0;
} catch (error) {
  console.error(error);
  code = 1;
} finally {
  await server.close();
}
process.exit(code);
