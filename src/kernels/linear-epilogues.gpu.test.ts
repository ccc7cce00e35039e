/**
 * The linear layer's epilogues (epilogue_gate.wgsl: SwiGLU and GeGLU; epilogue_rope.wgsl; an
 * activation of each row, activation.wgsl, for an MLP without a gate) on both
 * profiles' kernels (on the GPU profile, steps of more than 16 tokens run the prefill kernel),
 * against the reference: the layer (src/ref/linear.ts), then SwiGLU's gate
 * or RoPE and the KV-cache layout (src/ref/ops.ts). A pair's rows are summed just as without
 * an epilogue: the values the rope epilogue copies into the cache carry the bits of the plain
 * layer's rows, computed one token at a time.
 *
 * Tolerance: a sum of k products of values in [-1, 1] reaches ~20 in size at k = 1024, with
 * a float32 rounding error of ~1e-6 (~2e-6 summed in order, as on the CPU profile); the gate
 * and the rotation multiply one sum's error by another sum (or by cos and sin) and add a few
 * roundings and the GPU's exp: atol 1e-4, rtol 1e-4.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { Rope } from '../loader/config';
import type { WeightDType } from '../loader/weights';
import { linear } from '../ref/linear';
import { activate, applyRope, geluGate, siluGate } from '../ref/ops';
import { ropeTables } from '../ref/rope';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { asKvCache, readFloats, readKvCache, runPass, testGpu } from '../testing/gpu';
import { packWeights } from '../testing/weights';
import { Rng } from '../util/rng';
import { type KvFormat, kvValueBytes } from './kv-cache';
import { LinearKernel, type LinearOutput, type LinearShape } from './linear';
import { LinearLayer, layerVariants } from './linear-layer';
import { CPU_PROFILE, GPU_PROFILE, type KernelProfile } from './profile';
import { StepUniform } from './step';

const TOLERANCE = { atol: 1e-4, rtol: 1e-4 };

/** Plain RoPE, and Ministral 3's over a context of 16: YaRN, and queries scaled from position 16 on (their own tables). */
const ROPES: Record<'plain' | 'Ministral 3', Rope> = {
  plain: { theta: 10000, scaling: { type: 'default' } },
  'Ministral 3': {
    theta: 1e6,
    scaling: {
      type: 'yarn',
      factor: 16,
      originalMaxPositions: 16,
      betaFast: 32,
      betaSlow: 1,
      truncate: true,
      attentionFactor: 1.2,
    },
    queryScaling: { beta: 0.1, interval: 16 },
  },
};

let gpu: Gpu;
let device: GPUDevice;
let step: StepUniform;
beforeAll(async () => {
  gpu = await testGpu();
  device = gpu.device;
  step = new StepUniform(device);
});

const upload = (data: ArrayBufferView, label = 'data') => uploadBuffer(device, data, STORAGE, label);

/** Random weights (rows, k) in `dtype`, bias and inputs; `values` are what the packed weights stand for. */
function layer(rng: Rng, rows: number, k: number, tokens: number, dtype: WeightDType, withBias: boolean) {
  const { packed, values } = packWeights(dtype, rng.floats(rows * k));
  const bias = withBias ? rng.floats(rows) : new Float32Array(rows);
  const x = rng.floats(tokens * k);
  return { weight: upload(packed), values, bias, biasBuffer: upload(bias), x, xBuffer: upload(x) };
}

