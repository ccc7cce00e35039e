/**
 * The forward pass's small kernels against their references (src/ref/ops.ts) on random data.
 * (RoPE and the gates are epilogues of the linear layer: linear-epilogues.gpu.test.ts.)
 * Tolerances: the embedding lookup and soft capping agree to float32 rounding (atol 1e-6,
 * rtol 1e-5); RMSNorm, the per-head norm with RoPE, and attention sum up to a few thousand
 * terms (atol 1e-5, rtol 1e-4); argmax must agree exactly.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, STORAGE, uploadBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import { applyRope, attention, layerNorm, rmsNorm, softcap } from '../ref/ops';
import { ropeTables } from '../ref/rope';
import { argmax, runnerUp } from '../sampling/sampling';
import { GPU_MASKED_LOGIT, maskRows, maskWords } from '../sampling/token-mask';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { asKvCache, readFloats, readKvCache, runPass, testGpu } from '../testing/gpu';
import { packWeights } from '../testing/weights';
import { Rng } from '../util/rng';
import { type AttentionBinds, AttentionKernel, serialRows } from './attention';
import { kvValueBytes } from './kv-cache';
import {
  ArgmaxKernel,
  ColumnsKernel,
  EmbedKernel,
  NormKernel,
  QkNormRopeKernel,
  SoftcapKernel,
  TokenMaskKernel,
} from './ops';
import { StepUniform } from './step';

const EXACT = { atol: 1e-6, rtol: 1e-5 };
const SUMS = { atol: 1e-5, rtol: 1e-4 };

let gpu: Gpu;
let device: GPUDevice;
let step: StepUniform;
beforeAll(async () => {
  gpu = await testGpu();
  device = gpu.device;
  step = new StepUniform(device);
});

const upload = (data: ArrayBufferView, label = 'data') => uploadBuffer(device, data, STORAGE, label);

describe('embedding', () => {
  it.each([
    ['F32', 37, 24, 1],
    ['F16', 50, 100, 1],
    ['F32', 37, 24, Math.sqrt(24)], // Gemma scales the rows by sqrt(d)
    ['Q4F16', 50, 96, 1],
    ['Q4F32', 37, 64, Math.sqrt(64)],
    ['Q4_0', 41, 96, 1],
    ['Q4_K', 41, 256, 1],
    ['Q5_K', 41, 96, 1],
    ['Q6_K', 41, 96, 1],
    ['Q6A', 41, 96, 1],
    ['IQ4', 41, 96, 1],
    ['IQ3_S', 41, 96, 1],
    ['IQ2_XXS', 41, 64, 1],
    ['IQ2_S', 41, 96, 1],
    ['Q8_0', 41, 96, 1],
    ['Q8', 41, 96, 1],
    ['Q8A', 41, 96, 1],
  ] as const)('looks up %s rows (vocab %i, d %i), scaled by %d', async (dtype, vocab, d, scale) => {
    const rng = new Rng(1);
    const { packed, values: table } = packWeights(dtype, rng.floats(vocab * d));
    const tokens = Uint32Array.from([3, 0, vocab - 1, 3, 17]);
    const x = createStorage(device, tokens.length * d * 4, 'x');
    const kernel = new EmbedKernel(device, d, dtype, scale, { offset: 0, count: vocab });
    const bindGroup = kernel.bind({ step: step.buffer, table: upload(packed), tokens: upload(tokens), x });
    step.write(tokens.length);
    await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens.length));
    const expected = new Float32Array(tokens.length * d);
    tokens.forEach((t, n) => {
      expected.set(
        table.subarray(t * d, (t + 1) * d).map((v) => v * Math.fround(scale)),
        n * d,
      );
    });
    expectClose(await readFloats(device, x, expected.length), expected, EXACT, 'x');
  });

  it("writes the first d columns of wider rows, leaving the rest as they were (an EAGLE-1 head's [embedding; hidden])", async () => {
    const [vocab, d] = [41, 96];
    const rng = new Rng(3);
    const { packed, values: table } = packWeights('Q4F16', rng.floats(vocab * d));
    const tokens = Uint32Array.from([3, 0, vocab - 1]);
    const rows = rng.floats(tokens.length * 2 * d);
    const x = upload(rows, 'x: the hidden state in the last d columns');
    const kernel = new EmbedKernel(device, d, 'Q4F16', 1, { offset: 0, count: vocab }, 2 * d);
    const bindGroup = kernel.bind({ step: step.buffer, table: upload(packed), tokens: upload(tokens), x });
    step.write(tokens.length);
    await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens.length));
    const expected = rows.slice();
    for (const [n, t] of tokens.entries()) expected.set(table.subarray(t * d, (t + 1) * d), n * 2 * d);
    expectClose(await readFloats(device, x, expected.length), expected, EXACT, 'x');
  });
});

describe('norm', () => {
  it.each([
    [1, 64, 64],
    [7, 100, 64],
    [3, 576, 64],
    [3, 576, 256],
    [2, 2048, 256],
    [7, 100, 4],
    [3, 576, 4],
  ])('normalises %i tokens of %i, %i threads a token', async (tokens, d, workgroup) => {
    const rng = new Rng(2);
    const x = rng.floats(tokens * d, -3, 3);
    const weight = rng.floats(d, 0.5, 1.5);
    const out = createStorage(device, x.byteLength, 'out');
    const kernel = new NormKernel(device, d, 1e-5, workgroup);
    const bindGroup = kernel.bind({ step: step.buffer, weight: upload(weight), x: upload(x), out });
    step.write(tokens);
    await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens));
    expectClose(await readFloats(device, out, x.length), rmsNorm(x, weight, 1e-5), SUMS, 'out');
  });

  it.each([
    [1, 64, 64],
    [7, 100, 64],
    [3, 2048, 256],
    [5, 100, 4],
  ])(
    "LayerNorm (StableLM's): %i tokens of %i, %i threads a token, the mean taken away and the bias added",
    async (tokens, d, workgroup) => {
      const rng = new Rng(5);
      // Rows far from zero mean: a norm that forgot to centre them is far off.
      const x = rng.floats(tokens * d, 1, 7);
      const [weight, bias] = [rng.floats(d, 0.5, 1.5), rng.floats(d, -0.5, 0.5)];
      const both = new Float32Array(2 * d);
      both.set(weight);
      both.set(bias, d);
      const out = createStorage(device, x.byteLength, 'out');
      const kernel = new NormKernel(device, d, 1e-5, workgroup, { centred: true });
      const bindGroup = kernel.bind({ step: step.buffer, weight: upload(both), x: upload(x), out });
      step.write(tokens);
      await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens));
      expectClose(await readFloats(device, out, x.length), layerNorm(x, weight, bias, 1e-5), SUMS, 'out');
    },
  );

  it.each([64, 4])('adds the norm into its output when it accumulates (%i threads)', async (workgroup) => {
    const rng = new Rng(3);
    const [tokens, d] = [5, 100];
    const x = rng.floats(tokens * d, -3, 3);
    const weight = rng.floats(d, 0.5, 1.5);
    const before = rng.floats(tokens * d);
    const out = upload(before, 'out');
    const kernel = new NormKernel(device, d, 1e-6, workgroup, { accumulate: true });
    const bindGroup = kernel.bind({ step: step.buffer, weight: upload(weight), x: upload(x), out });
    step.write(tokens);
    await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens));
    const want = rmsNorm(x, weight, 1e-6).map((v, i) => v + before[i]);
    expectClose(await readFloats(device, out, x.length), want, SUMS, 'out');
  });

  it.each([64, 4])(
    "two norms side by side in rows twice as wide, in one dispatch: an EAGLE head's [norm(embedding); norm(hidden)] (%i threads)",
    async (workgroup) => {
      const rng = new Rng(4);
      const [tokens, d] = [5, 96];
      const [e, h] = [upload(rng.floats(tokens * d, -3, 3)), upload(rng.floats(tokens * d, -2, 2))];
      const [we, wh] = [upload(rng.floats(d, 0.5, 1.5)), upload(rng.floats(d, 0.5, 1.5))];
      const into = (offset: number) => ({ into: { stride: 2 * d, offset } });
      const pair = new NormKernel(device, d, 1e-5, workgroup, { ...into(0), pair: true });
      const out = createStorage(device, 2 * tokens * d * 4, 'out');
      const bind = pair.bind({ step: step.buffer, weight: we, x: e, out, weight_b: wh, x_b: h });
      expect(() => pair.bind({ step: step.buffer, weight: we, x: e, out })).toThrow(/both weights/);
      step.write(tokens);
      await runPass(device, (pass) => pair.encode(pass, bind, tokens));
      const [ne, nh] = [
        rmsNorm(await readFloats(device, e, tokens * d), await readFloats(device, we, d), 1e-5),
        rmsNorm(await readFloats(device, h, tokens * d), await readFloats(device, wh, d), 1e-5),
      ];
      const want = new Float32Array(2 * tokens * d);
      for (let n = 0; n < tokens; n++) {
        want.set(ne.subarray(n * d, (n + 1) * d), 2 * n * d);
        want.set(nh.subarray(n * d, (n + 1) * d), (2 * n + 1) * d);
      }
      const got = await readFloats(device, out, want.length);
      expectClose(got, want, SUMS, 'out');
      // Each norm alone into its columns gives the same bits: the pair sums in the same order.
      const alone = createStorage(device, 2 * tokens * d * 4, 'alone');
      const [first, second] = [0, d].map((offset) => new NormKernel(device, d, 1e-5, workgroup, into(offset)));
      const binds = [
        first.bind({ step: step.buffer, weight: we, x: e, out: alone }),
        second.bind({ step: step.buffer, weight: wh, x: h, out: alone }),
      ];
      await runPass(device, (pass) => {
        first.encode(pass, binds[0], tokens);
        second.encode(pass, binds[1], tokens);
      });
      expect(await readFloats(device, alone, want.length)).toEqual(got);
    },
  );
});

describe('columns', () => {
  it("copies each token's row into a block of columns (a target gathering its EAGLE features)", async () => {
    const rng = new Rng(5);
    const [tokens, d] = [4, 70];
    const x = rng.floats(tokens * d);
    const before = rng.floats(tokens * 3 * d);
    const out = upload(before, 'out');
    const kernel = new ColumnsKernel(device, d, { stride: 3 * d, offset: d });
    const bindGroup = kernel.bind({ step: step.buffer, x: upload(x), out });
    step.write(tokens - 1); // the step's count bounds the rows: the last stays as it was
    await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens));
    const want = before.slice();
    for (let n = 0; n < tokens - 1; n++) want.set(x.subarray(n * d, (n + 1) * d), n * 3 * d + d);
    expectClose(await readFloats(device, out, want.length), want, EXACT, 'out');
  });

  it.each(['out', 'x'] as const)(
    'copies rows to or from the sequence position of the step (%s at the start: features stored, or read by a head)',
    async (atStart) => {
      const rng = new Rng(6);
      const [tokens, d, start, positions] = [3, 70, 5, 10];
      const x = rng.floats((atStart === 'x' ? positions : tokens) * d);
      const before = rng.floats((atStart === 'out' ? positions : tokens) * d);
      const out = upload(before, 'out');
      const kernel = new ColumnsKernel(device, d, { stride: d, offset: 0, atStart });
      const bindGroup = kernel.bind({ step: step.buffer, x: upload(x), out });
      step.write(tokens, start);
      await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens));
      const want = before.slice();
      const [from, to] = atStart === 'x' ? [start, 0] : [0, start];
      want.set(x.subarray(from * d, (from + tokens) * d), to * d);
      expectClose(await readFloats(device, out, want.length), want, EXACT, 'out');
    },
  );
});

describe('q/k norm with RoPE, per head or over the whole projection', () => {
  it.each([
    [4, 2, 32, 3, 0, 64, 'f32', 'head'],
    [2, 1, 128, 2, 9, 64, 'f32', 'head'],
    [4, 2, 32, 5, 17, 4, 'f32', 'head'],
    [4, 2, 32, 5, 17, 64, 'f16', 'head'],
    [2, 1, 128, 2, 9, 4, 'f16', 'head'],
    // OLMo 2: a norm over all of a token's query heads, and one over its key heads.
    [4, 2, 32, 3, 5, 64, 'f32', 'projection'],
    [6, 2, 16, 4, 0, 8, 'f16', 'projection'],
  ] as const)(
    'nh %i, nkv %i, hd %i: %i tokens from position %i, %i threads, %s KV cache, a norm a %s',
    async (nh, nkv, hd, tokens, start, workgroup, kv, span) => {
      const rng = new Rng(8);
      const capacity = 32;
      const heads = nh + 2 * nkv;
      const qkv = rng.floats(tokens * heads * hd, -2, 2);
      const whole = span === 'projection';
      const qNorm = rng.floats(whole ? nh * hd : hd, 0.5, 1.5);
      const kNorm = rng.floats(whole ? nkv * hd : hd, 0.5, 1.5);
      const tables = ropeTables({ theta: 1000000, scaling: { type: 'default' } }, hd, capacity);
      const q = createStorage(device, tokens * nh * hd * 4, 'q');
      const kCache = createStorage(device, capacity * nkv * hd * kvValueBytes(kv), 'k');
      const vCache = createStorage(device, capacity * nkv * hd * kvValueBytes(kv), 'v');
      const heads3 = { numHeads: nh, numKvHeads: nkv, headDim: hd };
      const kernel = new QkNormRopeKernel(device, heads3, 1e-6, workgroup, kv, span);
      const bindGroup = kernel.bind({
        step: step.buffer,
        qkv: upload(qkv),
        qNorm: upload(qNorm),
        kNorm: upload(kNorm),
        cos: upload(tables.cos),
        sin: upload(tables.sin),
        q,
        kCache,
        vCache,
      });
      step.write(tokens, start);
      await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens));
      const gotQ = await readFloats(device, q, tokens * nh * hd);
      // An f16 cache holds the results rounded to halves, either way (WGSL leaves the direction open).
      const cache = (buffer: GPUBuffer) => readKvCache(device, buffer, kv, capacity * nkv * hd);
      const toCache = (values: Float32Array) => asKvCache(values, kv);
      const cached = kv === 'f32' ? SUMS : { atol: 2e-3, rtol: 1e-3 };
      const gotK = await cache(kCache);
      const gotV = await cache(vCache);
      for (let n = 0; n < tokens; n++) {
        const row = qkv.subarray(n * heads * hd, (n + 1) * heads * hd);
        const wantQ = rmsNorm(row.slice(0, nh * hd), qNorm, 1e-6);
        const wantK = rmsNorm(row.slice(nh * hd, (nh + nkv) * hd), kNorm, 1e-6);
        applyRope(wantQ, nh, start + n, tables.cos, tables.sin);
        applyRope(wantK, nkv, start + n, tables.cos, tables.sin);
        const at = (start + n) * nkv * hd;
        expectClose(gotQ.subarray(n * nh * hd, (n + 1) * nh * hd), wantQ, SUMS, `q of token ${n}`);
        expectClose(gotK.subarray(at, at + nkv * hd), toCache(wantK), cached, `k of token ${n}`);
        expectClose(
          gotV.subarray(at, at + nkv * hd),
          toCache(row.slice((nh + nkv) * hd)),
          kv === 'f32' ? EXACT : cached,
          `v of token ${n}`,
        );
      }
    },
  );
});

describe('soft capping', () => {
  it('caps logits to c tanh(x / c), rows of the step only', async () => {
    const rng = new Rng(9);
    const [rows, vocab] = [3, 1000];
    const logits = rng.floats(rows * vocab, -80, 80);
    const buffer = upload(logits);
    const kernel = new SoftcapKernel(device, vocab, 30);
    step.write(2);
    await runPass(device, (pass) => kernel.encode(pass, kernel.bind({ step: step.buffer, logits: buffer }), 2));
    const got = await readFloats(device, buffer, logits.length);
    expectClose(got.subarray(0, 2 * vocab), softcap(logits.slice(0, 2 * vocab), 30), EXACT, 'capped rows');
    expectClose(got.subarray(2 * vocab), logits.subarray(2 * vocab), EXACT, 'the row past the step');
  });
});

describe('token masks', () => {
  it.each([
    [100, 3], // a partial last word
    [151_936, 2], // Qwen2.5's vocabulary, a multiple of 32
  ])(
    'keeps the allowed logits of each row of the step and gives the rest the lowest float (vocab %i, %i rows)',
    async (vocab, rows) => {
      const rng = new Rng(12);
      const logits = rng.floats((rows + 1) * vocab, -30, 30);
      // Words of every kind: all allowed, none, and mixed bits (the high bit included).
      const masks = new Uint32Array((rows + 1) * maskWords(vocab));
      for (let i = 0; i < masks.length; i++) masks[i] = [0xffffffff, 0, rng.nextUint32(), 0x80000001][i % 4];
      const buffer = upload(logits);
      const kernel = new TokenMaskKernel(device, vocab);
      step.write(rows);
      const bind = kernel.bind({ head: step.buffer, masks: upload(masks), logits: buffer });
      await runPass(device, (pass) => kernel.encode(pass, bind, rows));
      const got = await readFloats(device, buffer, logits.length);
      const want = maskRows(logits.slice(0, rows * vocab), masks, vocab, GPU_MASKED_LOGIT);
      expectBitwiseEqual(got.subarray(0, rows * vocab), want, 'masked rows');
      expectBitwiseEqual(got.subarray(rows * vocab), logits.subarray(rows * vocab), 'the row past the step');
      expect(want.filter((l) => l === GPU_MASKED_LOGIT).length).toBeGreaterThan(rows * (vocab / 4));
      // The argmax over a masked row is the CPU's over the row masked with -Infinity.
      const cpu = maskRows(logits.slice(0, vocab), masks, vocab);
      expect(argmax(got.subarray(0, vocab))).toBe(argmax(cpu));
    },
  );
});

describe.each([
  ['workgroup', 'f32'],
  ['serial', 'f32'],
  ['tiled', 'f32'],
  ['workgroup', 'f16'],
  ['serial', 'f16'],
  ['tiled', 'f16'],
  ['grouped', 'f32'],
  ['grouped', 'f16'],
] as const)('attention, %s kernel, %s KV cache', (walk, kv) => {
  const serial = walk === 'serial';
  it.each([
    [4, 2, 32, 1, 0, {}],
    [4, 2, 32, 5, 60, {}],
    [6, 3, 16, 9, 130, {}],
    [2, 2, 64, 2, 200, {}],
    [8, 1, 128, 3, 7, {}],
    [3, 1, 256, 2, 40, {}],
    // Eight heads of 256 a KV head: a grouped workgroup holds four rows (its memory), half a
    // token's heads.
    [8, 1, 256, 3, 40, {}],
    // Gemma 2: its own scale, soft-capped scores, a window; windows inside and across tiles
    [4, 1, 32, 5, 60, { scale: 1 / Math.sqrt(24), softcap: 5, window: 8 }],
    [4, 2, 32, 9, 130, { window: 70 }],
    [4, 2, 32, 3, 0, { window: 2 }],
    // Long contexts: segments of 512 positions merged (workgroup kernel), across a segment's
    // end, and with a window that leaves the first segments empty.
    [4, 2, 32, 3, 1500, {}],
    [4, 2, 32, 2, 8200, {}], // past 8k positions: 17 segments
    [4, 2, 64, 9, 1020, {}],
    [4, 1, 32, 5, 600, { window: 100 }],
    [4, 2, 32, 2, 1100, { window: 70, softcap: 5 }],
    // Prefill-sized steps (the tiled kernel's, from TILED_ATTENTION_MIN_TOKENS): workgroups of
    // (token, head) rows, the last one part full; across a segment's end; past 8k; windows.
    [4, 2, 32, 40, 0, {}],
    [6, 3, 16, 33, 130, {}],
    [8, 1, 128, 20, 7, {}],
    [3, 1, 256, 17, 40, {}],
    [4, 2, 32, 30, 500, {}],
    [4, 2, 64, 21, 8190, {}],
    [4, 1, 32, 24, 60, { scale: 1 / Math.sqrt(24), softcap: 5, window: 8 }],
    [4, 1, 32, 19, 600, { window: 100 }],
    [4, 2, 32, 18, 1100, { window: 70, softcap: 5 }],
    // Segments of one tile for the first `fine` positions, then of 512 (the GPU profile's 2,048):
    // decode and tiled steps across the change of width, past 8k, and with a window.
    [4, 2, 32, 3, 500, { fine: 1024 }],
    [4, 2, 32, 30, 200, { fine: 512 }],
    [4, 2, 32, 3, 1500, { fine: 1024 }],
    [4, 2, 32, 2, 8200, { fine: 2048 }],
    [4, 1, 32, 19, 600, { window: 100, fine: 256 }],
  ])('nh %i, nkv %i, hd %i: %i tokens after %i cached, %o', async (nh, nkv, hd, tokens, start, options) => {
    const rng = new Rng(4);
    const capacity = start + tokens;
    const q = rng.floats(tokens * nh * hd, -2, 2);
    // An f16 cache holds the nearest halves: the reference attends to exactly those values.
    const cache = (values: Float32Array) => (kv === 'f16' ? packWeights('F16', values) : { packed: values, values });
    const keys = cache(rng.floats(capacity * nkv * hd, -2, 2));
    const values = cache(rng.floats(capacity * nkv * hd));
    const out = createStorage(device, q.byteLength, 'out');
    const { fine, ...shaped } = options as { fine?: number };
    const shape = { scale: 1 / Math.sqrt(hd), softcap: null, window: null, ...shaped };
    const kernel = new AttentionKernel(device, { numHeads: nh, numKvHeads: nkv, headDim: hd }, serial, shape, kv, {
      maxTokens: tokens,
      maxContext: capacity,
      fine,
      tiled: walk === 'tiled',
      groupedFrom: walk === 'grouped' ? 0 : undefined,
    });
    const bindGroup = kernel.bind({
      step: step.buffer,
      q: upload(q),
      kCache: upload(keys.packed),
      vCache: upload(values.packed),
      out,
    });
    step.write(tokens, start);
    await runPass(device, (pass) => kernel.encode(pass, bindGroup, tokens, start));
    const got = await readFloats(device, out, q.length);
    for (let n = 0; n < tokens; n++) {
      const want = attention(
        q.subarray(n * nh * hd, (n + 1) * nh * hd),
        keys.values,
        values.values,
        start + n + 1,
        nh,
        nkv,
        shape,
      );
      expectClose(got.subarray(n * nh * hd, (n + 1) * nh * hd), want, SUMS, `attention of token ${n}`);
    }
  });
});

/** Attention of queries `q` (rows of `width` floats) after `start` cached positions, `chunk` tokens a step. */
async function attendInChunks(
  kernel: AttentionKernel,
  q: Float32Array,
  width: number,
  cache: { kCache: GPUBuffer; vCache: GPUBuffer },
  start: number,
  chunk: number,
): Promise<Float32Array> {
  const out = createStorage(device, q.byteLength, 'out');
  const result = new Float32Array(q.length);
  for (let first = 0; first < q.length / width; first += chunk) {
    const count = Math.min(chunk, q.length / width - first);
    const queries = upload(q.slice(first * width, (first + count) * width));
    const binds = kernel.bind({ step: step.buffer, q: queries, ...cache, out });
    step.write(count, start + first);
    await runPass(device, (pass) => kernel.encode(pass, binds, count, start + first));
    result.set(await readFloats(device, out, count * width), first * width);
  }
  return result;
}

