/**
 * The Gated DeltaNet kernels (short_conv.wgsl, gated_delta.wgsl) against the reference
 * (ref/gated-delta.ts) over steps of several sizes: the outputs agree within float32 rounding
 * of sums over a head (atol 1e-5, rtol 1e-3: exp and inverseSqrt are the GPU's), are the same
 * bits however the tokens are split into steps, and stay so after the sequence is cut back
 * within its window and goes on from there (the rings).
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { LinearAttention } from '../loader/config';
import { causalConvRow, deltaRuleStep, gatedRmsNorm, l2normHeads, sigmoid, softplus } from '../ref/gated-delta';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { readFloats, runPass, testGpu } from '../testing/gpu';
import { Rng } from '../util/rng';
import {
  convRingRows,
  GatedDeltaKernel,
  linearChannels,
  linearProjectionWidth,
  linearShapeProblem,
  ShortConvKernel,
} from './gated-delta';
import { StepUniform } from './step';

const TOLERANCE = { atol: 1e-5, rtol: 1e-3 };
const EPS = 1e-6;

let gpu: Gpu;
let device: GPUDevice;
let step: StepUniform;
beforeAll(async () => {
  gpu = await testGpu();
  device = gpu.device;
  step = new StepUniform(device);
});

const random = (rng: Rng, n: number, scale = 1) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);

/** A layer's weights: the convolution, -exp(A_log), dt_bias, the norm's weight. */
function layer(shape: LinearAttention, seed: number) {
  const rng = new Rng(seed);
  const channels = linearChannels(shape);
  return {
    conv: random(rng, channels * shape.convKernel, 0.5),
    negA: Float32Array.from({ length: shape.valueHeads }, () => -Math.exp(Math.log(1 + 15 * rng.next()))),
    dtBias: random(rng, shape.valueHeads),
    norm: Float32Array.from({ length: shape.valueDim }, () => 0.5 + rng.next()),
  };
}

/** The reference's outputs for projection rows at positions 0, 1, ..., (positions, valueHeads valueDim). */
function reference(shape: LinearAttention, w: ReturnType<typeof layer>, rows: Float32Array[]): Float32Array {
  const { keyHeads, valueHeads, keyDim, valueDim, convKernel } = shape;
  const channels = linearChannels(shape);
  const state = new Float32Array(valueHeads * keyDim * valueDim);
  const out = new Float32Array(rows.length * valueHeads * valueDim);
  rows.forEach((row, p) => {
    const window = Array.from({ length: convKernel }, (_, j) => rows[p - convKernel + 1 + j]?.subarray(0, channels));
    const mixed = causalConvRow(window, w.conv, convKernel);
    const q = l2normHeads(mixed.slice(0, keyHeads * keyDim), keyHeads, 1e-6, Math.fround(1 / Math.sqrt(keyDim)));
    const k = l2normHeads(mixed.slice(keyHeads * keyDim, 2 * keyHeads * keyDim), keyHeads);
    const z = row.subarray(channels, channels + valueHeads * valueDim);
    const b = row.subarray(channels + valueHeads * valueDim, channels + valueHeads * valueDim + valueHeads);
    const a = row.subarray(channels + valueHeads * valueDim + valueHeads);
    const decay = a.map((ah, h) => Math.exp(Math.fround(w.negA[h] * softplus(ah + w.dtBias[h]))));
    const o = deltaRuleStep(shape, state, q, k, mixed.subarray(2 * keyHeads * keyDim), decay, b.map(sigmoid));
    out.set(gatedRmsNorm(o, z, w.norm, EPS), p * valueHeads * valueDim);
  });
  return out;
}

