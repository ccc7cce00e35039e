import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkResults, RESULT_FIELDS } from './schema';

/** A results object with every field, each at a plausible value for its kind. */
function sample(): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  const plausible = {
    positive: 2,
    count: 0,
    fraction: 0.5,
    share: 0,
    measured: null,
    number: -1,
    string: 'x',
    boolean: true,
    object: {},
    array: [],
    k: 'auto',
  };
  for (const [path, kind] of Object.entries(RESULT_FIELDS)) {
    let node: Record<string, unknown> = root;
    const parts = path.split('.');
    parts.forEach((part, i) => {
      const key = part.replace('[]', '');
      const last = i === parts.length - 1;
      if (part.endsWith('[]')) {
        node[key] ??= [{}];
        node = (node[key] as Record<string, unknown>[])[0];
      } else if (last) node[key] = plausible[kind];
      else {
        node[key] ??= {};
        node = node[key] as Record<string, unknown>;
      }
    });
  }
  return root;
}

describe('results schema', () => {
  it.each(
    // --profile and --invariance write objects of their own.
    readdirSync(new URL('./results', import.meta.url)).filter(
      (f) => f.endsWith('.json') && !f.includes('profile') && !f.includes('invariance'),
    ),
  )('holds for the published results in bench/results/%s', (file) => {
    const results = JSON.parse(readFileSync(new URL(`./results/${file}`, import.meta.url), 'utf8'));
    expect(checkResults(results)).toEqual([]);
  });

  it('accepts a results object with every field', () => {
    expect(checkResults(sample())).toEqual([]);
  });

  it('names what is missing or out of range', () => {
    const results = sample() as { decode: { runs: Record<string, unknown>[] }; ttft: Record<string, unknown> };
    results.decode.runs.push({ ...results.decode.runs[0], acceptance_rate: 1.5 });
    delete results.ttft.warm_ms;
    results.decode.runs[0].draft_length = 0;
    results.ttft.typeahead_ratio = -0.1;
    expect(checkResults(results)).toEqual([
      'decode.runs[0].draft_length: 0 is not a draft length',
      'decode.runs[1].acceptance_rate: 1.5 is not a fraction',
      'ttft.warm_ms: missing',
      'ttft.typeahead_ratio: -0.1 is not a share',
    ]);
    expect(checkResults({ shapes: { pairs: [] } })).toContain('shapes.pairs[].target: missing');
    // A run of some suites: the others' fields are not asked for, the common ones are.
    const { ttft, ...withoutTtft } = sample() as Record<string, unknown>;
    expect(ttft).toBeDefined();
    expect(checkResults(withoutTtft)).toEqual([]);
    const { date, ...withoutDate } = sample() as Record<string, unknown>;
    expect(date).toBeDefined();
    expect(checkResults(withoutDate)).toEqual(['date: missing']);
  });

  it('is the schema bench/README.md documents, field by field', () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const documented = new Set([...readme.matchAll(/`([a-z0-9_.[\]]+)`/g)].map((m) => m[1]));
    const undocumented = Object.keys(RESULT_FIELDS).filter((path) => !documented.has(path));
    expect(undocumented).toEqual([]);
  });
});
