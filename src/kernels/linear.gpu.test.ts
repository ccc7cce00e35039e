/**
 * The linear layer (linear.wgsl and, past its largest tile, linear_prefill.wgsl for the GPU
 * profile; linear_blocked.wgsl for the CPU profile) against the reference on random shapes
 * (rows and k not multiples of the workgroup or the block, token counts across tile
 * boundaries), and its batch invariance: a row's result is bit-identical whether it is computed
 * alone (decode), in a verify batch or in a prefill. The blocked kernel also gives the same bits
 * as linear.wgsl with one lane a row (a quantized row's lanes taking whole words or their u32s),
 * the prefill kernel the same bits as its tiles (both ways for quantized rows), and a reduction
 * ended by subgroup shuffles the same bits as one through workgroup memory, and a quantized row's
 * lanes loading several units before adding them the same bits as one unit at a time.
 *
 * Tolerance: float32 sums of k products of values in [-1, 1] carry a rounding error of order
 * sqrt(k) * 2^-24 * |terms|; atol 1e-5 and rtol 1e-5 leave a wide margin at k <= 2048.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, readBuffer, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import { isQuantized, type WeightDType } from '../loader/weights';
import { linear } from '../ref/linear';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { expectNoGpuErrors, testGpu } from '../testing/gpu';
import { packWeights } from '../testing/weights';
import { Rng } from '../util/rng';
import { LinearKernel, type LinearVariant, linearLanes } from './linear';
import { layerVariants } from './linear-layer';
import { valuesPerWord } from './linear-shape';
import { CPU_PROFILE, GPU_PROFILE, type KernelProfile } from './profile';
import { StepUniform } from './step';

const TOLERANCE = { atol: 1e-5, rtol: 1e-5 };

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

interface Case {
  rows: number;
  k: number;
  dtype?: WeightDType;
  tokens: number;
  bias?: boolean;
  accumulate?: boolean;
}

/** Runs `variant` of the layer of case `c` on random weights and inputs; returns its output and the reference's. */
async function runLinear(c: Case, variant: LinearVariant, rng: Rng) {
  const { device } = gpu;
  const dtype = c.dtype ?? 'F32';
  const { packed, values: weight } = packWeights(dtype, rng.floats(c.rows * c.k));
  const bias = c.bias ? rng.floats(c.rows) : new Float32Array(c.rows);
  const x = rng.floats(c.tokens * c.k);
  const y0 = c.accumulate ? rng.floats(c.tokens * c.rows) : new Float32Array(c.tokens * c.rows);

  const output = { kind: c.accumulate ? 'accumulate' : 'store' } as const;
  const kernel = new LinearKernel(device, { rows: c.rows, k: c.k, dtype }, output, variant);
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
  return { out, expected, packed, x };
}

/**
 * The variant a model of `profile` builds for `c`'s layer, with a tile of `tileN` tokens (within
 * the profile's largest): two rows a thread where the profile gives a tile that many tokens them.
 */
function profileVariant(c: Case, profile: KernelProfile, tileN: number): LinearVariant {
  const [decode] = layerVariants({ rows: c.rows, k: c.k, dtype: c.dtype ?? 'F32' }, profile, gpu.subgroupShuffle);
  const tile = Math.min(tileN, profile.tiles[profile.tiles.length - 1]);
  if (decode.kind !== 'lanes') return { ...decode, tileN: tile } as LinearVariant;
  return { ...decode, tileN: tile, twoRows: tile >= profile.twoRowsFrom };
}

/** linear.wgsl with `lanes` lanes a row. */
const lanes = (lanes: number, tileN: number, shuffle = 1): LinearVariant => ({ kind: 'lanes', lanes, tileN, shuffle });
const lanesFor = (k: number, dtype: WeightDType, wordsPerLane: number) =>
  linearLanes(k / valuesPerWord(dtype), wordsPerLane);