describe.each([
  ['GPU', GPU_PROFILE],
  ['CPU', CPU_PROFILE],
])('linear epilogues, %s profile', (_, profile) => {
  /** The layer as a model of this profile runs it: the pipeline it chooses for each step. */
  const modelLayer = (shape: LinearShape, output: LinearOutput) =>
    new LinearLayer(device, shape, output, profile, gpu.subgroupShuffle);

  it.each([
    [37, 100, 1, 'F32', false, 'silu'],
    [64, 1024, 7, 'F32', true, 'silu'], // GPU profile: 64 lanes an output, both rows' sums through the tree
    [64, 264, 18, 'F16', true, 'gelu-tanh'],
    [40, 1024, 37, 'F32', true, 'silu'], // GPU profile: prefill tiles of 4 pairs x 8 tokens
    [50, 136, 5, 'BF16', false, 'gelu-tanh'],
    [40, 1024, 37, 'F32', true, 'gelu-tanh'],
    [48, 256, 9, 'Q4F16', false, 'silu'],
    [40, 1024, 37, 'Q4F32', true, 'silu'],
    [40, 256, 37, 'Q5_K', true, 'silu'], // GPU profile: the fifth bits staged beside the scales
    [40, 256, 37, 'Q6_K', true, 'silu'], // and the high bits and second pairs
    [40, 256, 37, 'IQ4', true, 'silu'], // and the levels
    [50, 136, 5, 'BF16', true, 'gelu'],
  ] as const)(
    'gate: f %i, k %i, %i tokens, %s weights, bias %s, %s',
    async (f, k, tokens, dtype, withBias, activation) => {
      const rng = new Rng(21);
      const l = layer(rng, 2 * f, k, tokens, dtype, withBias);
      const y = createStorage(device, tokens * f * 4, 'gated');
      const kernel = modelLayer({ rows: 2 * f, k, dtype }, { kind: 'gate', activation });
      const binds = kernel.bind({ step: step.buffer, weight: l.weight, bias: l.biasBuffer, x: l.xBuffer, y });
      step.write(tokens);
      await runPass(device, (pass) => kernel.encode(pass, binds, tokens));

      const gateUp = linear(l.x, l.values, 2 * f, l.bias);
      const expected = new Float32Array(tokens * f);
      const gate =
        activation === 'silu'
          ? siluGate
          : activation === 'gelu'
            ? (g: Float32Array, up: Float32Array) => activate(g, 'gelu').map((a, i) => a * up[i])
            : geluGate;
      for (let n = 0; n < tokens; n++) {
        const row = gateUp.subarray(n * 2 * f, (n + 1) * 2 * f);
        expected.set(gate(row.subarray(0, f), row.subarray(f)), n * f);
      }
      expectClose(await readFloats(device, y, expected.length), expected, TOLERANCE, `${activation}(gate) * up`);
    },
  );

  it.each([
    [37, 100, 1, 'F32', false, 'gelu-tanh'],
    [64, 1024, 7, 'F16', true, 'gelu-tanh'],
    [40, 1024, 37, 'F32', true, 'gelu-tanh'], // GPU profile: the prefill kernel
    [48, 256, 9, 'Q4F16', true, 'silu'],
    [64, 264, 18, 'F16', true, 'gelu'], // the exact GELU (GPT-NeoX): erf as WGSL has none
    [40, 1024, 37, 'F32', true, 'gelu'],
  ] as const)(
    'activate (an MLP without a gate): rows %i, k %i, %i tokens, %s weights, bias %s, %s',
    async (rows, k, tokens, dtype, withBias, activation) => {
      const rng = new Rng(23);
      const l = layer(rng, rows, k, tokens, dtype, withBias);
      const y = createStorage(device, tokens * rows * 4, 'activated');
      const kernel = modelLayer({ rows, k, dtype }, { kind: 'activate', activation });
      const binds = kernel.bind({ step: step.buffer, weight: l.weight, bias: l.biasBuffer, x: l.xBuffer, y });
      step.write(tokens);
      await runPass(device, (pass) => kernel.encode(pass, binds, tokens));
      const expected = activate(linear(l.x, l.values, rows, l.bias), activation);
      expectClose(await readFloats(device, y, expected.length), expected, TOLERANCE, `${activation}(x W^T + b)`);
    },
  );

  it.each([
    [4, 2, 32, 64, 3, 0, 'F32', false],
    [6, 2, 16, 96, 5, 9, 'F16', true],
    [2, 1, 64, 128, 1, 40, 'F32', true],
    [8, 2, 64, 512, 17, 3, 'BF16', true],
    [4, 2, 32, 128, 6, 2, 'Q4F16', false],
    [8, 2, 64, 512, 17, 3, 'Q4F16', true],
    [4, 2, 32, 64, 6, 13, 'F16', false, 'Ministral 3'],
  ] as [number, number, number, number, number, number, WeightDType, boolean, (keyof typeof ROPES)?][])(
    'rope: nh %i, nkv %i, hd %i, k %i: %i tokens from position %i, %s weights, bias %s, %s RoPE',
    async (nh, nkv, hd, k, tokens, start, dtype, withBias, rope = 'plain') => {
      for (const kv of ['f32', 'f16'] as const) {
        await ropeCase(profile, nh, nkv, hd, k, tokens, start, dtype, withBias, kv, ROPES[rope]);
      }
    },
  );

  it('refuses shapes an epilogue cannot pair', () => {
    const heads = { numHeads: 4, numKvHeads: 2, headDim: 16 };
    expect(() => modelLayer({ rows: 7, k: 8, dtype: 'F32' }, { kind: 'gate', activation: 'silu' })).toThrow(
      /even count/,
    );
    expect(() => modelLayer({ rows: 100, k: 8, dtype: 'F32' }, { kind: 'rope', heads })).toThrow(/rope needs/);
  });
});