/** The labels of the pipelines `kernel` sets recording a step (into a pass that records nothing else). */
function pipelinesSet(kernel: AttentionKernel, binds: AttentionBinds, tokens: number, start: number, tree = false) {
  const labels: string[] = [];
  const pass = {
    setPipeline: (pipeline: GPUComputePipeline) => labels.push(pipeline.label),
    setBindGroup: () => {},
    dispatchWorkgroups: () => {},
  } as unknown as GPUComputePassEncoder;
  kernel.encode(pass, binds, tokens, start, tree);
  return labels;
}

describe('split and tiled attention', () => {
  it.each([
    ['f32', {}],
    ['f16', {}],
    ['f32', { window: 70, softcap: 5 }],
    ['f16', { window: 1000 }],
    // One-tile segments up to 1,024 positions, then of 512: positions 1016-1039 cross the change.
    ['f16', { fine: 1024 }],
  ] as const)(
    'give a token the same bits alone as among others, across segment ends (%s KV cache, %o)',
    async (kv, options) => {
      const [nh, nkv, hd, tokens] = [4, 2, 32, 24];
      const capacity = 8210;
      const rng = new Rng(9);
      const cache = (values: Float32Array) => (kv === 'f16' ? packWeights('F16', values).packed : values);
      const kCache = upload(cache(rng.floats(capacity * nkv * hd, -2, 2)));
      const vCache = upload(cache(rng.floats(capacity * nkv * hd)));
      const q = rng.floats(tokens * nh * hd, -2, 2);
      const { fine, ...shaped } = options as { fine?: number };
      const shape = { scale: 1 / Math.sqrt(hd), softcap: null, window: null, ...shaped };
      const kernel = (tiled: boolean, groupedFrom?: number) =>
        new AttentionKernel(device, { numHeads: nh, numKvHeads: nkv, headDim: hd }, false, shape, kv, {
          maxTokens: tokens,
          maxContext: capacity,
          fine,
          tiled,
          groupedFrom,
        });
      /** Attention of the queries as one step after `start` (tiled or not), or one token at a time. */
      const run = (start: number, kernel: AttentionKernel, together: boolean) =>
        attendInChunks(kernel, q, nh * hd, { kCache, vCache }, start, together ? tokens : 1);
      // Grouped from 1,030 positions: tokens alone after 1016 change kernel halfway.
      const [walked, tiled, grouped] = [kernel(false), kernel(true), kernel(false, 1030)];
      const binds = grouped.bind({
        step: step.buffer,
        q: upload(q),
        kCache,
        vCache,
        out: createStorage(device, 4, 'out'),
      });
      expect(pipelinesSet(grouped, binds, 1, 1028)).not.toContainEqual(expect.stringMatching(/grouped$/));
      expect(pipelinesSet(grouped, binds, 1, 1029)).toContainEqual(expect.stringMatching(/grouped$/));
      expect(pipelinesSet(grouped, binds, 5, 1100, true)).not.toContainEqual(expect.stringMatching(/grouped$/));
      // Positions 1016-1039: the last ones of segment 1 and the first of segment 2; and past 8k.
      for (const start of [1016, 8184]) {
        const alone = await run(start, walked, false);
        expectBitwiseEqual(await run(start, walked, true), alone, `split attention after ${start}, together and alone`);
        expectBitwiseEqual(await run(start, tiled, true), alone, `tiled attention after ${start} and a token alone`);
        expectBitwiseEqual(await run(start, grouped, false), alone, `grouped heads after ${start}, token by token`);
        const fives = await attendInChunks(grouped, q, nh * hd, { kCache, vCache }, start, 5);
        expectBitwiseEqual(fives, alone, `grouped heads after ${start}, five tokens a step`);
      }
    },
  );
});