describe.each([
  ['GPU', GPU_PROFILE],
  ['CPU', CPU_PROFILE],
])('linear kernel, %s profile', (_, profile) => {
  const rng = new Rng(1234);
  const cases: (Case & { tileN: number })[] = [
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
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q4F16' },
    { rows: 129, k: 2048, tokens: 1, tileN: 1, dtype: 'Q4F16', accumulate: true },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'Q4F32', bias: true },
    { rows: 31, k: 64, tokens: 9, tileN: 9, dtype: 'Q4F32' },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q4F16', accumulate: true, bias: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q4_0' },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'Q4_0', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q4_0', accumulate: true },
    { rows: 37, k: 256, tokens: 1, tileN: 1, dtype: 'Q4_K' },
    { rows: 65, k: 512, tokens: 5, tileN: 5, dtype: 'Q4_K', bias: true },
    { rows: 50, k: 256, tokens: 37, tileN: 16, dtype: 'Q4_K', accumulate: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q5_K' },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'Q5_K', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q5_K', accumulate: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q6_K' },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'Q6_K', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q6_K', accumulate: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q6A' },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'Q6A', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q6A', accumulate: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'IQ4' },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'IQ4', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'IQ4', accumulate: true },
    // Level groups with a lattice type's levels (IQ4's layout, other levels).
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'IQ3_XXS' },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'IQ2_XXS', bias: true },
    { rows: 41, k: 128, tokens: 3, tileN: 3, dtype: 'IQ3_S' },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'IQ1_S', accumulate: true },
    // And with a scale a 16.
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'IQ2_XS', bias: true },
    { rows: 65, k: 256, tokens: 5, tileN: 5, dtype: 'IQ1_M' },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'IQ2_S', accumulate: true },
    { rows: 41, k: 128, tokens: 7, tileN: 8, dtype: 'Q3_K', bias: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q8_0' },
    { rows: 65, k: 288, tokens: 5, tileN: 5, dtype: 'Q8_0', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q8_0', accumulate: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q8' },
    { rows: 65, k: 272, tokens: 5, tileN: 5, dtype: 'Q8', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q8', accumulate: true },
    { rows: 37, k: 96, tokens: 1, tileN: 1, dtype: 'Q8A' },
    { rows: 65, k: 272, tokens: 5, tileN: 5, dtype: 'Q8A', bias: true },
    { rows: 50, k: 320, tokens: 37, tileN: 16, dtype: 'Q8A', accumulate: true },
  ];
  for (const c of cases) {
    it(`matches the reference: ${JSON.stringify(c)}`, async () => {
      const { out, expected } = await runLinear(c, profileVariant(c, profile, c.tileN), rng);
      expectClose(out, expected, TOLERANCE, 'y');
    });
  }

  it.each([
    { rows: 70, k: 520, tokens: 21, dtype: 'F32' },
    { rows: 70, k: 544, tokens: 21, dtype: 'Q4F16' },
  ] as const)(
    'is batch-invariant: a token gives the same bits alone, in a verify batch and in a prefill tile ($dtype)',
    async (c) => {
      const seed = 99;
      // The same weights and inputs (same seed), computed three ways.
      const prefill = await runLinear(c, profileVariant(c, profile, 16), new Rng(seed));
      for (const tileN of profile.tiles) {
        const verify = await runLinear(c, profileVariant(c, profile, tileN), new Rng(seed));
        expectBitwiseEqual(verify.out, prefill.out, `tiles of ${tileN} vs the largest`);
      }
      const { device } = gpu;
      const decode = new LinearKernel(device, c, { kind: 'store' }, profileVariant(c, profile, 1));
      const step = new StepUniform(device);
      const weight = uploadBuffer(device, prefill.packed, STORAGE, 'weight');
      const bias = createStorage(device, c.rows * 4, 'bias');
      for (const n of [0, 15, 16, 20]) {
        const x = uploadBuffer(device, prefill.x.subarray(n * c.k, (n + 1) * c.k), STORAGE, 'x');
        const y = createStorage(device, c.rows * 4, 'y');
        const bindGroup = decode.bind({ step: step.buffer, weight, bias, x, y });
        step.write(1);
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        decode.encode(pass, bindGroup, 1);
        pass.end();
        device.queue.submit([encoder.finish()]);
        const alone = new Float32Array(await readBuffer(device, y));
        expectBitwiseEqual(alone, prefill.out.subarray(n * c.rows, (n + 1) * c.rows), `token ${n} alone vs prefill`);
      }
    },
  );

  it('refuses a k that is not a multiple of the weight word', () => {
    const variant = profileVariant({ rows: 4, k: 8, tokens: 1 }, profile, 1);
    expect(() => new LinearKernel(gpu.device, { rows: 4, k: 6, dtype: 'F32' }, { kind: 'store' }, variant)).toThrow(
      /multiple of 4/,
    );
    expect(() => new LinearKernel(gpu.device, { rows: 4, k: 12, dtype: 'F16' }, { kind: 'store' }, variant)).toThrow(
      /multiple of 8/,
    );
    expect(() => new LinearKernel(gpu.device, { rows: 4, k: 48, dtype: 'Q4F16' }, { kind: 'store' }, variant)).toThrow(
      /multiple of 32/,
    );
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
    { k: 1024, dtype: 'Q4F16', wordsPerLane: 2 },
    { k: 160, dtype: 'Q4F32', wordsPerLane: 1 },
    { k: 96, dtype: 'Q4F16', wordsPerLane: Number.POSITIVE_INFINITY },
    { k: 256, dtype: 'Q4_0', wordsPerLane: 2 },
    { k: 512, dtype: 'Q4_K', wordsPerLane: 2 },
    { k: 544, dtype: 'Q5_K', wordsPerLane: 2 },
    { k: 544, dtype: 'Q6_K', wordsPerLane: 2 }, // its staging (HAS_SCALE2, HAS_HIGH) is Q6A's too
    { k: 544, dtype: 'IQ4', wordsPerLane: 2 },
    { k: 544, dtype: 'Q8_0', wordsPerLane: 2 },
    { k: 528, dtype: 'Q8', wordsPerLane: 2 },
    { k: 528, dtype: 'Q8A', wordsPerLane: 2 },
  ] as const;
  // Quantized rows as the GPU profile splits them (a lane takes a word's u32s, quantized.wgsl);
  // whole words too for the formats whose staging differs most (MLC's groups, Q4_K's pairs):
  // each case compiles its kernels anew, about 7 s on SwiftShader.
  const wholeWords = new Set(['Q4F16', 'Q4_K']);
  for (const shape of cases) {
    const splits = !isQuantized(shape.dtype) ? [false] : wholeWords.has(shape.dtype) ? [false, true] : [true];
    for (const splitGroups of splits) {
      const laneCount = lanesFor(shape.k, shape.dtype, shape.wordsPerLane);
      const split = splitGroups ? ', groups split' : '';
      it(`gives linear.wgsl's bits and matches the reference: ${shape.dtype}, k ${shape.k}, ${laneCount} lanes a row${split}`, async () => {
        for (const shuffle of new Set([1, gpu.subgroupShuffle])) {
          const c = { k: shape.k, dtype: shape.dtype, rows: 75, tokens: 37, bias: true, accumulate: true };
          const prefill = await runLinear(c, { kind: 'prefill', lanes: laneCount, shuffle, splitGroups }, new Rng(5));
          expectClose(prefill.out, prefill.expected, TOLERANCE, 'y');
          const tiles = await runLinear(
            c,
            { ...lanes(laneCount, 16, shuffle), splitGroups } as LinearVariant,
            new Rng(5),
          );
          expectBitwiseEqual(prefill.out, tiles.out, `prefill vs tiles of 16, shuffle ${shuffle}`);
        }
      });
    }
  }
});

