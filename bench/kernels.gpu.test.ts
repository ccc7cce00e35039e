/**
 * The kernel suite's timing of a linear layer as a GPU runs it: CI's adapter is a CPU one,
 * whose profile has no lanes, so the GPU profile's paths (the lanes kernel, two or four rows a thread,
 * quantized units in flight, copies of the matrix cycled through) are taken here with the adapter described as a GPU. The
 * times are the adapter's; what is checked is that each path builds, runs and reports.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { type Gpu, isCpuAdapter } from '../src/gpu/device';
import { testGpu } from '../src/testing/gpu';
import { linearBandwidth } from './suites/kernels';

let gpu: Gpu;
beforeAll(async () => {
  const adapter = await testGpu();
  // The same device, its profile chosen as for a GPU (kernelProfile reads the adapter's info).
  gpu = {
    ...adapter,
    info: { ...adapter.info, vendor: 'gpu', architecture: 'any', description: 'described as a GPU' },
  };
  expect(isCpuAdapter(gpu.info)).toBe(false);
});

describe('the kernel suite on the GPU profile', () => {
  it('times a q4 layer with one, two and four rows a thread, through copies of the matrix', async () => {
    const shape = { rows: 256, k: 512, dtype: 'Q4F16' } as const;
    const profile = await linearBandwidth(gpu, shape, 1, { cycle: true });
    const one = await linearBandwidth(gpu, shape, 1, { cycle: true, twoRows: false });
    const two = await linearBandwidth(gpu, shape, 1, { cycle: true, twoRows: true });
    const four = await linearBandwidth(gpu, shape, 1, { cycle: true, fourRows: true });
    for (const timing of [profile, one, two, four]) {
      expect(timing.ms).toBeGreaterThan(0);
      expect(timing.gbPerS).toBeGreaterThan(0);
    }
    // The GPU profile's decode sums two rows a thread; lanes a row from the profile either way,
    // so two rows a thread take half the threads, four a quarter.
    expect([profile, one, two, four].map((t) => t.rowsAThread)).toEqual([2, 1, 2, 4]);
    expect([profile.twoRows, one.twoRows, two.twoRows, four.twoRows]).toEqual([true, false, true, true]);
    expect(two.threads).toBe(one.threads / 2);
    expect(four.threads).toBe(one.threads / 4);
  });

  it('times a q4 layer with its lanes taking u32s of its words, as the GPU profile does, and whole words', async () => {
    const shape = { rows: 256, k: 512, dtype: 'Q4F16' } as const;
    const split = await linearBandwidth(gpu, shape, 1);
    const whole = await linearBandwidth(gpu, shape, 1, { splitGroups: false });
    expect(split.splitGroups).toBe(true);
    expect(whole.splitGroups).toBe(false);
    expect(whole.gbPerS).toBeGreaterThan(0);
  });

  it('times a q4 layer with its units loaded four at a time, as the GPU profile does, and one at a time', async () => {
    const shape = { rows: 256, k: 512, dtype: 'Q4F16' } as const;
    const profile = await linearBandwidth(gpu, shape, 1);
    const one = await linearBandwidth(gpu, shape, 1, { unitsInFlight: 1 });
    expect([profile.unitsInFlight, one.unitsInFlight]).toEqual([4, 1]);
    expect(one.gbPerS).toBeGreaterThan(0);
    // Float weights have no units to load ahead.
    expect((await linearBandwidth(gpu, { ...shape, dtype: 'F16' }, 1)).unitsInFlight).toBe(1);
  });

  it('times every type a full run times at the 8B shapes (here on a small matrix)', async () => {
    for (const dtype of ['F16', 'Q4F16', 'Q4_K', 'Q5_K', 'Q6_K', 'Q6A', 'IQ4', 'IQ2_S', 'Q8_0', 'Q8', 'Q8A'] as const) {
      const timing = await linearBandwidth(gpu, { rows: 64, k: 512, dtype }, 1);
      expect(timing.gbPerS, dtype).toBeGreaterThan(0);
    }
  });
});