describe('serial attention', () => {
  // Threads of several tokens and heads (serialRows): blocks cut short by the step's end, tokens
  // of one block whose windows start in different tiles, the heads of a KV head split or not.
  it.each([
    [4, 2, 32, {}],
    [6, 3, 16, { window: 20 }],
    [8, 2, 16, { window: 37, softcap: 5 }],
    [8, 1, 64, {}],
  ])('gives a token the same bits alone as among others: nh %i, nkv %i, hd %i, %o', async (nh, nkv, hd, options) => {
    const heads = { numHeads: nh, numKvHeads: nkv, headDim: hd };
    const tokens = 13;
    const capacity = 1100;
    const rng = new Rng(10);
    const kCache = upload(rng.floats(capacity * nkv * hd, -2, 2));
    const vCache = upload(rng.floats(capacity * nkv * hd));
    const q = rng.floats(tokens * nh * hd, -2, 2);
    const shape = { scale: 1 / Math.sqrt(hd), softcap: null, window: null, ...options };
    const kernel = new AttentionKernel(device, heads, true, shape, 'f32', { maxTokens: tokens, maxContext: capacity });
    const run = (start: number, chunk: number) => attendInChunks(kernel, q, nh * hd, { kCache, vCache }, start, chunk);
    expect(serialRows(heads).tokens * serialRows(heads).heads).toBeGreaterThan(1);
    for (const start of [9, 1030]) {
      const alone = await run(start, 1);
      for (const chunk of [tokens, 3]) {
        expectBitwiseEqual(await run(start, chunk), alone, `after ${start}, chunks of ${chunk} and alone`);
      }
    }
    kernel.destroy();
  });
});