/** The rope epilogue writing a KV cache in `kv`: an f16 cache holds the f32 results rounded to halves. */
async function ropeCase(
  profile: KernelProfile,
  nh: number,
  nkv: number,
  hd: number,
  k: number,
  tokens: number,
  start: number,
  dtype: WeightDType,
  withBias: boolean,
  kv: KvFormat,
  ropeKind: Rope,
) {
  const rng = new Rng(22);
  const rows = (nh + 2 * nkv) * hd;
  const capacity = 64;
  const l = layer(rng, rows, k, tokens, dtype, withBias);
  const tables = ropeTables(ropeKind, hd, capacity);
  const { queryTable } = tables;
  const q = createStorage(device, tokens * nh * hd * 4, 'q');
  const kCache = createStorage(device, capacity * nkv * hd * kvValueBytes(kv), 'k');
  const vCache = createStorage(device, capacity * nkv * hd * kvValueBytes(kv), 'v');
  const heads = { numHeads: nh, numKvHeads: nkv, headDim: hd };
  const shape = { rows, k, dtype };
  const kernel = new LinearLayer(device, shape, { kind: 'rope', heads, kv, queryTable }, profile, gpu.subgroupShuffle);
  const rope = { cos: upload(tables.cos), sin: upload(tables.sin), kCache, vCache };
  const binds = kernel.bind({
    step: step.buffer,
    weight: l.weight,
    bias: l.biasBuffer,
    x: l.xBuffer,
    y: q,
    rope,
  });
  step.write(tokens, start);
  await runPass(device, (pass) => kernel.encode(pass, binds, tokens));

  // The same layer without an epilogue, a token a workgroup: the plain rows' bits.
  const [decode] = layerVariants(shape, profile, gpu.subgroupShuffle);
  const plain = new LinearKernel(device, shape, { kind: 'store' }, decode);
  const qkv = createStorage(device, tokens * rows * 4, 'qkv');
  const plainBind = plain.bind({ step: step.buffer, weight: l.weight, bias: l.biasBuffer, x: l.xBuffer, y: qkv });
  await runPass(device, (pass) => plain.encode(pass, plainBind, tokens));
  const plainRows = await readFloats(device, qkv, tokens * rows);

  const gotQ = await readFloats(device, q, tokens * nh * hd);
  const cache = (buffer: GPUBuffer) => readKvCache(device, buffer, kv, capacity * nkv * hd);
  const toCache = (values: Float32Array) => asKvCache(values, kv);
  const gotK = await cache(kCache);
  const gotV = await cache(vCache);
  // A rounding to f16 may go either way (WGSL leaves it open): one f16 step of tolerance.
  const cached = kv === 'f32' ? TOLERANCE : { atol: 2e-3, rtol: 1e-3 };
  const reference = linear(l.x, l.values, rows, l.bias);
  for (let n = 0; n < tokens; n++) {
    const row = reference.subarray(n * rows, (n + 1) * rows);
    const wantQ = row.slice(0, nh * hd);
    const wantK = row.slice(nh * hd, (nh + nkv) * hd);
    applyRope(wantQ, nh, start + n, tables.cos.subarray(queryTable), tables.sin.subarray(queryTable));
    applyRope(wantK, nkv, start + n, tables.cos, tables.sin);
    const at = (start + n) * nkv * hd;
    expectClose(gotQ.subarray(n * nh * hd, (n + 1) * nh * hd), wantQ, TOLERANCE, `q of token ${n}`);
    expectClose(gotK.subarray(at, at + nkv * hd), toCache(wantK), cached, `${kv} k of token ${n}`);
    const plainV = plainRows.subarray(n * rows + (nh + nkv) * hd, (n + 1) * rows);
    if (kv === 'f32')
      expectBitwiseEqual(gotV.subarray(at, at + nkv * hd), plainV, `v of token ${n} vs the plain layer`);
    expectClose(gotV.subarray(at, at + nkv * hd), toCache(plainV), cached, `${kv} v of token ${n}`);
    expectClose(plainV, row.subarray((nh + nkv) * hd), TOLERANCE, `v of token ${n}`);
  }
}

