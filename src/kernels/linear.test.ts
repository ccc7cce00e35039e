/** How the linear kernel splits a weight row over lanes: a function of the layer's shape and the device alone. */

import { describe, expect, it } from 'vitest';
import { linearLanes, prefillTile } from './linear';
import { CPU_PROFILE, GPU_PROFILE } from './profile';

const lanes = (words: number, rows: number, profile = GPU_PROFILE) =>
  linearLanes(words, profile.wordsPerLane, rows, profile.minWorkgroups);

describe('linearLanes', () => {
  it('gives a small layer more lanes a row until it fills a GPU', () => {
    expect(lanes(192, 576)).toBe(64); // SmolLM2-135M down (f16, k = 1536): 576 workgroups at most
    expect(lanes(72, 3072)).toBe(32); // gate|up (k = 576): each lane keeps two words or more
  });

  it('leaves a large layer at wordsPerLane words a lane', () => {
    expect(lanes(256, 16384)).toBe(16); // Llama-3.2-1B gate|up (f16, k = 2048): 4096 workgroups
    expect(lanes(1024, 2048)).toBe(64); // its down projection (k = 8192): 2048 workgroups
  });

  it('keeps one lane a row on a CPU adapter', () => {
    expect(lanes(192, 576, CPU_PROFILE)).toBe(1);
  });
});

describe('prefillTile', () => {
  const tile = (lanes: number, chunks: number, storage = 32768, invocations = 256) => {
    const { rowThreads, tokenThreads } = prefillTile(lanes, chunks, storage, invocations);
    return { rows: 4 * rowThreads, tokens: 4 * tokenThreads, threads: lanes * rowThreads * tokenThreads };
  };

  it('grows the tokens first, then the rows, within 256 threads', () => {
    expect(tile(16, 2)).toEqual({ rows: 8, tokens: 32, threads: 256 }); // SmolLM2-135M q|k|v (f16)
    expect(tile(8, 1)).toEqual({ rows: 16, tokens: 32, threads: 256 });
  });

  it("takes more threads where the device allows them, and the lanes' sums stay within the memory", () => {
    expect(tile(16, 2, 32768, 512)).toEqual({ rows: 16, tokens: 32, threads: 512 }); // Llama-3.2-1B gate|up (f16)
    expect(tile(8, 2, 32768, 1024)).toEqual({ rows: 32, tokens: 32, threads: 512 }); // sums: 64 bytes x 512 threads
    for (const lanes of [1, 2, 4, 8, 16, 32, 64]) {
      for (const invocations of [256, 512, 1024]) {
        const { threads } = tile(lanes, 2, 32768, invocations);
        expect(threads).toBeLessThanOrEqual(invocations);
        expect(64 * threads).toBeLessThanOrEqual(32768);
      }
    }
  });

  it('keeps a step of words within the workgroup memory', () => {
    // 64 lanes of f16 words: 8 rows x 64 words and 8 tokens x 128 chunks, 16 bytes each, take 24 KiB.
    expect(tile(64, 2)).toEqual({ rows: 8, tokens: 8, threads: 256 });
    expect(tile(64, 2, 16384)).toEqual({ rows: 8, tokens: 4, threads: 128 });
    for (const lanes of [1, 2, 4, 8, 16, 32, 64]) {
      for (const chunks of [1, 2]) {
        const { rows, tokens, threads } = tile(lanes, chunks, 16384);
        expect(16 * lanes * (rows + tokens * chunks)).toBeLessThanOrEqual(16384);
        expect(threads).toBeLessThanOrEqual(256);
      }
    }
  });
});
