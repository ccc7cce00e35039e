/**
 * RMSNorm fused into the linear layer that reads it (linear_norm.wgsl, the GPU profile's token
 * tiles): for every tile and for prefill steps (which run the norm's own kernel first), the
 * layer gives the bits of norm.wgsl followed by the plain layer, whatever the norm's lanes,
 * and the reference's values within the linear layer's tolerance (linear-epilogues.gpu.test.ts
 * says why atol 1e-4, rtol 1e-4; the norm's inputs are O(1), its scale about 1.7).
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
import { NormKernel } from './ops';
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

describe('RMSNorm fused into a linear layer (GPU profile)', () => {
  it.each([
    [48, 1024, 'F32', { kind: 'store' }, 256],
    [40, 264, 'F16', { kind: 'accumulate' }, 256],
    [64, 64, 'F32', { kind: 'store' }, 256], // more lanes than values
    [36, 256, 'Q4F16', { kind: 'gate', activation: 'silu' }, 4],
    [96, 512, 'BF16', { kind: 'gate', activation: 'silu' }, 64],
  ] as [number, number, WeightDType, LinearOutput, number][])(
    'rows %i, k %i, %s weights, %o, a norm of %i lanes: the bits of the norm and the plain layer',
    async (rows, k, dtype, output, lanes) => {
      const rng = new Rng(rows + k);
      const { packed, values } = packWeights(dtype, rng.floats(rows * k));
      const weight = upload(packed);
      const bias = rng.floats(rows);
      const normWeight = rng.floats(k, 0.5, 1.5);
      const biasBuffer = upload(bias);
      const normBuffer = upload(normWeight);
      const shape = { rows, k, dtype };
      const norm = new NormKernel(device, k, EPS, lanes);
      const plain = new LinearLayer(device, shape, output, GPU_PROFILE, gpu.subgroupShuffle);
      const fused = new LinearLayer(device, shape, output, GPU_PROFILE, gpu.subgroupShuffle, undefined, {
        eps: EPS,
        lanes,
      });
      // Decode four rows a thread too (quantized layers): the prologue serves every row a thread holds.
      const fourRows = { ...GPU_PROFILE, fourRowsMinThreads: 0 };
      const fusedFour = new LinearLayer(device, shape, output, fourRows, gpu.subgroupShuffle, undefined, {
        eps: EPS,
        lanes,
      });
      const outputs = output.kind === 'gate' ? rows / 2 : rows;

      for (const tokens of [1, 2, 5, 9, 16, 23]) {
        const x = rng.floats(tokens * k, -2, 2);
        const start = rng.floats(tokens * outputs); // what an accumulating layer adds to
        const xBuffer = upload(x);
        const run = async (layer: LinearLayer, readsNorm: boolean) => {
          const y = upload(start.slice(), 'y');
          const normed = createStorage(device, tokens * k * 4, 'normed'); // zeros, unless the norm runs
          const binds = layer.bind({
            step: step.buffer,
            weight,
            bias: biasBuffer,
            x: normed,
            y,
            norm: { x: xBuffer, weight: normBuffer },
          });
          const normBind = norm.bind({ step: step.buffer, weight: normBuffer, x: xBuffer, out: normed });
          step.write(tokens);
          await runPass(device, (pass) => {
            if (!readsNorm) norm.encode(pass, normBind, tokens);
            layer.encode(pass, binds, tokens);
          });
          return readFloats(device, y, tokens * outputs);
        };
        // Up to 16 tokens a token tile reads the norm itself; 23 run the prefill kernel after the norm's.
        expect(fused.readsNorm(tokens)).toBe(tokens <= 16);
        const want = await run(plain, false);
        expectBitwiseEqual(await run(fused, fused.readsNorm(tokens)), want, `${tokens} tokens`);
        if (tokens === 1) expectBitwiseEqual(await run(fusedFour, true), want, 'a token, four rows a thread');

        const sums = linear(rmsNorm(x, normWeight, EPS), values, rows, bias);
        const expected = new Float32Array(tokens * outputs);
        for (let n = 0; n < tokens; n++) {
          const row = sums.subarray(n * rows, (n + 1) * rows);
          if (output.kind === 'gate')
            expected.set(siluGate(row.subarray(0, outputs), row.subarray(outputs)), n * outputs);
          else
            for (let r = 0; r < rows; r++)
              expected[n * rows + r] = row[r] + (output.kind === 'accumulate' ? start[n * rows + r] : 0);
        }
        expectClose(want, expected, TOLERANCE, `${tokens} tokens against the reference`);
      }
    },
  );
});
