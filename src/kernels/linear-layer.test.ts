/**
 * A layer's kernels as a profile makes them (`layerVariants`), and which token tile runs a step
 * (`tileFor`): the fewest tiles along z, each as small as it can be.
 */

import { describe, expect, it } from 'vitest';
import { layerVariants, runsPrefill, tileFor } from './linear-layer';
import { CPU_PROFILE, GPU_PROFILE } from './profile';

describe('layerVariants', () => {
  const shape = { rows: 16384, k: 2048, dtype: 'F16' } as const; // Llama-3.2-1B gate|up

  it('gives a GPU a lanes kernel per tile, all with the same lanes, then the prefill kernel', () => {
    const variants = layerVariants(shape, GPU_PROFILE, 32);
    expect(variants.map((v) => (v.kind === 'prefill' ? 'prefill' : v.tileN))).toEqual([
      1,
      ...GPU_PROFILE.tiles,
      'prefill',
    ]);
    expect(new Set(variants.map((v) => (v.kind === 'blocked' ? 0 : v.lanes)))).toEqual(new Set([16]));
    expect(variants.every((v) => v.kind !== 'blocked' && v.shuffle === 32)).toBe(true);
    expect(runsPrefill(GPU_PROFILE, 16)).toBe(false);
    expect(runsPrefill(GPU_PROFILE, 17)).toBe(true);
  });

  it('gives a q4 layer the lanes of the f16 layer of its shape, with a unit a lane at least', () => {
    const lanesOf = (rows: number, k: number, dtype: 'F16' | 'Q4F16' | 'Q4F32', splitGroups = true) => {
      const [decode] = layerVariants({ rows, k, dtype }, { ...GPU_PROFILE, splitGroups }, 32);
      return decode.kind === 'lanes' ? decode.lanes : 0;
    };
    // Llama-3.1-8B's gate|up and down: 32 and 64 lanes (counting q4 words gave 4 and 16).
    for (const [rows, k] of [
      [28672, 4096],
      [4096, 14336],
      [2048, 1024],
    ]) {
      expect(lanesOf(rows, k, 'Q4F16')).toBe(lanesOf(rows, k, 'F16'));
      expect(lanesOf(rows, k, 'Q4F32')).toBe(lanesOf(rows, k, 'F16'));
    }
    expect(lanesOf(28672, 4096, 'Q4F16')).toBe(32);
    expect(lanesOf(4096, 14336, 'Q4F16')).toBe(64);
    // A short row of 4 q4 words: 4 lanes of whole words, one word each, where its 16 f16 words
    // ask for 8; its 16 split units (u32s) take the f16 row's 8.
    expect(lanesOf(64, 128, 'Q4F16', false)).toBe(4);
    expect(lanesOf(64, 128, 'F16')).toBe(8);
    expect(lanesOf(64, 128, 'Q4F16')).toBe(8);
    expect(lanesOf(64, 96, 'Q4F16', false)).toBe(2);
    expect(lanesOf(64, 96, 'Q4F16')).toBe(lanesOf(64, 96, 'F16'));
  });

  it('splits the groups of a quantized layer in every variant on a GPU, and of no other', () => {
    const split = (dtype: 'F16' | 'Q4F16' | 'Q8_0', profile = GPU_PROFILE) =>
      layerVariants({ rows: 256, k: 2048, dtype }, profile, 32).map((v) => v.kind !== 'blocked' && v.splitGroups);
    expect(new Set(split('Q4F16'))).toEqual(new Set([true]));
    expect(new Set(split('Q8_0'))).toEqual(new Set([true]));
    expect(new Set(split('F16'))).toEqual(new Set([undefined]));
    expect(new Set(split('Q4F16', { ...GPU_PROFILE, splitGroups: false }))).toEqual(new Set([undefined]));
  });

  it('sums four rows a thread in the quantized tiles the profile names, where threads suffice', () => {
    const rowsOf = (rows: number, k: number, dtype: 'F16' | 'Q4F16', profile = GPU_PROFILE) =>
      layerVariants({ rows, k, dtype }, profile, 32).map((v) =>
        v.kind !== 'lanes' ? `${v.kind}` : v.fourRows ? 4 : v.twoRows ? 2 : 1,
      );
    // Llama-3.2-1B's gate|up in q4f16_1: 16 lanes, 65,536 threads four rows a thread.
    const tiles = [1, ...GPU_PROFILE.tiles];
    expect(rowsOf(16384, 2048, 'Q4F16')).toEqual(tiles.map((n) => (n <= GPU_PROFILE.fourRowsTiles ? 4 : 2)));
    expect(rowsOf(16384, 2048, 'Q4F16', { ...GPU_PROFILE, fourRowsTiles: 1 })).toEqual([
      4,
      ...GPU_PROFILE.tiles.map(() => 2),
    ]);
    // Its o projection (2048 rows: 8,192 threads that way) and every float layer: two.
    expect(new Set(rowsOf(2048, 2048, 'Q4F16'))).toEqual(new Set([2]));
    expect(new Set(rowsOf(16384, 2048, 'F16').slice(0, -1))).toEqual(new Set([2]));
  });

  it('gives quantized layers the prefill kernel only where the profile says so', () => {
    const kinds = (dtype: 'F16' | 'Q4F16' | 'Q8_0', profile = GPU_PROFILE) =>
      layerVariants({ rows: 2048, k: 2048, dtype }, profile, 32).map((v) => v.kind);
    const tiles = [1, ...GPU_PROFILE.tiles].map(() => 'lanes');
    expect(GPU_PROFILE.prefillQuantized).toBe(false);
    expect(kinds('F16')).toEqual([...tiles, 'prefill']);
    expect(kinds('Q4F16')).toEqual(tiles);
    expect(kinds('Q8_0')).toEqual(tiles);
    expect(kinds('Q4F16', { ...GPU_PROFILE, prefillQuantized: true })).toEqual([...tiles, 'prefill']);
    expect(kinds('Q4F16', { ...GPU_PROFILE, prefill: false, prefillQuantized: true })).toEqual(tiles);
  });

  it('gives a CPU adapter blocks of 4 rows, a tile each, and no prefill kernel', () => {
    const variants = layerVariants(shape, CPU_PROFILE, 32);
    expect(variants).toEqual([1, ...CPU_PROFILE.tiles].map((tileN) => ({ kind: 'blocked', tileN })));
    expect(runsPrefill(CPU_PROFILE, 64)).toBe(false);
    expect(() => layerVariants(shape, { ...CPU_PROFILE, prefill: true }, 1)).toThrow(/no prefill kernel/);
    expect(() => layerVariants(shape, CPU_PROFILE, 1, { eps: 1e-5 })).toThrow(/fold no norm/);
  });

  it('folds a norm into every variant: the token tiles read x, the prefill kernel scales by inv', () => {
    const norm = { eps: 1e-5 };
    const variants = layerVariants(shape, GPU_PROFILE, 32, norm);
    expect(variants.map((v) => v.kind)).toEqual([...[1, ...GPU_PROFILE.tiles].map(() => 'lanes'), 'prefill']);
    expect(variants.map((v) => v.kind !== 'blocked' && v.norm)).toEqual(variants.map(() => norm));
  });
});

