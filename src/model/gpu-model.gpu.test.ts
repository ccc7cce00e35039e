/**
 * The whole GPU model against the golden PyTorch logits and against the reference model, on
 * every fixture (f32, f16, bf16 weights; the draft; Qwen2, Qwen3, Phi-3, Gemma 2 and Gemma 3
 * variants; Llama with every bias; MLC folders of the pair, Phi-3 and Gemma 2), and its KV cache.
 *
 * Tolerances: against PyTorch as for the reference (atol 2e-3, rtol 1e-3); against the
 * reference model, which sums in float64 where the GPU sums in float32, atol 1e-3, rtol 1e-3.
 * Greedy continuations must be identical token for token.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../gpu/device';
import { requestNodeGpu } from '../gpu/node';
import { CPU_PROFILE, GPU_PROFILE } from '../kernels/profile';
import { f32ToF16 } from '../loader/half';
import { loadModelFolder, type ModelFolder } from '../loader/model-folder';
import { memorySource } from '../loader/source';
import { quantizeWeights } from '../loader/tensors';
import type { WeightTensor } from '../loader/weights';
import { ReferenceModel } from '../ref/model';
import { argmax, GREEDY } from '../sampling/sampling';
import { maskRows, maskWords } from '../sampling/token-mask';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import {
  FIXTURES,
  GEMMA2_GGUF_FIXTURE,
  GEMMA3_GGUF_FIXTURE,
  GGUF_FIXTURE,
  loadFixture,
  loadGolden,
  PHI3_GGUF_FIXTURE,
  QWEN35_GGUF_FIXTURE,
} from '../testing/fixtures';
import {
  type GgufWriteTensor,
  quantizeIQ4_XSBlocks,
  quantizeQ5_KBlocks,
  quantizeQ8_0Blocks,
  tinyLlamaGguf,
} from '../testing/gguf-writer';
import { testGpu } from '../testing/gpu';
import { LEAN_GPU_PROFILE } from '../testing/profiles';
import { Rng } from '../util/rng';

import { AHEAD_SLOTS } from './ahead-inputs';
import { generate } from './generate';
import { defaultKvFormat, GpuModel } from './gpu-model';

const GOLDEN = { atol: 2e-3, rtol: 1e-3 };

let gpu: Gpu;
const folders = new Map<string, ModelFolder>();
beforeAll(async () => {
  gpu = await testGpu();
  for (const name of Object.values(FIXTURES)) folders.set(name, await loadFixture(name));
});

const folder = (name: string) => folders.get(name) as ModelFolder;

/**
 * Fixtures whose kernels on the GPU profile another fixture runs here already: MLC folders of
 * architectures whose Hugging Face fixtures do (as the pair's MLC folders run them on 4-bit
 * weights), and Gemma, whose layer is Gemma 2's without its branch-output norms and caps. What
 * these add is the loading and the model's composition, which the CPU profile's run and the
 * greedy run check.
 */
const LOADING_ONLY: string[] = [
  FIXTURES.gemma2Q4,
  FIXTURES.phi3Q4,
  FIXTURES.gemma3Q4,
  FIXTURES.ministral3Q4,
  FIXTURES.olmo2Q4,
  FIXTURES.stablelm2Q4,
  FIXTURES.phi2Q4,
  FIXTURES.neoxQ4,
  FIXTURES.gemma,
];

describe.each(Object.values(FIXTURES))('GPU model on %s', (name) => {
  it.each([
    // The GPU profile itself on the fixture target, with fewer lanes (the same kernels) on the others.
    ...(LOADING_ONLY.includes(name)
      ? []
      : [name === FIXTURES.target ? (['GPU', GPU_PROFILE] as const) : (['lean GPU', LEAN_GPU_PROFILE] as const)]),
    ['CPU', CPU_PROFILE] as const,
  ])('matches the golden logits at every position, %s profile', async (_, profile) => {
    const { config, weights } = folder(name);
    // Prompts of 12, 31 and 16 tokens: chunks of 24 and 7 for the second (on the GPU profile,
    // the prefill kernel and a tile of 8).
    const model = await GpuModel.create(gpu, config, weights, {
      maxBatch: 24,
      maxContext: 256,
      profile,
      compile: 'on-first-use',
    });
    for (const golden of loadGolden(name)) {
      const sequence = model.createSequence(128);
      const logits = await model.forward(sequence, golden.ids);
      expectClose(logits, golden.logits, GOLDEN, `${name} logits`);
      sequence.release();
    }
    model.destroy();
  });

  it('generates 64 greedy tokens identical to the reference model and to PyTorch', async () => {
    const { config, weights } = folder(name);
    const model = await GpuModel.create(gpu, config, weights, { maxContext: 256 });
    const reference = new ReferenceModel(config, weights);
    for (const golden of loadGolden(name)) {
      const options = { maxTokens: golden.greedyIds.length, sampling: GREEDY };
      const sequence = model.createSequence(256);
      const onGpu = await generate(model, sequence, golden.ids, options);
      const onCpu = await generate(reference, reference.createSequence(256), golden.ids, options);
      expect(onGpu).toEqual(onCpu);
      expect(onGpu).toEqual(golden.greedyIds);
      sequence.release();
    }
    model.destroy();
  });
});

