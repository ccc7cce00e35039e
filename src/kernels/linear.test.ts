/** How the linear kernel splits a weight row over lanes: a function of the layer's shape and the device alone. */

import { describe, expect, it } from 'vitest';
import { linearLanes } from './linear';
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
