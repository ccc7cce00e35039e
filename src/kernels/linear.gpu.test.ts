/**
 * The linear layer (linear.wgsl and, past its largest tile, linear_prefill.wgsl for the GPU
 * profile; linear_blocked.wgsl for the CPU profile) against the reference on random shapes (rows and k not multiples of the workgroup or the
 * block, token counts across tile boundaries), and its batch invariance: a row's result is
 * bit-identical whether it is computed alone (decode), in a verify batch or in a prefill.
 * The blocked kernel also gives the same bits as linear.wgsl with one lane a row, the prefill
 * kernel the same bits as its tiles, and a reduction ended by subgroup shuffles the same bits
 * as one through workgroup memory.
 *
 * Tolerance: float32 sums of k products of values in [-1, 1] carry a rounding error of order
 * sqrt(k) * 2^-24 * |terms|; atol 1e-5 and rtol 1e-5 leave a wide margin at k <= 2048.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, readBuffer, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { WeightDType } from '../loader/weights';
import { linear } from '../ref/linear';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { expectNoGpuErrors, testGpu } from '../testing/gpu';
import { packWeights } from '../testing/weights';
import { Rng } from '../util/rng';
import { LinearKernel, linearLanes } from './linear';
import { CPU_PROFILE, GPU_PROFILE, linearChoices } from './profile';
import { StepUniform } from './step';

const TOLERANCE = { atol: 1e-5, rtol: 1e-5 };

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

interface Case {
  wordsPerLane?: number;
  minWorkgroups?: number;
  rowBlock?: 1 | 4;
  shuffle?: number;
  rows: number;
  k: number;
  dtype?: WeightDType;
  tokens: number;
  tileN: number;
  /** linear_prefill.wgsl, which chooses its own tile (tileN is then ignored). */
  prefill?: boolean;
  bias?: boolean;
  accumulate?: boolean;
}

async function runLinear(c: Case, rng: Rng) {
  const { device } = gpu;
  const dtype = c.dtype ?? 'F32';
  const { packed, values: weight } = packWeights(dtype, rng.floats(c.rows * c.k));
  const bias = c.bias ? rng.floats(c.rows) : new Float32Array(c.rows);
  const x = rng.floats(c.tokens * c.k);
  const y0 = c.accumulate ? rng.floats(c.tokens * c.rows) : new Float32Array(c.tokens * c.rows);

  const kernel = new LinearKernel(device, {
    rows: c.rows,
    k: c.k,
    dtype,
    tileN: c.prefill ? undefined : c.tileN,
    prefill: c.prefill,
    accumulate: c.accumulate,
    wordsPerLane: c.wordsPerLane,
    minWorkgroups: c.minWorkgroups,
    rowBlock: c.rowBlock,
    shuffle: c.shuffle,
  });
  const step = new StepUniform(device);
  const buffers = {
    step: step.buffer,
    weight: uploadBuffer(device, packed, STORAGE, 'weight'),
    bias: uploadBuffer(device, bias, STORAGE, 'bias'),
    x: uploadBuffer(device, x, STORAGE, 'x'),
    y: c.accumulate ? uploadBuffer(device, y0, STORAGE, 'y') : createStorage(device, y0.byteLength, 'y'),
  };
  const out = await expectNoGpuErrors(device, async () => {
    const bindGroup = kernel.bind(buffers);
    step.write(c.tokens);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    kernel.encode(pass, bindGroup, c.tokens);
    pass.end();
    device.queue.submit([encoder.finish()]);
    return new Float32Array(await readBuffer(device, buffers.y, y0.byteLength));
  });
  const expected = linear(x, weight, c.rows, c.bias ? bias : undefined, y0.slice());
  return { out, expected, weight, x };
}

