/** The profile's side-by-side questions: which choices a `--profile` run times the other way. */

import { describe, expect, it } from 'vitest';
import { CPU_PROFILE, GPU_PROFILE } from '../src/kernels/profile';
import { alternatives } from './profile';

describe('--profile alternatives', () => {
  it('times the norms apart, one row a thread, four rows, four times the workgroups, attention without one-tile segments and with heads grouped for a GPU decode step', () => {
    expect(alternatives(GPU_PROFILE, 1, 64)).toEqual([
      { fusedNorm: false },
      { twoRowsFrom: Number.POSITIVE_INFINITY },
      { fourRowsMinThreads: Number.POSITIVE_INFINITY },
      { minWorkgroups: 4 * GPU_PROFILE.minWorkgroups },
      { attentionFine: 0 },
      { attentionGroupedFrom: 0 },
    ]);
    // Past the context the heads of a KV head are grouped from, apart.
    expect(alternatives(GPU_PROFILE, 1, 64, false, 8192)).toContainEqual({
      attentionGroupedFrom: Number.POSITIVE_INFINITY,
    });
    // Without them, segments of one tile throughout.
    expect(alternatives({ ...GPU_PROFILE, attentionFine: 0 }, 1, 64)).toContainEqual({ attentionSplit: 64 });
    // On a profile whose decode sums one row a thread, two rows from the step's tile on.
    expect(alternatives({ ...GPU_PROFILE, twoRowsFrom: 2 }, 1, 64)).toContainEqual({ twoRowsFrom: 1 });
    // A verify pass runs a tile too; the norms' placement is the other way on a profile that
    // keeps them apart, and its tile of two rows a thread takes one.
    expect(alternatives({ ...GPU_PROFILE, fusedNorm: false }, 5, 64).slice(0, 2)).toEqual([
      { fusedNorm: true },
      { twoRowsFrom: Number.POSITIVE_INFINITY },
    ]);
    // Its tokens over more workgroups: tiles of at most 3 (a decode step has one token to spread).
    expect(alternatives(GPU_PROFILE, 5, 64)).toContainEqual({ tiles: [2, 3], prefill: false });
    expect(alternatives(GPU_PROFILE, 1, 64).some((change) => 'tiles' in change)).toBe(false);
    // After a context past the one-tile segments, segments half as long.
    expect(alternatives(GPU_PROFILE, 1, 64, false, 8192)).toContainEqual({
      attentionSplit: GPU_PROFILE.attentionSplit / 2,
    });
    expect(alternatives(GPU_PROFILE, 1, 64, false, 1024).some((change) => 'attentionSplit' in change)).toBe(false);
    // Where rows go four a thread is a decode step's question; a verify tile's is its own tile's.
    expect(alternatives(GPU_PROFILE, 5, 64).some((change) => 'fourRowsMinThreads' in change)).toBe(false);
  });

  it("times a quantized verify tile's rows four a thread the other way", () => {
    // The profile's tile of 5 sums four rows a thread: without it, tiles of up to 4 alone do.
    expect(GPU_PROFILE.fourRowsTiles).toBeGreaterThanOrEqual(5);
    expect(alternatives(GPU_PROFILE, 5, 64, true)).toContainEqual({ fourRowsTiles: 4 });
    // A profile whose tiles keep two rows: with it.
    expect(alternatives({ ...GPU_PROFILE, fourRowsTiles: 1 }, 5, 64, true)).toContainEqual({ fourRowsTiles: 5 });
    // 7 tokens run the tile of 7; 12 the tile of 16, which holds no four rows a thread.
    expect(alternatives({ ...GPU_PROFILE, fourRowsTiles: 1 }, 7, 64, true)).toContainEqual({ fourRowsTiles: 7 });
    expect(alternatives(GPU_PROFILE, 12, 64, true).some((change) => 'fourRowsTiles' in change)).toBe(false);
    // Float layers and decode steps: no such question.
    expect(alternatives(GPU_PROFILE, 5, 64).some((change) => 'fourRowsTiles' in change)).toBe(false);
    expect(alternatives(GPU_PROFILE, 1, 64, true).some((change) => 'fourRowsTiles' in change)).toBe(false);
  });

  it('times a prefill step in tiles instead of the prefill kernel (a norm dispatch either way)', () => {
    expect(alternatives(GPU_PROFILE, 64, 64)).toEqual([
      { prefill: false },
      { minWorkgroups: 4 * GPU_PROFILE.minWorkgroups },
      { attentionFine: 0 },
    ]);
  });

  it("times a quantized model's prefill step with the prefill kernel, where its layers take tiles", () => {
    expect(alternatives(GPU_PROFILE, 64, 64, true)).toContainEqual({ prefillQuantized: true });
    expect(alternatives(GPU_PROFILE, 64, 64, true)).not.toContainEqual({ prefill: false });
    expect(alternatives({ ...GPU_PROFILE, prefillQuantized: true }, 64, 64, true)).toContainEqual({ prefill: false });
    expect(alternatives(GPU_PROFILE, 5, 64, true).some((change) => 'prefillQuantized' in change)).toBe(false);
  });

  it("times a quantized model's lanes taking whole words, in every step", () => {
    for (const tokens of [1, 5, 64]) {
      expect(alternatives(GPU_PROFILE, tokens, 64, true)).toContainEqual({ splitGroups: false });
      expect(alternatives(GPU_PROFILE, tokens, 64)).not.toContainEqual({ splitGroups: false });
    }
    expect(alternatives(CPU_PROFILE, 1, 64, true)).toEqual([]);
  });

  it('sizes attention segments to the workgroup of a head dimension over 64', () => {
    const uniform = { ...GPU_PROFILE, attentionFine: 0 };
    expect(alternatives(uniform, 1, 128)).toContainEqual({ attentionSplit: 128 });
    expect(alternatives({ ...uniform, attentionSplit: 128 }, 1, 128)).not.toContainEqual({ attentionSplit: 128 });
  });

  it('has no question for the CPU profile (blocks of rows, serial attention)', () => {
    expect(alternatives(CPU_PROFILE, 1, 64)).toEqual([]);
    expect(alternatives(CPU_PROFILE, 64, 64)).toEqual([]);
  });
});