describe('linear kernel, blocks of 4 rows', () => {
  for (const dtype of [
    'F32',
    'F16',
    'BF16',
    'Q4F16',
    'Q4F32',
    'Q4_0',
    'Q4_K',
    'Q5_K',
    'Q6_K',
    'Q6A',
    'IQ4',
    'Q8_0',
    'Q8',
    'Q8A',
  ] as const) {
    for (const [tokens, tileN] of [
      [1, 1],
      [7, 4],
      [13, 5],
      [7, 8],
    ]) {
      it(`gives the bits of one lane a row: ${dtype}, ${tokens} tokens, tiles of ${tileN}`, async () => {
        // 131 rows: the last block of 4 hangs over the end.
        // Q4_K: super-blocks of 256; other q4, q5, q6, IQ4 and Q8_0: groups of 32; q8: of 16.
        const k = dtype === 'Q4_K' ? 256 : dtype === 'Q8' || dtype === 'Q8A' ? 144 : isQuantized(dtype) ? 160 : 136;
        const c = { rows: 131, k, dtype, tokens, bias: true, accumulate: true };
        const blocked = await runLinear(c, { kind: 'blocked', tileN }, new Rng(7));
        const oneLane = await runLinear(c, lanes(1, tileN), new Rng(7));
        expectBitwiseEqual(blocked.out, oneLane.out, 'blocked vs one lane a row');
        if (isQuantized(dtype)) {
          // One lane a row takes a word's u32s in the word's order: the same sum.
          const split = await runLinear(c, { ...lanes(1, tileN), splitGroups: true } as LinearVariant, new Rng(7));
          expectBitwiseEqual(blocked.out, split.out, 'blocked vs one lane a row, groups split');
        }
      });
    }
  }

  it('refuses tiles of more than 8 tokens', () => {
    const shape = { rows: 8, k: 8, dtype: 'F32' } as const;
    expect(() => new LinearKernel(gpu.device, shape, { kind: 'store' }, { kind: 'blocked', tileN: 9 })).toThrow(
      /tileN 1 to 8/,
    );
  });
});