describe.each([
  ['GPU', GPU_PROFILE],
  ['CPU', CPU_PROFILE],
])('linear kernel, %s profile', (_, profile) => {
  const { rowBlock } = profile;
  const choices = () => linearChoices(profile, gpu.subgroupShuffle);
  /** The case's tile, or the profile's largest where that is smaller. */
  const tile = (tileN: number) => Math.min(tileN, profile.tiles[profile.tiles.length - 1]);
  const rng = new Rng(1234);
  const cases: Case[] = [
    { rows: 1, k: 4, tokens: 1, tileN: 1 },
    { rows: 37, k: 100, tokens: 1, tileN: 1 },
    { rows: 256, k: 256, tokens: 1, tileN: 1, bias: true },
    { rows: 300, k: 1028, tokens: 1, tileN: 1 },
    { rows: 129, k: 2048, tokens: 1, tileN: 1, accumulate: true },
    { rows: 65, k: 132, tokens: 5, tileN: 16, bias: true },
    { rows: 96, k: 384, tokens: 16, tileN: 16 },
    { rows: 50, k: 200, tokens: 37, tileN: 16, accumulate: true, bias: true },
    { rows: 17, k: 64, tokens: 3, tileN: 4 },
    { rows: 30, k: 96, tokens: 11, tileN: 8, bias: true },
    { rows: 30, k: 96, tokens: 13, tileN: 12, accumulate: true },
    { rows: 41, k: 136, tokens: 2, tileN: 2 },
    { rows: 39, k: 264, tokens: 5, tileN: 5, dtype: 'F16', bias: true },
    { rows: 70, k: 96, tokens: 8, tileN: 6, accumulate: true },
    { rows: 52, k: 136, tokens: 9, tileN: 9, dtype: 'BF16' },
    { rows: 45, k: 136, tokens: 1, tileN: 1, dtype: 'F16', bias: true },
    { rows: 200, k: 1024, tokens: 7, tileN: 16, dtype: 'F16', accumulate: true },
    { rows: 33, k: 264, tokens: 1, tileN: 1, dtype: 'BF16' },
    { rows: 64, k: 512, tokens: 18, tileN: 16, dtype: 'BF16', bias: true },
  ];
  for (const c of cases) {
    it(`matches the reference: ${JSON.stringify(c)}`, async () => {
      const { out, expected } = await runLinear({ ...c, tileN: tile(c.tileN), ...choices() }, rng);
      expectClose(out, expected, TOLERANCE, 'y');
    });
  }

  it('is batch-invariant: a token gives the same bits alone, in a verify batch and in a prefill tile', async () => {
    const rows = 70;
    const k = 520;
    const tokens = 21;
    const seed = 99;
    // The same weights and inputs (same seed), computed three ways.
    const prefill = await runLinear({ rows, k, tokens, tileN: tile(16), ...choices() }, new Rng(seed));
    for (const tileN of profile.tiles) {
      const verify = await runLinear({ rows, k, tokens, tileN, ...choices() }, new Rng(seed));
      expectBitwiseEqual(verify.out, prefill.out, `tiles of ${tileN} vs ${tile(16)}`);
    }
    const { device } = gpu;
    const decode = new LinearKernel(device, { rows, k, tileN: 1, ...choices() });
    const step = new StepUniform(device);
    const weight = uploadBuffer(device, prefill.weight, STORAGE, 'weight');
    const bias = createStorage(device, rows * 4, 'bias');
    for (const n of [0, 15, 16, 20]) {
      const x = uploadBuffer(device, prefill.x.subarray(n * k, (n + 1) * k), STORAGE, 'x');
      const y = createStorage(device, rows * 4, 'y');
      const bindGroup = decode.bind({ step: step.buffer, weight, bias, x, y });
      step.write(1);
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      decode.encode(pass, bindGroup, 1);
      pass.end();
      device.queue.submit([encoder.finish()]);
      const alone = new Float32Array(await readBuffer(device, y));
      expectBitwiseEqual(alone, prefill.out.subarray(n * rows, (n + 1) * rows), `token ${n} alone vs prefill`);
    }
  });

  it('refuses a k that is not a multiple of the weight word', () => {
    expect(() => new LinearKernel(gpu.device, { rows: 4, k: 6, rowBlock })).toThrow(/multiple of 4/);
    expect(() => new LinearKernel(gpu.device, { rows: 4, k: 12, dtype: 'F16', rowBlock })).toThrow(/multiple of 8/);
  });
});