describe('GPU model on 4-bit weights (the target fixture quantized as MLC quantizes)', () => {
  it.each([
    ['Q4F16', 'lean GPU', LEAN_GPU_PROFILE],
    ['Q4F16', 'CPU', CPU_PROFILE],
    ['Q4F32', 'lean GPU', LEAN_GPU_PROFILE],
  ] as const)(
    '%s, %s profile: the reference on the dequantized weights, logit for logit and token for token',
    async (dtype, _, profile) => {
      const { config, weights } = folder(FIXTURES.target);
      const quantized = quantizeWeights(weights, dtype);
      const model = await GpuModel.create(gpu, config, quantized, {
        maxBatch: 24,
        maxContext: 256,
        profile,
        compile: 'on-first-use',
      });
      const reference = new ReferenceModel(config, quantized);
      for (const golden of loadGolden(FIXTURES.target)) {
        const logits = await model.forward(model.createSequence(128), golden.ids);
        const expected = await reference.forward(reference.createSequence(128), golden.ids);
        expectClose(logits, expected, { atol: 1e-3, rtol: 1e-3 }, `${dtype} logits`);
        const options = { maxTokens: 32, sampling: GREEDY };
        const onGpu = await generate(model, model.createSequence(256), golden.ids, options);
        expect(onGpu).toEqual(await generate(reference, reference.createSequence(256), golden.ids, options));
      }
      // Chunks of 5 tokens (verify tiles) give the bits of one prefill.
      const chunked = await GpuModel.create(gpu, config, quantized, {
        maxBatch: 5,
        maxContext: 256,
        profile,
        compile: 'on-first-use',
      });
      const { ids } = loadGolden(FIXTURES.target)[1];
      const a = await model.forward(model.createSequence(64), ids);
      expectBitwiseEqual(await chunked.forward(chunked.createSequence(64), ids), a, 'chunks of 5 vs whole');
      chunked.destroy();
      model.destroy();
    },
  );

  it('runs a GGUF file (Q4_0 matrices 4-bit, Q5_0 and Q4_0 with Q4_1 5-bit, Q8_0 8-bit) as the reference does on its weights, in any chunks', async () => {
    const { config, weights, tokenizer } = await loadFixture(GGUF_FIXTURE);
    tokenizer.dispose();
    const dtype = (name: string) => weights.get(`model.layers.0.${name}.weight`)?.dtype;
    expect(['self_attn.q_proj', 'self_attn.o_proj', 'mlp.down_proj', 'mlp.up_proj'].map(dtype)).toEqual([
      'Q4_0',
      'Q5_K',
      'Q8_0',
      'Q5_K',
    ]);
    const model = await GpuModel.create(gpu, config, weights, { maxBatch: 24, maxContext: 256 });
    const reference = new ReferenceModel(config, weights);
    for (const golden of loadGolden(FIXTURES.target)) {
      const logits = await model.forward(model.createSequence(128), golden.ids);
      const expected = await reference.forward(reference.createSequence(128), golden.ids);
      expectClose(logits, expected, { atol: 1e-3, rtol: 1e-3 }, 'GGUF logits');
    }
    const chunked = await GpuModel.create(gpu, config, weights, { maxBatch: 5, maxContext: 256 });
    const { ids } = loadGolden(FIXTURES.target)[1];
    expectBitwiseEqual(
      await chunked.forward(chunked.createSequence(64), ids),
      await model.forward(model.createSequence(64), ids),
      'chunks of 5 vs whole',
    );
    chunked.destroy();
    model.destroy();
  });

  it.each([
    ['Phi-3 GGUF file (fused projections, LongRoPE from its tensors, Q8_0)', PHI3_GGUF_FIXTURE],
    ['Gemma 2 GGUF file (norms stored plus one, soft-caps, F16)', GEMMA2_GGUF_FIXTURE],
    ['Gemma 3 GGUF file (q and k norms, two RoPEs, a window pattern, F16)', GEMMA3_GGUF_FIXTURE],
    ["Qwen3.5 GGUF file (Gated DeltaNet value heads in llama.cpp's tiled order, F16)", QWEN35_GGUF_FIXTURE],
  ])('runs the %s as the reference does, in any chunks', async (_, fixture) => {
    const { config, weights, tokenizer } = await loadFixture(fixture);
    tokenizer.dispose();
    const model = await GpuModel.create(gpu, config, weights, { maxBatch: 24, maxContext: 64 });
    const reference = new ReferenceModel(config, weights);
    // Past the windows (Phi-3: 24, Gemmas: 8) and Phi-3's original context (16), where its long factors serve.
    const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % config.vocabSize);
    const logits = await model.forward(model.createSequence(64), ids);
    expectClose(
      logits,
      await reference.forward(reference.createSequence(64), ids),
      { atol: 1e-3, rtol: 1e-3 },
      'logits',
    );
    const chunked = await GpuModel.create(gpu, config, weights, { maxBatch: 7, maxContext: 64 });
    expectBitwiseEqual(await chunked.forward(chunked.createSequence(64), ids), logits, 'chunks of 7 vs whole');
    chunked.destroy();
    model.destroy();
  });

  /** q and k Q4_K, v Q8_0: types no 4- to 6-bit layout holds together. */
  const withQ8_0Values = (tensors: GgufWriteTensor[]) => {
    const v = tensors.find((t) => t.name === 'blk.0.attn_v.weight') as GgufWriteTensor;
    const values = Float32Array.from({ length: v.shape[0] * v.shape[1] }, (_, i) => Math.cos(i * 0.29) / 16);
    Object.assign(v, { type: 8, bytes: quantizeQ8_0Blocks(values) });
  };

  /** A Q4_K_S file's layers: q and k Q4_K, v Q5_K. */
  const withQ5_KValues = (tensors: GgufWriteTensor[]) => {
    const v = tensors.find((t) => t.name === 'blk.0.attn_v.weight') as GgufWriteTensor;
    const values = Float32Array.from({ length: v.shape[0] * v.shape[1] }, (_, i) => Math.cos(i * 0.29) / 16);
    Object.assign(v, { type: 13, bytes: quantizeQ5_KBlocks(values) });
  };

  /** q and k Q8_0, v IQ4_XS: signed types no layout but 8-bit groups of 16 holds together. */
  const withIQ4_XSValues = (tensors: GgufWriteTensor[]) => {
    const v = tensors.find((t) => t.name === 'blk.0.attn_v.weight') as GgufWriteTensor;
    const values = Float32Array.from({ length: v.shape[0] * v.shape[1] }, (_, i) => Math.cos(i * 0.29) / 16);
    Object.assign(v, { type: 23, bytes: quantizeIQ4_XSBlocks(values) });
  };

  /** Q6_K blocks for `tensor`: patterned bytes, each block's f16 d a small scale. */
  const asQ6_K = (tensor: GgufWriteTensor) => {
    const blocks = (tensor.shape[0] * tensor.shape[1]) / 256;
    const bytes = Uint8Array.from({ length: blocks * 210 }, (_, i) => (i * 73 + (i >> 7)) & 0xff);
    const view = new DataView(bytes.buffer);
    for (let b = 0; b < blocks; b++) view.setUint16(210 * b + 208, f32ToF16(2e-5 * (1 + (b % 5))), true);
    Object.assign(tensor, { type: 14, bytes });
  };
  /**
   * The MLP of a 1- to 3-bit i-quant or Q3_K file (the others Q4_K): gate's and up's type, and
   * down's if given, as (ggml type, block bytes, where its f16 d is); patterned bytes, each
   * block's d a small scale.
   */
  type Blocks = readonly [type: number, size: number, d: number];
  const withLevelTypes = (gateUp: Blocks, down?: Blocks) => (tensors: GgufWriteTensor[]) => {
    const retyped = [
      ['blk.0.ffn_gate.weight', gateUp],
      ['blk.0.ffn_up.weight', gateUp],
      ...(down ? [['blk.0.ffn_down.weight', down] as const] : []),
    ] as const;
    for (const [name, [type, size, d]] of retyped) {
      const tensor = tensors.find((t) => t.name === name) as GgufWriteTensor;
      const blocks = (tensor.shape[0] * tensor.shape[1]) / 256;
      const bytes = Uint8Array.from({ length: blocks * size }, (_, i) => (i * 73 + (i >> 7)) & 0xff);
      const view = new DataView(bytes.buffer);
      for (let b = 0; b < blocks; b++) view.setUint16(size * b + d, f32ToF16(4e-4 * (1 + (b % 5))), true);
      Object.assign(tensor, { type, bytes });
    }
  };
  /**
   * A Q4_K_M file's layers: q and k Q4_K, v Q6_K, and down Q6_K; and its tied embedding Q6_K
   * (llama.cpp gives the LM head's type to token_embd where there is no output.weight).
   */
  const withQ6_K = (tensors: GgufWriteTensor[]) => {
    for (const name of ['blk.0.attn_v.weight', 'blk.0.ffn_down.weight', 'token_embd.weight']) {
      asQ6_K(tensors.find((t) => t.name === name) as GgufWriteTensor);
    }
  };

  it.each([
    ['Q4_K', 'mlp.down_proj', 12, 256, undefined],
    // Q6_K alone keeps its own scales; fused with v, q and k become 6-bit groups with pairs.
    ['Q6_K', 'mlp.down_proj', 12, 256, withQ6_K],
    ['Q6A', 'self_attn.q_proj', 12, 256, withQ6_K],
    ['Q5_K', 'mlp.down_proj', 13, 256, undefined],
    // Fused with v, q and k become 5-bit groups too.
    ['Q5_K', 'self_attn.q_proj', 12, 256, withQ5_KValues],
    ['Q4_0', 'mlp.down_proj', 2, 64, undefined],
    ['Q8_0', 'mlp.down_proj', 8, 64, undefined],
    // Fused with an IQ4_XS v, q and k become 8-bit groups of 16 with a scale each.
    ['Q8', 'self_attn.q_proj', 8, 256, withIQ4_XSValues],
    ['IQ4', 'mlp.down_proj', 23, 256, undefined],
    // The lattice types and Q3_K: level groups with their own levels, a scale a 32 or a 16.
    ['IQ2_XXS', 'mlp.down_proj', 12, 256, withLevelTypes([21, 110, 0], [16, 66, 0])],
    ['IQ3_S', 'mlp.gate_proj', 12, 256, withLevelTypes([21, 110, 0], [16, 66, 0])],
    ['IQ2_XS', 'mlp.down_proj', 12, 256, withLevelTypes([22, 82, 0], [17, 74, 0])],
    ['IQ2_S', 'mlp.gate_proj', 12, 256, withLevelTypes([22, 82, 0], [17, 74, 0])],
    ['Q3_K', 'mlp.gate_proj', 12, 256, withLevelTypes([11, 110, 108])],
    // Fused with a Q8_0 v, q and k become 8-bit groups with (scale, min) pairs.
    ['Q8A', 'self_attn.q_proj', 12, 256, withQ8_0Values],
  ] as const)(
    'runs %s matrices of a GGUF file (%s) as the reference does, in any chunks',
    async (dtype, checked, matrixType, width, edit) => {
      const bytes = tinyLlamaGguf({ width, matrixType, edit });
      const source = { ...memorySource('models', { 'm.gguf': bytes }), name: 'models/m.gguf', file: 'm.gguf' };
      const { config, weights, tokenizer } = await loadModelFolder(source);
      tokenizer.dispose();
      expect(weights.get(`model.layers.0.${checked}.weight`)?.dtype).toBe(dtype);
      if (edit === withQ6_K) expect(weights.get('model.embed_tokens.weight')?.dtype).toBe('Q6_K');
      const ids = Array.from({ length: 23 }, (_, i) => (i * 5 + 3) % 8);
      const model = await GpuModel.create(gpu, config, weights, { maxBatch: 24, maxContext: 64 });
      const reference = new ReferenceModel(config, weights);
      const logits = await model.forward(model.createSequence(64), ids);
      expectClose(
        logits,
        await reference.forward(reference.createSequence(64), ids),
        { atol: 1e-4, rtol: 1e-4 },
        dtype,
      );
      const chunked = await GpuModel.create(gpu, config, weights, { maxBatch: 5, maxContext: 64 });
      expectBitwiseEqual(await chunked.forward(chunked.createSequence(64), ids), logits, 'chunks of 5 vs whole');
      chunked.destroy();
      model.destroy();
    },
  );

  it('splits a 4-bit embedding and LM head over the binding limit, scales with their rows, changing no bit', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const quantized = quantizeWeights(weights, 'Q4F16'); // rows of 64 + 8 bytes
    const limit = 60_000; // under the tables (72 KiB), over every other matrix
    const split = { ...gpu, info: { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: limit } } };
    const small = await GpuModel.create(split, config, quantized, { maxBatch: 8, maxContext: 128 });
    expect(small.weights.embed.partRows).toEqual([833, 191]);
    expect(small.weights.lmHead.partRows).toEqual([833, 191]);
    const whole = await GpuModel.create(gpu, config, quantized, { maxContext: 128 });
    const { ids } = loadGolden(FIXTURES.target)[0];
    expectBitwiseEqual(
      await small.forward(small.createSequence(128), ids),
      await whole.forward(whole.createSequence(128), ids),
      'logits with the tables split',
    );
    small.destroy();
    whole.destroy();
  });
});

