/** The WebAssembly tokenizer library's first loads, started together (target and draft at once). */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FIXTURES, fixturePath } from '../testing/fixtures';
import { loadWasmTokenizer } from './wasm';

it('loads several tokenizers at once, as the first loads of the library', async () => {
  const bytes = (name: string) => new Uint8Array(readFileSync(join(fixturePath(name), 'tokenizer.json'))).buffer;
  const tokenizers = await Promise.all(
    [FIXTURES.target, FIXTURES.draft, FIXTURES.qwen3].map((n) => loadWasmTokenizer(bytes(n))),
  );
  const ids = tokenizers.map((t) => Array.from(t.encode('Once upon a time')));
  expect(ids[1]).toEqual(ids[0]);
  expect(ids[2]).toEqual(ids[0]);
  for (const t of tokenizers) t.dispose();
});