/**
 * Runs case `c` one row a thread and with `rows` (two or four a thread), on the same weights and
 * inputs: the same bits, and the reference's values.
 */
async function expectBitsOfOneRow(
  c: Case & { lanes: number; tileN: number; splitGroups?: boolean },
  rows: { twoRows: true; fourRows?: true },
  seed: number,
  label: string,
): Promise<void> {
  const shuffle = Math.min(gpu.subgroupShuffle, c.lanes);
  const variant = { ...lanes(c.lanes, c.tileN, shuffle), splitGroups: c.splitGroups ?? false } as LinearVariant;
  const one = await runLinear(c, variant, new Rng(seed));
  const many = await runLinear(c, { ...variant, ...rows } as LinearVariant, new Rng(seed));
  expectBitwiseEqual(many.out, one.out, label);
  expectClose(many.out, many.expected, TOLERANCE, 'y');
}

describe('linear kernel, two rows a thread', () => {
  // Rows that leave a workgroup's second rows past the end; lanes from 1 to 64 (a tree in
  // workgroup memory for both rows); every kind of weight word; a decode, a verify and a
  // 16-token tile.
  const cases: (Case & { lanes: number; tileN: number; splitGroups?: boolean })[] = [
    { rows: 67, k: 1024, tokens: 1, tileN: 1, lanes: 64, dtype: 'F32', bias: true },
    { rows: 67, k: 256, tokens: 5, tileN: 5, lanes: 8, dtype: 'F32', accumulate: true },
    { rows: 100, k: 264, tokens: 13, tileN: 16, lanes: 1, dtype: 'F16' },
    { rows: 41, k: 136, tokens: 9, tileN: 9, lanes: 4, dtype: 'BF16', bias: true },
    { rows: 65, k: 1024, tokens: 1, tileN: 1, lanes: 32, dtype: 'Q4F16' },
    { rows: 65, k: 1024, tokens: 5, tileN: 5, lanes: 32, dtype: 'Q4F16', bias: true },
    { rows: 37, k: 320, tokens: 7, tileN: 9, lanes: 2, dtype: 'Q6_K', accumulate: true },
    { rows: 37, k: 256, tokens: 3, tileN: 3, lanes: 4, dtype: 'Q8_0' },
    { rows: 65, k: 1024, tokens: 1, tileN: 1, lanes: 32, dtype: 'Q4F16', splitGroups: true },
    { rows: 37, k: 320, tokens: 7, tileN: 9, lanes: 8, dtype: 'Q6_K', splitGroups: true },
    { rows: 37, k: 256, tokens: 3, tileN: 3, lanes: 16, dtype: 'Q8_0', splitGroups: true },
  ];
  for (const c of cases) {
    const split = c.splitGroups ? ', groups split' : '';
    it(`gives the bits of one row a thread: ${c.dtype}, ${c.lanes} lanes, ${c.tokens} tokens in tiles of ${c.tileN}${split}`, async () => {
      await expectBitsOfOneRow(c, { twoRows: true }, 13, 'two rows a thread vs one');
    });
  }
});