describe('linear epilogues, four rows a thread', () => {
  // A thread holds two pairs: its own and the one WG / LANES pairs on; outputs that leave a
  // workgroup's second pairs past the end, and lanes from 2 to 64; a decode step and a verify
  // tile of 5 tokens.
  const four = { ...GPU_PROFILE, fourRowsMinThreads: 0 };
  it.each([
    [37, 128, 1, 'Q4F32'],
    [64, 1024, 1, 'Q4F16'],
    [50, 256, 1, 'Q4_K'],
    [48, 256, 5, 'Q4F16'],
    [40, 256, 5, 'Q6_K'],
    [37, 128, 5, 'Q8_0'],
  ] as const)(
    'gate: f %i, k %i, %i token(s), %s weights: the bits of two rows a thread',
    async (f, k, tokens, dtype) => {
      const l = layer(new Rng(24), 2 * f, k, tokens, dtype, true);
      const gated = async (profile: KernelProfile) => {
        const y = createStorage(device, tokens * f * 4, 'gated');
        const kernel = new LinearLayer(
          device,
          { rows: 2 * f, k, dtype },
          { kind: 'gate', activation: 'silu' },
          profile,
          gpu.subgroupShuffle,
        );
        const binds = kernel.bind({ step: step.buffer, weight: l.weight, bias: l.biasBuffer, x: l.xBuffer, y });
        step.write(tokens);
        await runPass(device, (pass) => kernel.encode(pass, binds, tokens));
        return readFloats(device, y, tokens * f);
      };
      const got = await gated(four);
      expectBitwiseEqual(got, await gated(GPU_PROFILE), 'four rows a thread vs two');
      const gateUp = linear(l.x, l.values, 2 * f, l.bias);
      for (let n = 0; n < tokens; n++) {
        const row = gateUp.subarray(n * 2 * f, (n + 1) * 2 * f);
        const want = siluGate(row.subarray(0, f), row.subarray(f));
        expectClose(got.subarray(n * f, (n + 1) * f), want, TOLERANCE, `silu(gate) * up, token ${n}`);
      }
    },
  );

  it.each([
    [4, 2, 32, 64, 1, 9, 'Q4F32'],
    [8, 2, 64, 512, 1, 3, 'Q4F16'],
    [6, 2, 16, 96, 1, 0, 'Q8_0'],
    [8, 2, 64, 512, 5, 3, 'Q4F16'],
    [4, 2, 32, 64, 5, 9, 'Q4F32'],
  ] as [number, number, number, number, number, number, WeightDType][])(
    'rope: nh %i, nkv %i, hd %i, k %i: %i token(s) from position %i, %s weights',
    async (nh, nkv, hd, k, tokens, start, dtype) => {
      await ropeCase(four, nh, nkv, hd, k, tokens, start, dtype, true, 'f32', ROPES.plain);
    },
  );
});