describe('GPU model with an f16 KV cache', () => {
  it("is the default for real checkpoints' sizes, not the fixtures'", () => {
    const llama8b = { ...folder(FIXTURES.target).config, numLayers: 32, numKvHeads: 8, headDim: 128 };
    expect(defaultKvFormat(llama8b)).toBe('f16'); // 256 KiB a token in f32
    const qwen05b = { ...folder(FIXTURES.target).config, numLayers: 24, numKvHeads: 2, headDim: 64 };
    expect(defaultKvFormat(qwen05b)).toBe('f16'); // 24 KiB
    expect(defaultKvFormat(folder(FIXTURES.target).config)).toBe('f32'); // 3 KiB
  });

  it.each([
    [FIXTURES.target, 'lean GPU', LEAN_GPU_PROFILE],
    [FIXTURES.gemma3, 'CPU', CPU_PROFILE], // windows, per-head norms (qk_norm_rope.wgsl writes the cache)
    [FIXTURES.phi3, 'CPU', CPU_PROFILE], // the serial attention kernel
  ] as const)(
    '%s, %s profile: the reference with its cache rounded to f16, half the memory, the same bits in any chunks',
    async (name, _, profile) => {
      const { config, weights } = folder(name);
      const model = await GpuModel.create(gpu, config, weights, {
        maxBatch: 24,
        maxContext: 256,
        profile,
        kvCache: 'f16',
        compile: 'on-first-use',
      });
      const reference = new ReferenceModel(config, weights, { kvCache: 'f16' });
      expect(model.createSequence(64).bytes).toBe(2 * config.numLayers * 64 * config.numKvHeads * config.headDim * 2);
      for (const golden of loadGolden(name)) {
        const logits = await model.forward(model.createSequence(128), golden.ids);
        const expected = await reference.forward(reference.createSequence(128), golden.ids);
        expectClose(logits, expected, { atol: 2e-3, rtol: 2e-3 }, `${name} logits, f16 cache`);
        const options = { maxTokens: 16, sampling: GREEDY };
        const onGpu = await generate(model, model.createSequence(256), golden.ids, options);
        expect(onGpu).toEqual(await generate(reference, reference.createSequence(256), golden.ids, options));
      }
      const { ids } = loadGolden(name)[1];
      const whole = await model.forward(model.createSequence(64), ids);
      const chunked = await GpuModel.create(gpu, config, weights, {
        maxBatch: 5,
        maxContext: 256,
        profile,
        kvCache: 'f16',
        compile: 'on-first-use',
      });
      expectBitwiseEqual(await chunked.forward(chunked.createSequence(64), ids), whole, 'chunks of 5 vs whole');
      const sequence = model.createSequence(64);
      const vocab = config.vocabSize;
      for (let i = 0; i < ids.length; i++) {
        expectBitwiseEqual(
          await model.forward(sequence, [ids[i]]),
          whole.subarray(i * vocab, (i + 1) * vocab),
          `token ${i}`,
        );
      }
      chunked.destroy();
      model.destroy();
    },
  );
});