/** The two kernels on one sequence's rings: `run(start, rows)` is a step of rows.length tokens at `start`. */
function gpuLayer(shape: LinearAttention, w: ReturnType<typeof layer>, window: number, maxTokens: number) {
  const channels = linearChannels(shape);
  const width = linearProjectionWidth(shape);
  const heads = shape.valueHeads * shape.valueDim;
  const buffer = (values: number) => uploadBuffer(device, new Float32Array(values), STORAGE, 'test');
  const proj = buffer(maxTokens * width);
  const mixed = buffer(maxTokens * channels);
  const out = buffer(maxTokens * heads);
  const ring = buffer(convRingRows(shape, window) * channels);
  const states = buffer(window * shape.valueHeads * shape.keyDim * shape.valueDim);
  const params = uploadBuffer(device, Float32Array.from([...w.negA, ...w.dtBias, ...w.norm]), STORAGE, 'params');
  const weight = uploadBuffer(device, w.conv, STORAGE, 'conv');
  const conv = new ShortConvKernel(device, shape, window);
  const delta = new GatedDeltaKernel(device, shape, window, EPS);
  const convBind = conv.bind({ step: step.buffer, weight, x: proj, out: mixed, ring });
  const deltaBind = delta.bind({ step: step.buffer, mixed, proj, params, states, out });
  return async (start: number, rows: Float32Array[]): Promise<Float32Array> => {
    for (const [n, row] of rows.entries()) device.queue.writeBuffer(proj, n * width * 4, Float32Array.from(row));
    step.write(rows.length, start);
    await runPass(device, (pass) => {
      conv.encode(pass, convBind);
      delta.encode(pass, deltaBind);
    });
    return readFloats(device, out, rows.length * heads);
  };
}

/** Runs `rows` from position 0 in steps of the given sizes; the outputs of every token, in order. */
async function inSteps(run: ReturnType<typeof gpuLayer>, rows: Float32Array[], sizes: number[]) {
  const parts: Float32Array[] = [];
  let at = 0;
  for (const size of sizes) {
    parts.push(await run(at, rows.slice(at, at + size)));
    at += size;
  }
  return Float32Array.from(parts.flatMap((part) => [...part]));
}

const SHAPES: [string, LinearAttention][] = [
  ['two value heads per key head, 16 x 16', { keyHeads: 2, valueHeads: 4, keyDim: 16, valueDim: 16, convKernel: 4 }],
  ["Qwen3.5's 128 x 128 heads", { keyHeads: 1, valueHeads: 2, keyDim: 128, valueDim: 128, convKernel: 4 }],
  [
    "value heads in llama.cpp's tiled order",
    { keyHeads: 2, valueHeads: 4, keyDim: 16, valueDim: 16, convKernel: 4, valueHeadOrder: 'tiled' },
  ],
];

describe.each(SHAPES)('Gated DeltaNet kernels, %s', (_, shape) => {
  const rows = (seed: number, count: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: count }, () => random(rng, linearProjectionWidth(shape), 2));
  };

  it('agree with the reference over steps of several sizes', async () => {
    const w = layer(shape, 1);
    const input = rows(2, 9);
    const run = gpuLayer(shape, w, 4, 9);
    expectClose(await inSteps(run, input, [5, 1, 3]), reference(shape, w, input), TOLERANCE, 'outputs');
  });

  it('give the same bits however the tokens are split into steps', async () => {
    const w = layer(shape, 3);
    const input = rows(4, 9);
    const whole = await inSteps(gpuLayer(shape, w, 4, 9), input, [9]);
    expectBitwiseEqual(await inSteps(gpuLayer(shape, w, 4, 9), input, [2, 3, 4]), whole, 'steps of 2, 3, 4');
    expectBitwiseEqual(await inSteps(gpuLayer(shape, w, 4, 9), input, Array(9).fill(1)), whole, 'token by token');
  });

  it('go on from a position up to window - 1 back as if the later tokens had never run', async () => {
    const w = layer(shape, 5);
    const [input, other] = [rows(6, 9), rows(7, 2)];
    const run = gpuLayer(shape, w, 4, 9);
    await inSteps(run, input, [5, 4]); // positions 7 and 8, inside the second step, are then cut back
    const again = await run(7, other);
    const kept = [...input.slice(0, 7), ...other];
    const fresh = await inSteps(gpuLayer(shape, w, 4, 9), kept, [7, 2]);
    expectBitwiseEqual(again, fresh.subarray(7 * shape.valueHeads * shape.valueDim), 'after the cut');
    expectClose(again, reference(shape, w, kept).subarray(fresh.length - again.length), TOLERANCE);
  });
});

describe('Gated DeltaNet shapes', () => {
  it('are refused where a thread could not hold its column or a workgroup its head', () => {
    const base: LinearAttention = { keyHeads: 16, valueHeads: 32, keyDim: 128, valueDim: 128, convKernel: 4 };
    expect(linearShapeProblem(base, 256)).toBeUndefined();
    expect(linearShapeProblem({ ...base, keyDim: 256 }, 256)).toMatch(/key heads of 256/);
    expect(linearShapeProblem({ ...base, valueDim: 96 }, 256)).toMatch(/value heads of 96/);
    expect(linearShapeProblem({ ...base, convKernel: 1 }, 256)).toMatch(/1 taps/);
  });
});