describe('linear kernel, four rows a thread', () => {
  // Rows that leave a workgroup's third and fourth rows past the end (or only its fourth);
  // lanes from 1 to 64 (a tree in workgroup memory for all four rows); every kind of word; a
  // decode step, and tiles of 2 to 12 tokens (each of the three sets of sums a row, and a tile
  // the step does not fill).
  const cases: (Case & { lanes: number; tileN: number; splitGroups?: boolean })[] = [
    { rows: 67, k: 1024, tokens: 1, tileN: 1, lanes: 64, dtype: 'F32', bias: true },
    { rows: 131, k: 256, tokens: 1, tileN: 1, lanes: 8, dtype: 'F32', accumulate: true },
    { rows: 300, k: 264, tokens: 1, tileN: 1, lanes: 1, dtype: 'F16' },
    { rows: 105, k: 136, tokens: 1, tileN: 1, lanes: 4, dtype: 'BF16', bias: true },
    { rows: 65, k: 1024, tokens: 1, tileN: 1, lanes: 32, dtype: 'Q4F16' },
    { rows: 97, k: 1024, tokens: 1, tileN: 1, lanes: 16, dtype: 'Q4F32', bias: true, splitGroups: true },
    { rows: 37, k: 320, tokens: 1, tileN: 1, lanes: 8, dtype: 'Q6_K', splitGroups: true },
    { rows: 37, k: 256, tokens: 1, tileN: 1, lanes: 4, dtype: 'Q8_0' },
    { rows: 67, k: 256, tokens: 2, tileN: 2, lanes: 8, dtype: 'F32', accumulate: true },
    { rows: 65, k: 1024, tokens: 5, tileN: 5, lanes: 32, dtype: 'Q4F16', bias: true, splitGroups: true },
    { rows: 131, k: 264, tokens: 8, tileN: 8, lanes: 1, dtype: 'F16' },
    { rows: 37, k: 320, tokens: 7, tileN: 9, lanes: 8, dtype: 'Q6_K', splitGroups: true },
    { rows: 97, k: 512, tokens: 12, tileN: 12, lanes: 64, dtype: 'Q4F32', accumulate: true, splitGroups: true },
    { rows: 45, k: 256, tokens: 10, tileN: 12, lanes: 4, dtype: 'Q8_0', bias: true },
  ];
  for (const c of cases) {
    const split = c.splitGroups ? ', groups split' : '';
    it(`gives the bits of one row a thread: ${c.rows}x${c.k} ${c.dtype}, ${c.lanes} lanes, ${c.tokens} token(s) in tiles of ${c.tileN}${split}`, async () => {
      await expectBitsOfOneRow(c, { twoRows: true, fourRows: true }, 17, 'four rows a thread vs one');
    });
  }

  it('serves tiles of up to 12 tokens', () => {
    const variant = { ...lanes(8, 16), twoRows: true, fourRows: true } as LinearVariant;
    expect(() => new LinearKernel(gpu.device, { rows: 8, k: 64, dtype: 'F32' }, { kind: 'store' }, variant)).toThrow(
      /four rows a thread serve tiles of up to 12 tokens, not 16/,
    );
  });
});

