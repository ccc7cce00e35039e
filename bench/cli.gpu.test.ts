/**
 * `npm run bench -- --quick --json FILE` on the real adapter writes results with every
 * documented field: the same schema the page's quick run is checked against.
 */

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from './cli';
import { checkResults } from './schema';

describe('bench CLI', () => {
  it('writes the documented JSON for a quick run', { timeout: 900_000 }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tandem-bench-')), 'out.json');
    const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await main(['--quick', '--json', file])).toBe(0);
    } finally {
      quiet.mockRestore();
    }
    const results = JSON.parse(readFileSync(file, 'utf8'));
    expect(checkResults(results)).toEqual([]);
    expect(results.environment).toMatch(/^node v/);
    expect(results.quick).toBe(true);
  });
});