describe('argmax', () => {
  it.each([
    [1000, 4, 256], // one slice: one dispatch
    [4096, 3, 256], // one whole slice
    [10_000, 5, 256], // three slices of 4096, the last one partial
    [151_936, 2, 256], // Qwen2.5's vocabulary: 38 slices
    [1000, 4, 4],
    [10_000, 5, 4],
  ])(
    'finds each row maximum of %i logits, the lowest index among ties, the runner-up and the third (%i rows, %i threads)',
    async (vocab, rows, workgroup) => {
      const rng = new Rng(6);
      const logits = rng.floats(rows * vocab);
      logits[1 * vocab + 10] = 5;
      logits[1 * vocab + vocab - 100] = 5; // a tie, in another slice when there are several: 10 wins
      logits[0 * vocab + vocab - 1] = 9; // the very last logit
      const ids = createStorage(device, 3 * rows * 4, 'ids'); // ranks 0, 1 and 2
      const kernel = new ArgmaxKernel(device, vocab, rows, workgroup);
      const bindGroups = kernel.bind({ step: step.buffer, logits: upload(logits), ids });
      step.write(rows);
      await runPass(device, (pass) => kernel.encode(pass, bindGroups, rows));
      const got = new Uint32Array((await readFloats(device, ids, rows)).buffer);
      const want = Array.from({ length: rows }, (_, n) => argmax(logits, n * vocab, vocab));
      expect(Array.from(got)).toEqual(want);
      expect(want[0]).toBe(vocab - 1);
      expect(want[1]).toBe(10);
      // The runner-up goes after the argmaxes in ids (row 1's is the other 5, its tie), the third after it.
      const second = new ArgmaxKernel(device, vocab, rows, workgroup, 1);
      const third = new ArgmaxKernel(device, vocab, rows, workgroup, 2);
      await runPass(device, (pass) => {
        second.encode(pass, second.bind({ step: step.buffer, logits: upload(logits), ids }), rows);
        third.encode(pass, third.bind({ step: step.buffer, logits: upload(logits), ids }), rows);
      });
      const ranked = new Uint32Array((await readFloats(device, ids, 3 * rows)).buffer);
      const runnersUp = want.map((best, n) => runnerUp(logits, best, n * vocab, vocab));
      expect(Array.from(ranked.subarray(rows, 2 * rows))).toEqual(runnersUp);
      expect(runnersUp[1]).toBe(vocab - 100);
      const thirds = want.map((best, n) => runnerUp(logits, [best, runnersUp[n]], n * vocab, vocab));
      expect(Array.from(ranked.subarray(2 * rows))).toEqual(thirds);
      expect(Array.from(ranked.subarray(0, rows))).toEqual(want); // the argmaxes stay
      kernel.destroy();
      second.destroy();
      third.destroy();
    },
  );
});