describe('linear kernel, quantized units in flight', () => {
  // Units a lane that divide into whole batches of those in flight and ones that leave a batch
  // part full (a lane's last batch holding 1, 2 or 3 units, or 1 of 2); split units and whole words; one,
  // two and four rows a thread; groups with second scales, high bits, a scale a two words and
  // levels.
  const cases: (Case & { lanes: number; tileN: number; inFlight: number; rowsAThread: 1 | 2 | 4; split: boolean })[] = [
    { rows: 65, k: 1024, tokens: 1, tileN: 1, lanes: 32, dtype: 'Q4F16', inFlight: 4, rowsAThread: 4, split: true },
    { rows: 37, k: 320, tokens: 7, tileN: 9, lanes: 8, dtype: 'Q6_K', inFlight: 4, rowsAThread: 2, split: true },
    { rows: 45, k: 224, tokens: 1, tileN: 1, lanes: 8, dtype: 'Q4F16', inFlight: 4, rowsAThread: 4, split: true },
    { rows: 37, k: 224, tokens: 3, tileN: 3, lanes: 4, dtype: 'Q8_0', inFlight: 2, rowsAThread: 2, split: false },
    { rows: 41, k: 96, tokens: 1, tileN: 1, lanes: 2, dtype: 'Q5_K', inFlight: 4, rowsAThread: 1, split: true },
    { rows: 33, k: 160, tokens: 5, tileN: 5, lanes: 16, dtype: 'IQ2_XS', inFlight: 4, rowsAThread: 2, split: true },
    { rows: 70, k: 512, tokens: 2, tileN: 2, lanes: 16, dtype: 'Q4F32', inFlight: 2, rowsAThread: 1, split: true },
  ];
  for (const c of cases) {
    const words = c.split ? 'split units' : 'whole words';
    it(`gives the bits of one unit at a time: ${c.rows}x${c.k} ${c.dtype}, ${c.inFlight} in flight, ${c.lanes} lanes, ${c.rowsAThread} row(s) a thread, ${c.tokens} tokens in tiles of ${c.tileN}, ${words}`, async () => {
      const shuffle = Math.min(gpu.subgroupShuffle, c.lanes);
      const rows = c.rowsAThread === 4 ? { twoRows: true, fourRows: true } : { twoRows: c.rowsAThread === 2 };
      const variant = { ...lanes(c.lanes, c.tileN, shuffle), ...rows, splitGroups: c.split } as LinearVariant;
      const one = await runLinear(c, variant, new Rng(19));
      const inFlight = await runLinear(c, { ...variant, unitsInFlight: c.inFlight } as LinearVariant, new Rng(19));
      expectBitwiseEqual(inFlight.out, one.out, `${c.inFlight} units in flight vs one`);
      expectClose(inFlight.out, inFlight.expected, TOLERANCE, 'y');
    });
  }

  it('refuses a number of units other than 1, 2 or 4', () => {
    const variant = { ...lanes(8, 1), unitsInFlight: 3 } as LinearVariant;
    expect(() => new LinearKernel(gpu.device, { rows: 8, k: 64, dtype: 'Q4F16' }, { kind: 'store' }, variant)).toThrow(
      /3 units in flight/,
    );
  });
});

describe('linear kernel, subgroup shuffles', () => {
  it('are used where the device has subgroups', (context) => {
    if (!gpu.device.features.has('subgroups')) {
      expect(gpu.subgroupShuffle).toBe(1);
      context.skip('this adapter has no subgroups: only the fallback was checked');
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
      it(`give the bits of workgroup memory: k ${k}, ${wordsPerLane} words a lane, ${tokens} tokens`, async (context) => {
        if (gpu.subgroupShuffle < 2) {
          context.skip(`this adapter's subgroup shuffles reach ${gpu.subgroupShuffle} lane: nothing to compare`);
        }
        const c = { rows: 67, k, tokens, bias: true, accumulate: true };
        const laneCount = lanesFor(k, 'F32', wordsPerLane);
        const memory = await runLinear(c, lanes(laneCount, tileN, 1), new Rng(11));
        for (let shuffle = 2; shuffle <= gpu.subgroupShuffle; shuffle *= 2) {
          const shuffled = await runLinear(c, lanes(laneCount, tileN, shuffle), new Rng(11));
          expectBitwiseEqual(shuffled.out, memory.out, `shuffles across ${shuffle} lanes vs workgroup memory`);
        }
        expectClose(memory.out, memory.expected, TOLERANCE, 'y');
      });
    }
  }

  it('refuses a width that is not a power of two', () => {
    const shape = { rows: 8, k: 8, dtype: 'F32' } as const;
    expect(() => new LinearKernel(gpu.device, shape, { kind: 'store' }, lanes(1, 1, 3))).toThrow(/power of two/);
  });
});