const tileOf = (tiles: number[], tokens: number) => tiles[tileFor(tiles, tokens)];

describe('tileFor', () => {
  const cpu = [1, ...CPU_PROFILE.tiles]; // 1 to 6
  const gpu = [1, ...GPU_PROFILE.tiles]; // 1 to 9, 16

  it('runs a step that a tile holds in the smallest such tile', () => {
    for (let tokens = 1; tokens <= 6; tokens++) expect(tileOf(cpu, tokens)).toBe(tokens);
    for (let tokens = 1; tokens <= 9; tokens++) expect(tileOf(gpu, tokens)).toBe(tokens);
    expect(tileOf(gpu, 10)).toBe(16);
    expect(tileOf(gpu, 16)).toBe(16);
    expect(tileOf([1, 4], 3)).toBe(4);
  });

  it('splits a longer step into as few tiles as the largest needs, each as small as it can be', () => {
    expect(tileOf(cpu, 7)).toBe(4); // two tiles of 4, not two of 6
    expect(tileOf(cpu, 9)).toBe(5);
    expect(tileOf(cpu, 12)).toBe(6);
    expect(tileOf(cpu, 64)).toBe(6); // 11 tiles of 6
    expect(tileOf(gpu, 17)).toBe(9);
    expect(tileOf(gpu, 64)).toBe(16);
    expect(tileOf([1, 4], 9)).toBe(4);
    expect(tileOf([1], 5)).toBe(1);
  });

  it('never needs more tiles than the largest tile would', () => {
    for (const tiles of [cpu, gpu, [1, 4], [1, 2, 8]]) {
      const largest = tiles[tiles.length - 1];
      for (let tokens = 1; tokens <= 100; tokens++) {
        const tile = tileOf(tiles, tokens);
        expect(Math.ceil(tokens / tile)).toBe(Math.ceil(tokens / largest));
        const smaller = tiles.filter((t) => t < tile);
        for (const t of smaller) expect(Math.ceil(tokens / t)).toBeGreaterThan(Math.ceil(tokens / largest));
      }
    }
  });
});
