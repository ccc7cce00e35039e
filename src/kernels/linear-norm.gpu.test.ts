/**
 * RMSNorm folded into the linear layer that reads it (linear_norm.wgsl, the GPU profile's token
 * tiles; norm_lanes.wgsl before its prefill kernel): a token's row is the same bits in a step
 * of any size, decode, verify tiles and prefill alike, and four rows a thread or one; the values
 * are the reference's (the norm, then the layer) within the linear layer's tolerance
 * (linear-epilogues.gpu.test.ts says why atol 1e-4, rtol 1e-4; the norm's inputs are O(1), its
 * scale about 1.7). The bits are not norm.wgsl's followed by the plain layer: the folded sum of
 * squares goes in the layer's order, and inv scales the dot product, not each value.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { WeightDType } from '../loader/weights';
import { linear } from '../ref/linear';
import { rmsNorm, siluGate } from '../ref/ops';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { readFloats, runPass, testGpu } from '../testing/gpu';
import { packWeights } from '../testing/weights';
import { Rng } from '../util/rng';
import type { LinearOutput } from './linear';
import { LinearLayer } from './linear-layer';
import { GPU_PROFILE } from './profile';
import { StepUniform } from './step';

const TOLERANCE = { atol: 1e-4, rtol: 1e-4 };
const EPS = 1e-5;

let gpu: Gpu;
let device: GPUDevice;
let step: StepUniform;
beforeAll(async () => {
  gpu = await testGpu();
  device = gpu.device;
  step = new StepUniform(device);
});

const upload = (data: ArrayBufferView, label = 'data') => uploadBuffer(device, data, STORAGE, label);

describe('RMSNorm folded into a linear layer (GPU profile)', () => {
  it.each([
    [48, 1024, 'F32', { kind: 'store' }],
    [40, 264, 'F16', { kind: 'accumulate' }],
    [64, 64, 'F32', { kind: 'store' }], // more lanes than values
    [36, 256, 'Q4F16', { kind: 'gate', activation: 'silu' }],
    [32, 512, 'Q8_0', { kind: 'store' }], // a unit of one chunk
    [96, 512, 'BF16', { kind: 'gate', activation: 'silu' }],
  ] as [number, number, WeightDType, LinearOutput][])(
    "rows %i, k %i, %s weights, %o: a token's bits in any step, and the reference's values",
    async (rows, k, dtype, output) => {
      const rng = new Rng(rows + k);
      const { packed, values } = packWeights(dtype, rng.floats(rows * k));
      const weight = upload(packed);
      const bias = rng.floats(rows);
      const normWeight = rng.floats(k, 0.5, 1.5);
      const biasBuffer = upload(bias);
      const normBuffer = upload(normWeight);
      const shape = { rows, k, dtype };
      const norm = { eps: EPS };
      const folded = new LinearLayer(device, shape, output, GPU_PROFILE, gpu.subgroupShuffle, undefined, norm);
      expect(folded.foldsNorm).toBe(true);
      // Without shuffles the lanes meet in workgroup memory alone; four rows a thread serve
      // decode steps and verify tiles of quantized layers where their threads are many.
      const unshuffled = new LinearLayer(device, shape, output, GPU_PROFILE, 1, undefined, norm);
      const fourRows = { ...GPU_PROFILE, fourRowsMinThreads: 0 };
      const foldedFour = new LinearLayer(device, shape, output, fourRows, gpu.subgroupShuffle, undefined, norm);
      const outputs = output.kind === 'gate' ? rows / 2 : rows;

      // Up to 16 tokens a token tile runs; 23 run norm_lanes.wgsl and the prefill kernel.
      const x = rng.floats(23 * k, -2, 2);
      const start = rng.floats(23 * outputs); // what an accumulating layer adds to
      const run = async (layer: LinearLayer, first: number, tokens: number) => {
        const y = upload(start.slice(first * outputs, (first + tokens) * outputs), 'y');
        const binds = layer.bind({
          step: step.buffer,
          weight,
          bias: biasBuffer,
          x: createStorage(device, tokens * k * 4, 'normed'), // the prefill norm's x * g
          y,
          norm: {
            x: upload(x.subarray(first * k, (first + tokens) * k)),
            weight: normBuffer,
            scale: createStorage(device, tokens * 4, 'norm scale'),
          },
        });
        step.write(tokens);
        await runPass(device, (pass) => layer.encode(pass, binds, tokens));
        return readFloats(device, y, tokens * outputs);
      };
      const alone = new Float32Array(23 * outputs);
      for (let n = 0; n < 23; n++) alone.set(await run(folded, n, 1), n * outputs);
      for (const tokens of [2, 5, 9, 16, 23]) {
        const want = alone.subarray(0, tokens * outputs);
        expectBitwiseEqual(await run(folded, 0, tokens), want, `${tokens} tokens against each alone`);
      }
      expectBitwiseEqual(await run(foldedFour, 3, 1), alone.subarray(3 * outputs, 4 * outputs), 'four rows a thread');
      for (const tokens of [5, 9]) {
        const want = alone.subarray(0, tokens * outputs);
        expectBitwiseEqual(await run(foldedFour, 0, tokens), want, `four rows a thread, ${tokens} tokens`);
      }
      expectBitwiseEqual(await run(unshuffled, 0, 23), alone, 'without shuffles, 23 tokens');
      expectBitwiseEqual(await run(unshuffled, 0, 5), alone.subarray(0, 5 * outputs), 'without shuffles, 5 tokens');

      const sums = linear(rmsNorm(x, normWeight, EPS), values, rows, bias);
      const expected = new Float32Array(23 * outputs);
      for (let n = 0; n < 23; n++) {
        const row = sums.subarray(n * rows, (n + 1) * rows);
        if (output.kind === 'gate')
          expected.set(siluGate(row.subarray(0, outputs), row.subarray(outputs)), n * outputs);
        else
          for (let r = 0; r < rows; r++)
            expected[n * rows + r] = row[r] + (output.kind === 'accumulate' ? start[n * rows + r] : 0);
      }
      expectClose(alone, expected, TOLERANCE, 'against the reference');
    },
  );
});
