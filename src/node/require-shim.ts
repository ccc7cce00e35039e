/**
 * @mlc-ai/web-tokenizers is a bundle written for browsers and CommonJS: when it sees Node it
 * calls `require` and reads `__filename`, which Node's ES modules do not have. Node entry
 * points (the CLI, tests) import this module before it. The wasm is embedded in the bundle,
 * so the path given is only used as a base for `createRequire`.
 */

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const global = globalThis as { require?: NodeJS.Require; __filename?: string };
global.require ??= createRequire(import.meta.url);
global.__filename ??= fileURLToPath(import.meta.url);