describe('GPU model past one attention segment (split attention)', () => {
  it.each([
    // Segments of 64 positions: the prompt spans four, and their merges.
    ['segments of 64', { attentionSplit: 64, attentionFine: 0 }],
    // Two of one tile (64 positions), then of 128 (as the GPU profile's first 2,048, then 512).
    ['two segments of 64, then of 128', { attentionSplit: 128, attentionFine: 128 }],
    // Decode and verify steps from 150 positions attend with a KV head's query heads together.
    [
      'segments of 64, heads grouped from 150 positions',
      { attentionSplit: 64, attentionFine: 0, attentionGroupedFrom: 150 },
    ],
  ])(
    'matches the reference across %s, and gives the same bits in one pass, in chunks and token by token',
    async (_, split) => {
      const { config, weights, tokenizer } = folder(FIXTURES.target);
      const text = 'Once upon a time, there was a little cat named Tom. Tom lived in a small house near the river. ';
      const ids = tokenizer.encodePrompt(text.repeat(12)).slice(0, 200);
      expect(ids.length).toBe(200);
      const profile = { ...LEAN_GPU_PROFILE, ...split };
      const model = await GpuModel.create(gpu, config, weights, {
        maxContext: 256,
        maxBatch: 64,
        profile,
        compile: 'on-first-use',
      });
      const whole = model.createSequence(256);
      const wholeLogits = await model.forward(whole, ids); // chunks of 64 (the model's batch)
      const chunked = model.createSequence(256);
      await model.forward(chunked, ids.slice(0, 100));
      const chunkLogits = await model.forward(chunked, ids.slice(100, 195));
      const byToken = model.createSequence(256);
      await model.forward(byToken, ids.slice(0, 195));
      const vocab = config.vocabSize;
      for (const [i, token] of ids.slice(195).entries()) {
        const row = await model.forward(byToken, [token]);
        expectBitwiseEqual(row, wholeLogits.subarray((195 + i) * vocab, (196 + i) * vocab), `token ${195 + i} alone`);
      }
      expectBitwiseEqual(chunkLogits, wholeLogits.subarray(100 * vocab, 195 * vocab), 'logits computed in chunks');
      const reference = new ReferenceModel(config, weights);
      const referenceLogits = await reference.forward(reference.createSequence(256), ids);
      expectClose(wholeLogits, referenceLogits, { atol: 2e-3, rtol: 2e-3 }, 'logits at every position');
      model.destroy();
    },
  );

  it('runs passes recorded ahead, their grids sized for a longer context and submitted together, with the bits of passes recorded when they run', async () => {
    const { config, weights, tokenizer } = folder(FIXTURES.target);
    const ids = tokenizer.encodePrompt('Once upon a time, there was a little cat named Tom. '.repeat(12)).slice(0, 140);
    const profile = { ...LEAN_GPU_PROFILE, attentionSplit: 64 };
    const model = await GpuModel.create(gpu, config, weights, { maxContext: 256, maxBatch: 64, profile });
    const vocab = config.vocabSize;
    const readback = () =>
      gpu.device.createBuffer({ size: 2 * vocab * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const rows = [readback(), readback()];
    const copyRows = (to: GPUBuffer, count: number) => (encoder: GPUCommandEncoder) =>
      encoder.copyBufferToBuffer(model.logitsBuffer, 0, to, 0, count * vocab * 4);
    // Recorded at 40 positions for up to 130 (three segments of 64), run at 40 (one) and at
    // 100 (two): two tokens, then one more in a second pass of the same submission (its own
    // slot of staged inputs), their logits as passes recorded when they run give them.
    for (const at of [40, 100]) {
      const sequence = model.createSequence(256);
      await model.forward(sequence, ids.slice(0, 40));
      const into = gpu.device.createCommandEncoder();
      const first = model.recordAhead(sequence, { cpuTokens: 2, slot: 0, into }, 2, 130, copyRows(rows[0], 2));
      const second = model.recordAhead(sequence, { cpuTokens: 1, slot: 1, into }, 1, 132, copyRows(rows[1], 1));
      const commands = [into.finish()];
      if (at > 40) await model.forward(sequence, ids.slice(40, at));
      const submissions = model.submissions;
      first.stage(ids.slice(at, at + 2));
      second.stage(ids.slice(at + 2, at + 3));
      model.submitStaged(commands);
      expect(model.submissions - submissions).toBe(1);
      const got = new Float32Array(await model.readBack(rows[0], 2 * vocab * 4));
      const next = new Float32Array(await model.readBack(rows[1], vocab * 4));
      const fresh = await model.forward(model.createSequence(256), ids.slice(0, at + 3));
      expectBitwiseEqual(got, fresh.subarray(at * vocab, (at + 2) * vocab), `two tokens after ${at}, recorded ahead`);
      expectBitwiseEqual(next, fresh.subarray((at + 2) * vocab), `the token after them, in the same submission`);
      expect(sequence.length).toBe(at + 3);
      // Past the context it was recorded for, it refuses to run.
      const late = model.recordAhead(
        sequence,
        { cpuTokens: 1, slot: 0, into: gpu.device.createCommandEncoder() },
        1,
        at + 3,
      );
      await model.forward(sequence, ids.slice(at + 3, at + 4));
      expect(() => late.stage([1])).toThrow(/no longer fits/);
      const beyond = { cpuTokens: 1, slot: AHEAD_SLOTS, into: gpu.device.createCommandEncoder() };
      expect(() => model.recordAhead(sequence, beyond, 1, at + 4)).toThrow(/slot/);
      sequence.release();
    }
    for (const buffer of rows) buffer.destroy();
    model.destroy();
  });
});

describe('GPU KV cache and batching', () => {
  it('truncating and running again gives exactly the logits of a fresh computation', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const model = await GpuModel.create(gpu, config, weights, { maxContext: 256 });
    const { ids } = loadGolden(FIXTURES.target)[0];
    const vocab = config.vocabSize;
    const fresh = await model.forward(model.createSequence(128), ids);

    const sequence = model.createSequence(128);
    await model.forward(sequence, ids);
    await model.greedy(sequence, [5, 6, 7, 8]); // a rejected draft
    sequence.truncate(ids.length - 3);
    const again = await model.forward(sequence, ids.slice(-3));
    expectBitwiseEqual(again, fresh.subarray(-3 * vocab), 'logits after truncate');
    model.destroy();
  });

  it.each([
    ['GPU', GPU_PROFILE],
    ['CPU', CPU_PROFILE],
  ] as const)('%s profile: masks the rows of one pass where they are, reading back ids only', async (_, profile) => {
    const { config, weights } = folder(FIXTURES.target);
    const model = await GpuModel.create(gpu, config, weights, { maxContext: 256, profile, compile: 'on-first-use' });
    const { ids } = loadGolden(FIXTURES.target)[0];
    const vocab = config.vocabSize;
    const words = maskWords(vocab);
    const rng = new Rng(4);
    const verify = [...ids.slice(-4)]; // a verify pass's rows: each masked by its own words
    const masks = new Uint32Array(verify.length * words).map(() => rng.nextUint32() & rng.nextUint32());
    const prefix = ids.slice(0, -4);
    const fresh = async () => {
      const sequence = model.createSequence(64);
      await model.forward(sequence, prefix);
      return sequence;
    };
    const free = await model.forward(await fresh(), verify);
    const cpuMasked = maskRows(free.slice(), masks, vocab);

    let sequence = await fresh();
    sequence.maskNextPass(masks);
    const before = model.readbackBytes;
    const choices = await model.greedy(sequence, verify, 'all');
    expect(model.readbackBytes - before).toBe(verify.length * 4); // ids, no rows
    expect(Array.from(choices)).toEqual(verify.map((_, r) => argmax(cpuMasked, r * vocab, vocab)));
    expect(Array.from(choices)).not.toEqual(verify.map((_, r) => argmax(free, r * vocab, vocab)));
    // Rows read back hold -Infinity where masked, every other logit's bits as without masks.
    sequence = await fresh();
    sequence.maskNextPass(masks);
    expectBitwiseEqual(await model.forward(sequence, verify), cpuMasked, 'masked rows read back');
    // The masks were the next pass's alone.
    const after = await model.forward(sequence, [choices[0]]);
    expect(after.some((l) => l === Number.NEGATIVE_INFINITY)).toBe(false);

    // A draw comes from the allowed tokens only: a mask of three.
    const three = new Uint32Array(words);
    for (const t of [7, 100, 300]) three[t >> 5] |= 1 << (t & 31);
    const sampling = { temperature: 1.5, topK: 0, topP: 1 };
    for (let seed = 0; seed < 8; seed++) {
      sequence = await fresh();
      sequence.maskNextPass(three);
      expect([7, 100, 300]).toContain(await model.sample(sequence, verify.slice(0, 1), sampling, seed));
    }
    // A mask of the wrong size is refused before the pass, the sequence as it was.
    sequence = await fresh();
    sequence.maskNextPass(three);
    await expect(model.greedy(sequence, verify, 'all')).rejects.toThrow(/mask words for 4 rows/);
    expect(sequence.length).toBe(prefix.length);
    model.destroy();
  });

  it.each([
    ['lean GPU', FIXTURES.targetF16, LEAN_GPU_PROFILE],
    ['CPU', FIXTURES.targetF16, CPU_PROFILE],
    ['lean GPU', FIXTURES.gemma3, LEAN_GPU_PROFILE], // windows of 8, per-head norms, two RoPEs
    ['CPU', FIXTURES.phi3, CPU_PROFILE], // a window of 24, LongRoPE switching at 16
    ['CPU', FIXTURES.olmo2, CPU_PROFILE], // q and k normed over their whole projections
    ['CPU', FIXTURES.phi2, CPU_PROFILE], // LayerNorm, branches side by side, an MLP without a gate
    ['CPU', FIXTURES.neox, CPU_PROFILE], // branches side by side, each on its own norm
  ] as const)(
    '%s profile, %s: a prompt in one chunk, in chunks, or token by token gives the same bits',
    async (_, name, profile) => {
      const { config, weights } = folder(name);
      const { ids } = loadGolden(name)[1]; // 31 tokens: the prefill kernel on the GPU profile
      const whole = await GpuModel.create(gpu, config, weights, {
        maxBatch: 64,
        maxContext: 256,
        profile,
        compile: 'on-first-use',
      });
      const a = await whole.forward(whole.createSequence(64), ids);
      for (const maxBatch of [5, 3]) {
        // chunks of 5 and 3 tokens: the tiles of verify passes
        const chunked = await GpuModel.create(gpu, config, weights, {
          maxBatch,
          maxContext: 256,
          profile,
          compile: 'on-first-use',
        });
        const b = await chunked.forward(chunked.createSequence(64), ids);
        expectBitwiseEqual(b, a, `chunks of ${maxBatch} vs whole`);
        chunked.destroy();
      }
      const sequence = whole.createSequence(64);
      const vocab = config.vocabSize;
      for (let i = 0; i < ids.length; i++) {
        const one = await whole.forward(sequence, [ids[i]]);
        expectBitwiseEqual(one, a.subarray(i * vocab, (i + 1) * vocab), `token ${i} alone`);
      }
      whole.destroy();
    },
  );

  it('applies logit bias and penalties as the reference does, per row, across chunks and truncations', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const { ids } = loadGolden(FIXTURES.target)[1]; // 31 tokens: chunks of 24 and 7
    const rules = {
      repetitionPenalty: 1.5,
      frequencyPenalty: 0.7,
      presencePenalty: 0.3,
      logitBias: new Map([
        [ids[20], 2],
        [5, -3],
      ]),
    };
    const countFrom = ids.length - 12; // the last 12 tokens count as generated: every row counts its own
    const model = await GpuModel.create(gpu, config, weights, { maxBatch: 24, maxContext: 256 });
    const reference = new ReferenceModel(config, weights);
    const expected = reference.createSequence(64);
    expected.setLogitRules(rules, countFrom);
    const want = await reference.forward(expected, ids);
    const sequence = model.createSequence(64);
    sequence.setLogitRules(rules, countFrom);
    const got = await model.forward(sequence, ids);
    expectClose(got, want, { atol: 1e-3, rtol: 1e-3 }, 'logits under the rules');
    // Cut back into the counted tokens and run them again: the counts follow, the bits too.
    sequence.truncate(ids.length - 5);
    const again = await model.forward(sequence, ids.slice(-5));
    expectBitwiseEqual(again, got.subarray(-5 * config.vocabSize), 'after a truncate');
    // Greedy decoding under the rules, token for token as the reference.
    const options = { maxTokens: 40, sampling: GREEDY };
    const fresh = model.createSequence(256);
    fresh.setLogitRules(rules, ids.length);
    const referenceSequence = reference.createSequence(256);
    referenceSequence.setLogitRules(rules, ids.length);
    const onGpu = await generate(model, fresh, ids, options);
    expect(onGpu).toEqual(await generate(reference, referenceSequence, ids, options));
    expect(onGpu).not.toEqual(loadGolden(FIXTURES.target)[1].greedyIds.slice(0, 40));
    model.destroy();
  });

  it('samples on the GPU reproducibly from a seed, reading back ids only', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const model = await GpuModel.create(gpu, config, weights, { maxContext: 256 });
    const { ids } = loadGolden(FIXTURES.target)[1];
    const sampling = { temperature: 0.8, topK: 40, topP: 0.95 };
    const run = (seed: number) => generate(model, model.createSequence(256), ids, { maxTokens: 40, sampling, seed });
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    const others = await Promise.all([2, 3, 4].map(run));
    expect(others.some((o) => o.join() !== a.join())).toBe(true);
    const real = folder(FIXTURES.target).tokenizer.vocabSize;
    expect(a.every((t) => t < real)).toBe(true); // never a padding id of the embedding table
    model.destroy();
  });

  it('refuses a model that exceeds the adapter limits, naming the limit', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const small = {
      ...gpu,
      info: { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: 100_000 } },
    };
    const error = await GpuModel.create(small, config, weights).catch((e: Error) => e);
    expect((error as Error).name).toBe('ModelTooLargeError');
    // The embedding and LM head would split; the fused q|k|v matrix (128 KiB) cannot.
    expect((error as Error).message).toMatch(
      /qkv_proj \(q\|k\|v\) needs a 0\.1 MiB buffer.*maxStorageBufferBindingSize is 0\.1 MiB/,
    );
  });

  it('refuses logits that are not numbers by name, instead of choosing no token', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const damaged = new Map(weights);
    const norm = weights.get('model.norm.weight') as WeightTensor;
    damaged.set('model.norm.weight', { ...norm, data: new Float32Array(norm.data.length).fill(Number.NaN) });
    const model = await GpuModel.create(gpu, config, damaged, { maxContext: 64 });
    const ids = loadGolden(FIXTURES.target)[0].ids;
    const greedy = await model.greedy(model.createSequence(64), ids).catch((e: Error) => e);
    expect((greedy as Error).name).toBe('InvalidLogitsError');
    const logits = await model.forward(model.createSequence(64), ids).catch((e: Error) => e);
    expect((logits as Error).name).toBe('InvalidLogitsError');
    model.destroy();
  });

  it('names a device lost in the middle of a forward pass', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const own = await requestNodeGpu(); // a device of its own, to lose
    const model = await GpuModel.create(own, config, weights, { maxContext: 64 });
    const sequence = model.createSequence(64);
    const pass = model.greedy(sequence, loadGolden(FIXTURES.target)[1].ids, 'all');
    own.device.destroy();
    const error = await pass.catch((e: Error) => e);
    expect((error as Error).name).toBe('GPUDeviceLostError');
    const next = await model.greedy(model.createSequence(64), [1, 2]).catch((e: Error) => e);
    expect((next as Error).name).toBe('GPUDeviceLostError');
  });

  it('splits an embedding and LM head over the binding limit across buffers, changing no bit', async () => {
    const { config, weights } = folder(FIXTURES.target); // f32, untied: 512 KiB each
    const limit = 400_000; // under either of them, over every other buffer
    const split = { ...gpu, info: { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: limit } } };
    const small = await GpuModel.create(split, config, weights, { maxContext: 128 });
    expect(small.weights.embed.partRows).toEqual([781, 243]);
    expect(small.weights.lmHead.partRows).toEqual([781, 243]);
    const whole = await GpuModel.create(gpu, config, weights, { maxContext: 128 });
    for (const golden of loadGolden(FIXTURES.target)) {
      const a = await small.forward(small.createSequence(128), golden.ids);
      const b = await whole.forward(whole.createSequence(128), golden.ids);
      expectBitwiseEqual(a, b, 'logits with the tables split');
    }
    small.destroy();
    whole.destroy();
  });

  it("splits Phi-2's LM head and its bias over the binding limit alike, changing no bit", async () => {
    const { config, weights } = folder(FIXTURES.phi2); // f32, untied: 256 KiB each, a bias of 1,024
    const limit = 200_000;
    const split = { ...gpu, info: { ...gpu.info, limits: { ...gpu.info.limits, maxStorageBufferBindingSize: limit } } };
    const small = await GpuModel.create(split, config, weights, { maxContext: 128, maxBatch: 32 });
    expect(small.weights.lmHead.partRows).toEqual([781, 243]);
    expect(small.weights.lmHeadBias).toHaveLength(2);
    const whole = await GpuModel.create(gpu, config, weights, { maxContext: 128, maxBatch: 32 });
    const { ids } = loadGolden(FIXTURES.phi2)[0];
    const a = await small.forward(small.createSequence(128), ids);
    const b = await whole.forward(whole.createSequence(128), ids);
    expectBitwiseEqual(a, b, 'logits with the head and its bias split');
    small.destroy();
    whole.destroy();
  });

  it('GPU profile: RMSNorm folded into the projections gives a token the same bits in any step, close to the norms apart', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const ids = Array.from({ length: 26 }, (_, i) => (i * 37 + 5) % config.vocabSize);
    const run = async (fusedNorm: boolean, steps: number[][]) => {
      const profile = { ...LEAN_GPU_PROFILE, fusedNorm };
      const model = await GpuModel.create(gpu, config, weights, {
        maxContext: 64,
        maxBatch: 32,
        profile,
        compile: 'on-first-use',
      });
      expect(model.countDispatches(model.createSequence(64), 1).perLayer).toBe(fusedNorm ? 5 : 7);
      const sequence = model.createSequence(64);
      const logits = new Float32Array(ids.length * config.vocabSize);
      let at = 0;
      for (const step of steps) {
        logits.set(await model.forward(sequence, step), at);
        at += step.length * config.vocabSize;
      }
      sequence.release();
      model.destroy();
      return logits;
    };
    // A prefill chunk (norm_lanes.wgsl and the prefill kernel), a decode step and a verify pass;
    // then the whole prompt in verify tiles, and token by token.
    const mixed = [ids.slice(0, 20), ids.slice(20, 21), ids.slice(21)];
    const folded = await run(true, mixed);
    expectBitwiseEqual(await run(true, [ids.slice(0, 13), ids.slice(13)]), folded, 'in tiles of 13');
    expectBitwiseEqual(
      await run(
        true,
        ids.map((id) => [id]),
      ),
      folded,
      'token by token',
    );
    expectClose(folded, await run(false, mixed), GOLDEN, 'against the norms apart');
  }, 300_000);

  it('GPU profile: four rows a thread in every quantized layer, decode and verify, give the bits of two', async () => {
    const { config, weights } = folder(FIXTURES.targetQ4);
    const ids = Array.from({ length: 18 }, (_, i) => (i * 29 + 7) % config.vocabSize);
    const run = async (fourRowsMinThreads: number) => {
      const profile = { ...LEAN_GPU_PROFILE, fourRowsMinThreads };
      const model = await GpuModel.create(gpu, config, weights, { maxContext: 64, profile, compile: 'on-first-use' });
      const sequence = model.createSequence(64);
      await model.forward(sequence, ids.slice(0, 8));
      const steps = [];
      for (const id of ids.slice(8, 12)) steps.push(await model.forward(sequence, [id]));
      // Verify passes of 2 and 5 tokens: tiles of their own, four rows a thread (fourRowsTiles).
      steps.push(await model.forward(sequence, ids.slice(12, 14)));
      steps.push(await model.forward(sequence, ids.slice(14, 19)));
      sequence.release();
      model.destroy();
      return steps;
    };
    expect(LEAN_GPU_PROFILE.fourRowsTiles).toBeGreaterThanOrEqual(5);
    // The fixture's layers are far below the profile's threshold: 0 puts every layer over it.
    const [four, two] = [await run(0), await run(Number.POSITIVE_INFINITY)];
    for (const [i, step] of four.entries()) expectBitwiseEqual(step, two[i], `step ${i}`);
  }, 300_000);

  it('grows a sequence as it fills, doubling its buffers, and gives the bits of one allocated whole', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const model = await GpuModel.create(gpu, config, weights, { maxContext: 64, maxBatch: 8 });
    const ids = Array.from({ length: 30 }, (_, i) => (i * 11 + 3) % config.vocabSize);
    const whole = model.createSequence(64, 64);
    const grown = model.createSequence(64, 3);
    expect(grown.allocated).toBe(3);
    const bytesAt3 = grown.bytes;
    // A prefill in chunks of 8 (3 -> 8 -> 16), a step of 5 (16 -> 32 at 23 tokens), decode steps.
    const steps = [ids.slice(0, 13), ids.slice(13, 18), ids.slice(18, 23), ...ids.slice(23).map((id) => [id])];
    const rows: Float32Array[] = [];
    for (const tokens of steps) {
      const logits = await model.forward(whole, tokens);
      expectBitwiseEqual(await model.forward(grown, tokens), logits, `at ${grown.length}`);
      for (let i = 0; i < tokens.length; i++)
        rows.push(logits.subarray(i * config.vocabSize, (i + 1) * config.vocabSize));
    }
    expect(grown.allocated).toBe(32);
    expect(grown.bytes).toBe((bytesAt3 / 3) * 32);
    // A prefix copied into a small sequence, and one written into another, make room first.
    const copied = model.createSequence(64, 2);
    await model.copyPrefix(grown, copied, 25);
    const written = model.createSequence(64, 2);
    await model.writePrefix(written, ids.slice(0, 25), await model.readPrefix(whole, 25));
    for (const sequence of [copied, written]) {
      expect(sequence.allocated).toBe(25);
      expect(sequence.restorable(24)).toBe(24); // keys and values: it can be cut back anywhere
      const logits = await model.forward(sequence, ids.slice(25));
      for (let i = 0; i < 5; i++) {
        expectBitwiseEqual(
          logits.subarray(i * config.vocabSize, (i + 1) * config.vocabSize),
          rows[25 + i],
          `row ${25 + i}`,
        );
      }
    }
    for (const sequence of [whole, grown, copied, written]) sequence.release();
    model.destroy();
  });

  it('counts the dispatches a decode step records, and its CPU time recording and waiting', async () => {
    const { config, weights } = folder(FIXTURES.target);
    const model = await GpuModel.create(gpu, config, weights, { maxContext: 64 });
    const sequence = model.createSequence(64);
    const { perLayer, total } = model.countDispatches(sequence, 1);
    // A Llama layer: RMSNorm, q|k|v with the RoPE epilogue, attention, o, RMSNorm, gate|up with
    // SwiGLU's epilogue, down. The step adds the embedding, the final norm, the LM head and the
    // argmax: one dispatch, the fixture's 1,024 tokens being one slice of the vocabulary (a
    // larger vocabulary takes two: slices, then their best).
    expect(perLayer).toBe(7);
    expect(total).toBe(7 * config.numLayers + 4);
    const before = { ...model.cpuTime };
    await model.greedy(sequence, [1, 2, 3], 'last');
    expect(model.cpuTime.recordMs).toBeGreaterThan(before.recordMs);
    // Submitting (the inputs written, queue.submit) is a part of the recording's time.
    const submitted = model.cpuTime.submitMs - before.submitMs;
    expect(submitted).toBeGreaterThan(0);
    expect(submitted).toBeLessThan(model.cpuTime.recordMs - before.recordMs);
    expect(model.cpuTime.waitMs).toBeGreaterThan(before.waitMs);
    sequence.release();
    model.destroy();

    // With fusedNorm (the GPU profile's) both RMSNorms are folded into the projections after
    // them (5 a layer), and the final norm into the LM head (a step: the embedding, the layers,
    // the LM head, the argmax); a prefill step runs norm_lanes.wgsl before each projection that
    // folds one (7).
    const profile = { ...GPU_PROFILE, fusedNorm: true };
    const fused = await GpuModel.create(gpu, config, weights, {
      maxContext: 64,
      maxBatch: 32,
      profile,
      compile: 'on-first-use',
    });
    const fusedSequence = fused.createSequence(64);
    expect(fused.countDispatches(fusedSequence, 1)).toEqual({ perLayer: 5, total: 5 * config.numLayers + 3 });
    expect(fused.countDispatches(fusedSequence, 5).perLayer).toBe(5);
    expect(fused.countDispatches(fusedSequence, 32).perLayer).toBe(7);
    fusedSequence.release();
    fused.destroy();
  });

  it('compiles at load every pipeline a step of any length dispatches, and none after', async () => {
    const { config, weights } = folder(FIXTURES.draft);
    const { device } = gpu;
    const compile = device.createComputePipeline.bind(device);
    let compiledLater = 0;
    // Every pipeline of the GPU profile's kernels (a tile for each verify length, the prefill
    // kernel; the lanes change no pipeline's kind), so each compiles on this adapter; the steps
    // below run every one of them.
    const model = await GpuModel.create(gpu, config, weights, {
      maxContext: 128,
      maxBatch: 20,
      profile: LEAN_GPU_PROFILE,
    });
    device.createComputePipeline = (descriptor) => {
      compiledLater++;
      return compile(descriptor);
    };
    try {
      const sequence = model.createSequence(128);
      for (const tokens of [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 20]) {
        await model.forward(
          sequence,
          Array.from({ length: tokens }, (_, i) => (7 * i + tokens) % config.vocabSize),
        );
      }
      await model.greedy(sequence, [5], 'last');
      sequence.release();
    } finally {
      device.createComputePipeline = compile;
    }
    expect(compiledLater).toBe(0);
    model.destroy();
  });
});
