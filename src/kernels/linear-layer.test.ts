/** Which token tile runs a step (`tileFor`): the fewest tiles along z, each as small as it can be. */

import { describe, expect, it } from 'vitest';
import { CPU_PROFILE, GPU_PROFILE, tileFor } from './profile';

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