describe('linear kernel, prefill tiles in workgroup memory', () => {
  // Lanes a row 64, 32, 16, 4 and 1 (words / wordsPerLane, see linearLanes), so tiles of
  // 8x4 up to 64x32 rows x tokens; words that do not fill the last step of LANES; 75 rows and
  // 37 tokens, which no tile divides.
  const cases = [
    { k: 1024, dtype: 'F32', wordsPerLane: 2 },
    { k: 1024, dtype: 'F16', wordsPerLane: 2 },
    { k: 520, dtype: 'F32', wordsPerLane: 4 },
    { k: 136, dtype: 'BF16', wordsPerLane: 2 },
    { k: 200, dtype: 'F16', wordsPerLane: Number.POSITIVE_INFINITY },
  ] as const;
  for (const shape of cases) {
    const lanes = linearLanes(shape.k / (shape.dtype === 'F32' ? 4 : 8), shape.wordsPerLane);
    it(`gives linear.wgsl's bits and matches the reference: ${shape.dtype}, k ${shape.k}, ${lanes} lanes a row`, async () => {
      for (const shuffle of new Set([1, gpu.subgroupShuffle])) {
        const c = { ...shape, rows: 75, tokens: 37, tileN: 16, bias: true, accumulate: true, shuffle };
        const prefill = await runLinear({ ...c, prefill: true }, new Rng(5));
        expectClose(prefill.out, prefill.expected, TOLERANCE, 'y');
        const lanes = await runLinear(c, new Rng(5));
        expectBitwiseEqual(prefill.out, lanes.out, `prefill vs tiles of 16, shuffle ${shuffle}`);
      }
    });
  }

  it('refuses a tile or blocks chosen for it', () => {
    const shape = { rows: 8, k: 8, prefill: true };
    expect(() => new LinearKernel(gpu.device, { ...shape, tileN: 16 })).toThrow(/chooses its own tile/);
    expect(() => new LinearKernel(gpu.device, { ...shape, rowBlock: 4 })).toThrow(/chooses its own tile/);
  });
});

describe('linear kernel, blocks of 4 rows', () => {
  const oneLaneARow = { wordsPerLane: Number.POSITIVE_INFINITY, rowBlock: 1 } as const;
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    for (const [tokens, tileN] of [
      [1, 1],
      [7, 4],
      [13, 5],
      [7, 8],
    ]) {
      it(`gives the bits of one lane a row: ${dtype}, ${tokens} tokens, tiles of ${tileN}`, async () => {
        // 131 rows: the last block of 4 hangs over the end.
        const c = { rows: 131, k: 136, dtype, tokens, tileN, bias: true, accumulate: true };
        const blocked = await runLinear({ ...c, rowBlock: 4 }, new Rng(7));
        const lanes = await runLinear({ ...c, ...oneLaneARow }, new Rng(7));
        expectBitwiseEqual(blocked.out, lanes.out, 'blocked vs one lane a row');
      });
    }
  }

  it('refuses tiles of more than 8 tokens', () => {
    expect(() => new LinearKernel(gpu.device, { rows: 8, k: 8, tileN: 9, rowBlock: 4 })).toThrow(/tileN 1 to 8/);
  });
});

describe('linear kernel, subgroup shuffles', () => {
  it('are used where the device has subgroups', () => {
    if (!gpu.device.features.has('subgroups')) {
      expect(gpu.subgroupShuffle).toBe(1);
      return;
    }
    expect(gpu.subgroupShuffle).toBeGreaterThan(1);
    const { subgroupMinSize } = gpu.adapter.info;
    if (subgroupMinSize) expect(gpu.subgroupShuffle).toBeLessThanOrEqual(subgroupMinSize);
  });

  // Lanes a row: 64 (k = 1024 f32 words at 2 a lane: four strides in workgroup memory before
  // the shuffles), 8, and 2 (fewer lanes than a subgroup: shuffles alone).
  for (const [k, wordsPerLane] of [
    [1024, 2],
    [256, 8],
    [64, 8],
  ]) {
    for (const [tokens, tileN] of [
      [1, 1],
      [13, 16],
    ]) {
      it(`give the bits of workgroup memory: k ${k}, ${wordsPerLane} words a lane, ${tokens} tokens`, async () => {
        const c = { rows: 67, k, wordsPerLane, tokens, tileN, bias: true, accumulate: true };
        const memory = await runLinear({ ...c, shuffle: 1 }, new Rng(11));
        for (let shuffle = 2; shuffle <= gpu.subgroupShuffle; shuffle *= 2) {
          const shuffled = await runLinear({ ...c, shuffle }, new Rng(11));
          expectBitwiseEqual(shuffled.out, memory.out, `shuffles across ${shuffle} lanes vs workgroup memory`);
        }
        expectClose(memory.out, memory.expected, TOLERANCE, 'y');
      });
    }
  }

  it('refuses a width that is not a power of two', () => {
    expect(() => new LinearKernel(gpu.device, { rows: 8, k: 8, shuffle: 3 })).toThrow(/power of two/);
  });
});
