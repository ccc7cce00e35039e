/**
 * Which real-shape pairs a run measures: a quick run the smallest pair in f16 and q4, a full
 * run every pair, `--shape NAME` those whose target's name holds NAME.
 */

import { describe, expect, it } from 'vitest';
import { pairsToRun, QUICK_PAIRS, SHAPE_PAIRS } from './shapes';

const targets = (quick: boolean, only?: string) => pairsToRun(quick, only).map((pair) => pair.target.name);

describe('pairsToRun', () => {
  it('takes every pair, or the quick ones', () => {
    expect(pairsToRun(false)).toEqual(SHAPE_PAIRS);
    expect(pairsToRun(true)).toEqual(QUICK_PAIRS);
  });

  it("keeps the pairs whose target's name holds the filter", () => {
    expect(targets(false, '8B')).toEqual(['Llama-3.1-8B q4f16_1']);
    expect(targets(false, 'Llama')).toEqual([
      'Llama-3.2-1B',
      'Llama-3.2-1B q4f16_1',
      'Llama-3.2-3B q4f16_1',
      'Llama-3.1-8B q4f16_1',
    ]);
    // Llama-3.2-1B drafts for the 3B and 8B targets but is a target's name only in its own pairs.
    expect(targets(false, '1B')).toEqual(['Llama-3.2-1B', 'Llama-3.2-1B q4f16_1']);
    expect(targets(true, 'q4')).toEqual(['SmolLM2-360M q4f16_1']);
    expect(targets(false, 'none')).toEqual([]);
    expect(targets(false, 'Qwen3.5')).toEqual(['Qwen3.5-9B q4f16_1']);
  });
});
