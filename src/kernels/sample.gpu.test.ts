/**
 * GPU sampling against the CPU's definition (src/sampling/sampling.ts `distribution`): over
 * thousands of draws on one row of random logits, tokens outside the kept set never appear and
 * the counts of kept tokens pass a chi-square test at p = 0.001 (fixed seeds: deterministic);
 * a tree's further draws the same, from the distribution without the tokens drawn before.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, createUniform, readBuffer, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import { argmax, distribution, type SamplingParams, without } from '../sampling/sampling';
import { runPass, testGpu } from '../testing/gpu';
import { Rng } from '../util/rng';
import { SampleKernel, writeSamplingParams } from './ops';
import { StepUniform } from './step';

/** The chi-square value exceeded with probability 0.001 (Wilson-Hilferty; within 1% for df >= 3). */
function chiSquareCritical(df: number): number {
  const z = 3.0902; // the standard normal's 0.999 quantile
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

/**
 * Draws `rows` x `rounds` tokens from one row of logits tiled over the rows; `chosen`: the ids
 * of the ranks before (a further draw goes without them).
 */
async function drawMany(
  logits: Float32Array,
  params: SamplingParams,
  workgroup: number,
  chosen: number[] = [],
): Promise<number[]> {
  const { device } = gpu;
  const vocab = logits.length;
  const rows = 64;
  const rounds = 20;
  const tiled = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) tiled.set(logits, r * vocab);
  const step = new StepUniform(device);
  const paramsBuffer = createUniform(device, 16, 'sampling');
  const rank = chosen.length;
  const ids = createStorage(device, (rank + 1) * rows * 4, 'ids');
  const kernel = new SampleKernel(device, vocab, workgroup, rank);
  const bindGroup = kernel.bind({
    step: step.buffer,
    params: paramsBuffer,
    logits: uploadBuffer(device, tiled, STORAGE, 'l'),
    ids,
  });
  const counts = new Array(vocab).fill(0);
  writeSamplingParams(device, paramsBuffer, params, 12345);
  for (let round = 0; round < rounds; round++) {
    for (const [j, id] of chosen.entries()) device.queue.writeBuffer(ids, j * rows * 4, new Uint32Array(rows).fill(id));
    step.write(rows, round * rows); // each row at its own position: its own random number
    await runPass(device, (pass) => kernel.encode(pass, bindGroup, rows));
    const drawn = new Uint32Array(await readBuffer(device, ids, (rank + 1) * rows * 4)).subarray(rank * rows);
    for (const id of drawn) counts[id]++;
  }
  return counts;
}

/** Checks draws against distribution p: none outside it, and a chi-square test at p = 0.001 over its tokens. */
function expectDrawnFrom(counts: number[], p: Float64Array) {
  const n = counts.reduce((a, b) => a + b, 0);
  const kept = [...p.keys()].filter((i) => p[i] > 0);
  expect(counts.filter((c, i) => c > 0 && p[i] === 0)).toEqual([]);
  // Pool rare tokens so every expected count is at least 5.
  let chi = 0;
  let poolCount = 0;
  let poolExpected = 0;
  let bins = 0;
  for (const i of kept) {
    if (n * p[i] >= 5) {
      chi += (counts[i] - n * p[i]) ** 2 / (n * p[i]);
      bins++;
    } else {
      poolCount += counts[i];
      poolExpected += n * p[i];
    }
  }
  if (poolExpected > 0) {
    chi += (poolCount - poolExpected) ** 2 / poolExpected;
    bins++;
  }
  expect(bins).toBeGreaterThanOrEqual(3);
  expect(chi).toBeLessThan(chiSquareCritical(bins - 1));
}

describe('GPU sampling', () => {
  it.each([
    [{ temperature: 1, topK: 0, topP: 1 }, 40, 256],
    [{ temperature: 0.7, topK: 10, topP: 1 }, 40, 256],
    [{ temperature: 1, topK: 0, topP: 0.8 }, 40, 256],
    [{ temperature: 1.3, topK: 5, topP: 0.9 }, 300, 256],
    [{ temperature: 1, topK: 0, topP: 0.8 }, 40, 4],
    [{ temperature: 1.3, topK: 5, topP: 0.9 }, 300, 4],
  ] as [SamplingParams, number, number][])(
    'draws from the kept distribution: %o, vocab %i, %i threads',
    async (params, vocab, workgroup) => {
      const logits = new Rng(vocab).floats(vocab, -3, 3);
      expectDrawnFrom(await drawMany(logits, params, workgroup), distribution(logits, params));
    },
  );

  it.each([
    [{ temperature: 1, topK: 0, topP: 1 }, 40, 256],
    [{ temperature: 0.7, topK: 10, topP: 1 }, 300, 4],
  ] as [SamplingParams, number, number][])(
    "a tree's second and third draws go without the ones before: %o, vocab %i, %i threads",
    async (params, vocab, workgroup) => {
      const logits = new Rng(vocab + 1).floats(vocab, -3, 3);
      const p = distribution(logits, params);
      // The likeliest first: their removal changes the most.
      const first = p.indexOf(Math.max(...p));
      const second = p.indexOf(Math.max(...p.filter((_, i) => i !== first)));
      expectDrawnFrom(await drawMany(logits, params, workgroup, [first]), without(p, [first]));
      expectDrawnFrom(await drawMany(logits, params, workgroup, [first, second]), without(p, [first, second]));
    },
  );

  it('a second draw where one token is kept gives that token again', async () => {
    const logits = new Rng(7).floats(40, -3, 3);
    const params = { temperature: 1, topK: 1, topP: 1 };
    const only = argmax(logits);
    const counts = await drawMany(logits, params, 256, [only]);
    expect(counts[only]).toBe(64 * 20);
  });
});
