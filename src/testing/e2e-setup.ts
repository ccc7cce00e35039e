/**
 * Global setup of the end-to-end project: finds (or installs) Chromium and serves the app with
 * Vite on 127.0.0.1 (WebGPU needs a secure context: localhost, never file://). Test files get
 * both through `inject('chromiumPath')` and `inject('appUrl')`.
 */

import { createServer } from 'vite';
import type { TestProject } from 'vitest/node';
import { ensureSystemDeps } from '../../scripts/system-deps.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    chromiumPath: string;
    appUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const chromiumPath = ensureSystemDeps();
  const server = await createServer({
    configFile: 'vite.config.ts',
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    logLevel: 'warn',
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('Vite did not report its address');
  project.provide('chromiumPath', chromiumPath);
  project.provide('appUrl', `http://127.0.0.1:${address.port}/`);
  console.info(`e2e: Chromium ${chromiumPath}, app on http://127.0.0.1:${address.port}/`);
  return async () => {
    await server.close();
  };
}
