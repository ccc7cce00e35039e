#!/usr/bin/env node
// The `tandem` command (npx tandem ...): the CLI in src/cli/, run from source.
import { runTs } from './run-ts.mjs';

await runTs('src/cli/main.ts', process.argv.slice(2));
