/**
 * GGUF files: every block type Tandem reads against llama.cpp's own gguf-py (bit for bit), the
 * fixture target's file against gguf-py's dequantization and against the weights it was made
 * from, its tokenizer against the folder's tokenizer.json, and a named error for each way a
 * file can be wrong.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceModel } from '../ref/model';
import { expectClose } from '../testing/compare';
import {
  FIXTURES,
  fixturePath,
  GEMMA_GGUF_FIXTURE,
  GEMMA2_GGUF_FIXTURE,
  GEMMA3_GGUF_FIXTURE,
  GGUF_FIXTURE,
  loadFixture,
  loadGolden,
  MINISTRAL3_GGUF_FIXTURE,
  NEOX_GGUF_FIXTURE,
  OLMO2_GGUF_FIXTURE,
  PHI2_GGUF_FIXTURE,
  PHI3_GGUF_FIXTURE,
  QWEN35_GGUF_FIXTURE,
  SMOLLM3_GGUF_FIXTURE,
  STABLELM2_GGUF_FIXTURE,
} from '../testing/fixtures';
import {
  f32Bytes,
  type GgufWriteTensor,
  quantizeQ4_KBlocks,
  quantizeQ5_KBlocks,
  quantizeQ8_0Blocks,
  tinyLlamaGguf,
} from '../testing/gguf-writer';
import { type GgufTensorInfo, readGguf } from './gguf';
import {
  dequantize,
  GGML_TYPES,
  type GgmlType,
  isFloatType,
  levelLayout,
  OWN_LEVEL_TYPES,
  repackLevels,
  repackQ4_0,
  repackQ4Affine,
  repackQ5Affine,
  repackQ6_K,
  repackQ6Affine,
  repackQ8,
  repackQ8_0,
  repackQ8A,
} from './gguf-quants';
import { f16ToF32, f32ToF16, widenBF16, widenF16 } from './half';
import { dequantizeIQ4, LEVELS, type LevelDType, SCALES_PER_16 } from './iq4';
import { loadModelFolder, type ModelFolder } from './model-folder';
import { dequantizeQ4, dequantizeQ4Affine } from './q4';
import { dequantizeQ5 } from './q5';
import { dequantizeQ6, dequantizeQ6_K } from './q6';
import { dequantizeQ8, dequantizeQ8_0, dequantizeQ8Affine } from './q8';
import { bytesStream, memorySource, singleFileModel } from './source';
import { toFloat32 } from './tensors';
import type { WeightTensor } from './weights';

const GGUF_DIR = fixturePath('tandem-target-gguf');
const floats = (base64: string) => new Float32Array(Uint8Array.from(Buffer.from(base64, 'base64')).buffer);
const bits = (values: Float32Array) => new Uint32Array(values.buffer, values.byteOffset, values.length);

/**
 * A GGUF model's config beside its folder's, without what differs by design: keys the parser
 * did not know, the stop ids (GGUF lists the tokenizer's), and the norm epsilon (GGUF stores
 * it as f32: returned apart, with the folder's rounded to f32).
 */
function configs(gguf: ModelFolder, folder: ModelFolder) {
  const { unknownKeys: _, normEps, eosTokenIds: __, ...config } = gguf.config;
  const { unknownKeys: ___, normEps: eps, eosTokenIds: ____, ...expected } = folder.config;
  return { config, expected, eps: { read: normEps, expected: Math.fround(eps) } };
}

/** A fixture's GGUF file and its folder, loaded side by side (their tokenizers are not needed). */
async function loadBoth(file: string, folderName: string) {
  const [gguf, folder] = await Promise.all([loadFixture(file), loadFixture(folderName)]);
  gguf.tokenizer.dispose();
  folder.tokenizer.dispose();
  return { gguf, folder };
}

/**
 * An F16 GGUF file's weights are the folder's, bit for bit: matrices as f16, biases as they are,
 * and norms as they are, or (Gemma, `plusOne`) stored as fl(w + 1), read back so that one plus
 * them is that value.
 */
function expectF16Weights(gguf: ModelFolder, folder: ModelFolder, plusOne = true) {
  const offset = plusOne ? 1 : 0;
  expect([...gguf.weights.keys()].sort()).toEqual([...folder.weights.keys()].sort());
  for (const [name, original] of folder.weights) {
    const read = toFloat32(gguf.weights.get(name) as NonNullable<ReturnType<typeof gguf.weights.get>>);
    const w = toFloat32(original);
    const expectedBits = name.endsWith('norm.weight')
      ? bits(w.map((v) => v + offset))
      : original.shape.length === 1
        ? bits(w)
        : bits(w.map((v) => f16ToF32(f32ToF16(v))));
    expect(bits(name.endsWith('norm.weight') ? read.map((v) => v + offset) : read), name).toEqual(expectedBits);
  }
}

/** |a - b| / |a| over all values (root mean square): how far a tensor moved from the one it was made from. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let error = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    error += (a[i] - b[i]) ** 2;
    norm += a[i] ** 2;
  }
  return Math.sqrt(error / norm);
}

describe('GGUF block types', () => {
  it('dequantizes every type it reads as gguf-py does, bit for bit', async () => {
    const golden = JSON.parse(readFileSync(join(GGUF_DIR, 'quant-blocks.json'), 'utf8'));
    const read = new Map<string, Float32Array>();
    const onTensor = (info: GgufTensorInfo, bytes: Uint8Array) => {
      const count = info.shape[0] * info.shape[1];
      const packed = () => new Uint16Array(bytes.slice().buffer);
      const values = !isFloatType(info.type)
        ? dequantize(info.type, bytes, count, info.name)
        : info.type.name === 'F32'
          ? new Float32Array(bytes.slice().buffer)
          : info.type.name === 'F16'
            ? widenF16(packed())
            : widenBF16(packed());
      read.set(info.name, values);
    };
    await readGguf(
      bytesStream(readFileSync(join(GGUF_DIR, 'quant-blocks.gguf'))),
      'quant-blocks.gguf',
      () => true,
      onTensor,
    );
    expect([...read.keys()].sort()).toEqual(Object.keys(golden).sort());
    for (const [name, { values }] of Object.entries(golden) as [string, { values: string }][]) {
      expect(bits(read.get(name) as Float32Array), name).toEqual(bits(floats(values)));
    }
  });

  /** A tensor of quant-blocks.gguf: its raw bytes, and gguf-py's values. */
  async function blocks(name: string) {
    const golden = JSON.parse(readFileSync(join(GGUF_DIR, 'quant-blocks.json'), 'utf8'));
    let raw: Uint8Array = new Uint8Array(0);
    const onTensor = (_: GgufTensorInfo, bytes: Uint8Array) => {
      raw = bytes;
    };
    const file = readFileSync(join(GGUF_DIR, 'quant-blocks.gguf'));
    await readGguf(bytesStream(file), 'quant-blocks.gguf', (info) => info.name === name, onTensor);
    return { raw, values: floats(golden[name].values) };
  }

  it("repacks Q4_0 into MLC's 4-bit layout holding gguf-py's values exactly, with zero point 8", async () => {
    const { raw, values } = await blocks('blocks.Q4_0');
    expect(bits(dequantizeQ4(repackQ4_0(raw, 1024), 2, 512, 8))).toEqual(bits(values));
  });

  const ggmlType = (name: string) => Object.values(GGML_TYPES).find((t) => t.name === name) as GgmlType;

  const I_QUANTS = ['IQ4_NL', 'IQ4_XS', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ1_S', 'IQ1_M'];

  it.each(['Q8_0', 'Q6_K', 'Q5_0', 'Q4_0', 'Q3_K', ...I_QUANTS])(
    "repacks %s into signed 8-bit groups of 16 with a scale, holding gguf-py's values exactly",
    async (type) => {
      const { raw, values } = await blocks(`blocks.${type}`);
      const q8 = repackQ8(ggmlType(type), raw, 1024);
      expect(q8.weights.length).toBe(1024 / 4);
      expect(q8.scales.length).toBe(1024 / 16);
      expect(bits(dequantizeQ8(q8, 1024))).toEqual(bits(values));
    },
  );

  it.each(['Q5_0', 'Q5_1', 'Q4_0', 'Q4_1'].flatMap((type) => [5, 6].map((bits) => [type, bits] as const)))(
    "repacks %s into %i-bit groups of 32 with f16 (scale, min) pairs, holding gguf-py's values exactly",
    async (type, layoutBits) => {
      const { raw, values } = await blocks(`blocks.${type}`);
      // A 5-bit group keeps its fifth bits and a pair (2 u32s), a 6-bit one high bits and a pair for each half (4).
      const [repack, read, extras] =
        layoutBits === 5 ? [repackQ5Affine, dequantizeQ5, 2] : [repackQ6Affine, dequantizeQ6, 4];
      const matrix = repack(ggmlType(type), raw, 1024, type);
      expect(matrix.weights.length).toBe(1024 / 8);
      expect(matrix.scales.length).toBe((extras * 1024) / 32);
      // Exactly, up to the sign of zero (q d - 16 d is +0 where ggml's (q - 16) d is -0).
      const unsigned = (v: Float32Array) => v.map((x) => x + 0);
      expect(bits(unsigned(read(matrix, 1024)))).toEqual(bits(unsigned(values)));
    },
  );

  it.each(['Q5_K', 'Q4_K'])(
    "repacks %s into 5-bit groups of 32, each sub-block's scale and min rounded to f16 once",
    async (type) => {
      const { raw, values } = await blocks(`blocks.${type}`);
      const read = dequantizeQ5(repackQ5Affine(ggmlType(type), raw, 1024, type), 1024);
      // q (d sc) - (dmin m) with d sc and dmin m each within 2^-11 of ggml's: at most q 2^-11
      // d sc + 2^-11 dmin m off, which is below 2^-6 of the block's largest magnitude.
      const largest = Math.max(...values.map(Math.abs));
      for (let i = 0; i < 1024; i++)
        expect(Math.abs(read[i] - values[i]), `value ${i}`).toBeLessThan(largest * 2 ** -6);
      expect(read.filter((v, i) => v !== values[i]).length).toBeGreaterThan(0); // rounded: not the same bits
    },
  );

  it.each(['Q6_K', 'Q5_K', 'Q4_K', 'Q3_K', 'Q2_K'])(
    "repacks %s into 6-bit groups of 32, each sub-block's scale and min rounded to f16 once",
    async (type) => {
      const { raw, values } = await blocks(`blocks.${type}`);
      const read = dequantizeQ6(repackQ6Affine(ggmlType(type), raw, 1024, type), 1024);
      // Each value q scale - min with scale and min within 2^-11 of ggml's (Q6_K's, Q3_K's min is
      // the zero point times the rounded scale: (q - zero) scale, within 2^-11 of ggml's value).
      for (let g = 0; g < 1024 / 16; g++) {
        const group = values.subarray(16 * g, 16 * g + 16);
        const largest = Math.max(...group.map(Math.abs));
        for (let i = 0; i < 16; i++) {
          const at = 16 * g + i;
          expect(Math.abs(read[at] - values[at]), `value ${at}`).toBeLessThanOrEqual(largest * 2 ** -5 + 1e-30);
        }
      }
      expect(read.filter((v, i) => v !== values[i]).length).toBeGreaterThan(0); // rounded: not the same bits
    },
  );

  it("repacks Q6_K into 6-bit groups of 32 with its own d and int8 scales, holding gguf-py's values exactly", async () => {
    const { raw, values } = await blocks('blocks.Q6_K');
    const matrix = repackQ6_K(raw, 1024, 'Q6_K');
    expect(matrix.weights.length).toBe(1024 / 8);
    expect(matrix.scales.length).toBe((3 * 1024) / 32); // 7 bits a value
    // Exactly, up to the sign of zero (q scale - 32 scale is +0 where ggml's (q - 32) scale is -0).
    const unsigned = (v: Float32Array) => v.map((x) => x + 0);
    expect(bits(unsigned(dequantizeQ6_K(matrix, 1024)))).toEqual(bits(unsigned(values)));
    // Negative scales are among them: the int8s' signs are read.
    expect(new Int8Array(raw.buffer, raw.byteOffset, raw.length).subarray(192, 208).some((sc) => sc < 0)).toBe(true);
  });

  it("repacks Q8_0 into 8-bit groups of 32 with its f16 scales, holding gguf-py's values exactly", async () => {
    const { raw, values } = await blocks('blocks.Q8_0');
    const q8 = repackQ8_0(raw, 1024);
    expect(q8.weights.length).toBe(1024 / 4);
    expect(q8.scales.length).toBe(1024 / 32);
    expect(bits(dequantizeQ8_0(q8, 1024))).toEqual(bits(values));
  });

  it.each(['IQ4_NL', 'IQ4_XS', ...OWN_LEVEL_TYPES])(
    "repacks %s into 4-bit level groups of 32 with f32 scales (a 32 or a 16), holding gguf-py's values exactly",
    async (type) => {
      const { raw, values } = await blocks(`blocks.${type}`);
      const matrix = repackLevels(ggmlType(type), raw, 1024, type);
      const layout = levelLayout(ggmlType(type)) as LevelDType;
      expect(matrix.weights.length).toBe(1024 / 8);
      expect(matrix.scales.length).toBe(1024 / (SCALES_PER_16.includes(layout) ? 16 : 32));
      expect(layout).toBe(type.startsWith('IQ4') ? 'IQ4' : type);
      expect(bits(dequantizeIQ4(matrix, 1024, LEVELS[layout]))).toEqual(bits(values));
    },
  );

  it('refuses a 5-bit block whose zero point times its scale is beyond f16, naming the tensor', () => {
    const block = new Uint8Array(22); // Q5_0: d = 8192 (f16 0x7000), nibbles and fifth bits 0
    new DataView(block.buffer).setUint16(0, 0x7000, true);
    expect(() => repackQ5Affine(ggmlType('Q5_0'), block, 32, 'tensor "blk.0.ffn_down.weight"')).toThrow(
      expect.objectContaining({ name: 'GgufFormatError', message: expect.stringContaining('blk.0.ffn_down.weight') }),
    );
  });

  it.each(['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', ...I_QUANTS])(
    "repacks %s into unsigned 8-bit groups of 16 with a (scale, min) pair, holding gguf-py's values exactly",
    async (type) => {
      const { raw, values } = await blocks(`blocks.${type}`);
      const q8 = repackQ8A(ggmlType(type), raw, 1024);
      expect(q8.weights.length).toBe(1024 / 4);
      expect(q8.scales.length).toBe((2 * 1024) / 16);
      // Exactly, up to the sign of zero: ggml's (q - zero) d is -0 where d < 0, q d - zero d is +0.
      const unsigned = (v: Float32Array) => v.map((x) => x + 0);
      expect(bits(unsigned(dequantizeQ8Affine(q8, 1024)))).toEqual(bits(unsigned(values)));
    },
  );

  it("repacks Q4_K into 4-bit groups with an f16 (scale, min) pair, within f16's rounding of gguf-py's", async () => {
    const { raw, values } = await blocks('blocks.Q4_K');
    const q4 = repackQ4Affine(ggmlType('Q4_K'), raw, 1024);
    const got = dequantizeQ4Affine(q4, 2, 512);
    const pairs = widenF16(q4.scales);
    for (let i = 0; i < values.length; i++) {
      const [scale, min] = [pairs[2 * (i >> 5)], pairs[2 * (i >> 5) + 1]];
      // scale and min each moved by at most 2^-11 of themselves; q is at most 15.
      const bound = 2 ** -11 * (15 * Math.abs(scale) + Math.abs(min)) * (1 + 2 ** -9);
      expect(Math.abs(got[i] - values[i]), `value ${i}`).toBeLessThanOrEqual(bound);
    }
    // Not all exact: the rounding is there, and the bound is what limits it.
    expect(got.some((v, i) => v !== values[i])).toBe(true);
  });

  it("repacks Q4_1 into the same 4-bit groups with (scale, min) pairs, holding gguf-py's values exactly", async () => {
    const { raw, values } = await blocks('blocks.Q4_1');
    expect(bits(dequantizeQ4Affine(repackQ4Affine(ggmlType('Q4_1'), raw, 1024), 2, 512))).toEqual(bits(values));
  });
});

describe('the fixture target as a GGUF file', () => {
  let gguf: ModelFolder;
  let folder: ModelFolder;
  beforeAll(async () => {
    [gguf, folder] = await Promise.all([loadFixture(GGUF_FIXTURE), loadFixture(FIXTURES.target)]);
  });
  afterAll(() => {
    gguf.tokenizer.dispose();
    folder.tokenizer.dispose();
  });

  it("reads its config from the metadata: the folder's config.json", () => {
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(eps.read).toBe(eps.expected);
    expect(gguf.stopTokenIds).toEqual([2]); // tokenizer_config.json's eos_token, <|im_end|>
  });

  it('holds every tensor as gguf-py dequantizes it: Q4_0 kept 4-bit, Q5_0 and Q5_1 5-bit, Q8_0 8-bit, q and k rows in Hugging Face order', () => {
    const golden = JSON.parse(readFileSync(join(GGUF_DIR, 'golden-weights.json'), 'utf8'));
    const stride: number = golden.sample_stride;
    const entries = Object.entries(golden.tensors) as [string, { type: string; shape: number[]; samples: string }][];
    expect(entries.map(([name]) => name).sort()).toEqual([...gguf.weights.keys()].sort());
    for (const [name, { type, shape, samples }] of entries) {
      const tensor = gguf.weights.get(name);
      expect(tensor?.shape, name).toEqual(shape);
      // Q4_0 stays 4-bit, but not ffn_gate: it is fused with ffn_up, a Q4_1 matrix, so both
      // are 5-bit groups with (scale, min) pairs, as are the Q5_0 matrices and the Q5_1 LM head.
      const stored =
        shape.length === 1
          ? 'F32'
          : type === 'Q4_0' && !name.includes('gate_proj')
            ? 'Q4_0'
            : type === 'Q8_0'
              ? 'Q8_0'
              : 'Q5_K';
      expect(tensor?.dtype, name).toBe(stored);
      const values = toFloat32(tensor as NonNullable<typeof tensor>);
      // Exactly gguf-py's values; with (scale, min) pairs up to the sign of zero (see repackQ5Affine).
      const sampled = values.filter((_, i) => i % stride === 0).map((v) => (stored === 'Q5_K' ? v + 0 : v));
      const expected = floats(samples).map((v) => (stored === 'Q5_K' ? v + 0 : v));
      expect(bits(sampled), name).toEqual(bits(expected));
    }
  });

  it('holds the weights it was made from, to within their quantization (so q and k rows are where they belong)', () => {
    for (const [name, original] of folder.weights) {
      const read = toFloat32(gguf.weights.get(name) as NonNullable<ReturnType<typeof gguf.weights.get>>);
      // 4-bit blocks: about 10% of the weights' size; a row out of place would be about 140%.
      expect(relativeError(toFloat32(original), read), name).toBeLessThan(0.15);
    }
  });

  it("tokenizes as the folder's tokenizer.json does, and renders the same chat", () => {
    const texts = [
      'Once upon a time, a little fox named Pip lived by the river.',
      '  two spaces, digits 12345 and symbols: <>&%$ é ü 日本',
      '<|im_start|>user\nTell me a story<|im_end|>\n',
    ];
    for (const text of texts) {
      expect(gguf.tokenizer.encode(text), text).toEqual(folder.tokenizer.encode(text));
      const ids = folder.tokenizer.encode(text);
      expect(gguf.tokenizer.decode(ids)).toBe(folder.tokenizer.decode(ids));
    }
    const chat = [
      { role: 'system' as const, content: 'You tell short stories.' },
      { role: 'user' as const, content: 'A story about <|im_end|> a cat.' },
    ];
    expect(gguf.tokenizer.encodeChat(chat)).toEqual(folder.tokenizer.encodeChat(chat));
  });
});

describe('GGUF locations', () => {
  it('tells a GGUF file from a folder', () => {
    expect(singleFileModel('models/Llama-3.2-1B-Instruct-Q4_K_M.gguf')).toEqual({
      folder: 'models/',
      file: 'Llama-3.2-1B-Instruct-Q4_K_M.gguf',
    });
    expect(singleFileModel('https://hf.co/x/y/resolve/main/m.GGUF')).toEqual({
      folder: 'https://hf.co/x/y/resolve/main/',
      file: 'm.GGUF',
    });
    expect(singleFileModel('m.gguf')).toEqual({ folder: './', file: 'm.gguf' });
    expect(singleFileModel('models/tandem-target')).toBeUndefined();
    expect(singleFileModel('models/x.gguf/')).toBeUndefined();
  });
});

const load = (bytes: Uint8Array) =>
  loadModelFolder({ ...memorySource('models', { 'm.gguf': bytes }), name: 'models/m.gguf', file: 'm.gguf' });
const loadError = (bytes: Uint8Array) =>
  load(bytes).then(
    (folder) => {
      folder.tokenizer.dispose();
      throw new Error('loaded');
    },
    (error: Error) => error,
  );

/** Llama 3's RoPE divisors for head_dim 16 and base 500,000, as llama.cpp's converter writes them. */
function llama3Divisors(factor: number): number[] {
  return Array.from({ length: 8 }, (_, i) => {
    const wavelength = (2 * Math.PI) / (1 / 500000 ** ((2 * i) / 16));
    if (wavelength < 8192 / 4) return 1;
    if (wavelength > 8192) return factor;
    const s = (8192 / wavelength - 1) / 3;
    return 1 / ((1 - s) / factor + s);
  });
}

describe('the Phi-3 fixture as a GGUF file', () => {
  it("reads fused projections, LongRoPE's factors and the window back into the folder's config and weights", async () => {
    const { gguf, folder } = await loadBoth(PHI3_GGUF_FIXTURE, FIXTURES.phi3);
    const { config, expected, eps } = configs(gguf, folder);
    // The file holds LongRoPE's factors as f32 tensors.
    const scaling = expected.ropes[0].scaling as Extract<(typeof expected.ropes)[0]['scaling'], { type: 'longrope' }>;
    expect(scaling.type).toBe('longrope');
    Object.assign(scaling, { long: scaling.long.map(Math.fround), short: scaling.short.map(Math.fround) });
    expect(config).toEqual(expected);
    expect(eps.read).toBe(eps.expected);
    expect(config.layers[0].window).toBe(24);
    expect([...gguf.weights.keys()].sort()).toEqual([...folder.weights.keys()].sort());
    for (const [name, original] of folder.weights) {
      const tensor = gguf.weights.get(name) as NonNullable<ReturnType<typeof gguf.weights.get>>;
      expect(tensor.dtype, name).toBe(original.shape.length === 2 ? 'Q8_0' : 'F32');
      // 8-bit blocks: well under 1% of the weights' size; a row out of place would be about 140%.
      expect(relativeError(toFloat32(original), toFloat32(tensor)), name).toBeLessThan(0.01);
    }
  });
});

describe('the Gemma 2 fixture as a GGUF file', () => {
  it("reads the norms back from one plus them, the soft-caps and the window, and llama.cpp's query scale", async () => {
    const { gguf, folder } = await loadBoth(GEMMA2_GGUF_FIXTURE, FIXTURES.gemma2);
    const { config, expected, eps } = configs(gguf, folder);
    // llama.cpp scales Gemma 2's queries by head_dim^-1/2 (the fixture's config says 24^-1/2).
    expect(config.attentionScale).toBe(1 / Math.sqrt(32));
    expect({ ...config, attentionScale: expected.attentionScale }).toEqual(expected);
    expect(eps.read).toBe(eps.expected);
    expect([...gguf.weights.keys()].sort()).toEqual([...folder.weights.keys()].sort());
    for (const [name, original] of folder.weights) {
      const tensor = gguf.weights.get(name) as NonNullable<ReturnType<typeof gguf.weights.get>>;
      const [w, read] = [toFloat32(original), toFloat32(tensor)];
      if (name.endsWith('norm.weight')) {
        // Stored as fl(w + 1), read back as that minus 1: the same one-plus-weight the model multiplies by.
        expect(tensor.dtype, name).toBe('F32');
        expect(bits(read.map((v) => v + 1)), name).toEqual(bits(w.map((v) => v + 1)));
      } else {
        expect(tensor.dtype, name).toBe('F16');
        expect(bits(read), name).toEqual(bits(w.map((v) => f16ToF32(f32ToF16(v)))));
      }
    }
  });
});

describe('the Gemma fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: norms from one plus them, the MLP's input norm as ffn_norm", async () => {
    const { gguf, folder } = await loadBoth(GEMMA_GGUF_FIXTURE, FIXTURES.gemma);
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder);
  });
});

describe('the SmolLM3 fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: RoPE left out of every fourth layer, q and k unpermuted", async () => {
    const { gguf, folder } = await loadBoth(SMOLLM3_GGUF_FIXTURE, FIXTURES.smollm3);
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(config.layers.map((l) => l.rope)).toEqual([0, 0, 0, 1]);
    expect(config.ropes[1]).toMatchObject({ passes: true });
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder, false);
  });
});

describe('the Ministral 3 fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: YaRN, the query scale from attention.temperature_scale, q and k unpermuted", async () => {
    const { gguf, folder } = await loadBoth(MINISTRAL3_GGUF_FIXTURE, FIXTURES.ministral3);
    const { config, expected, eps } = configs(gguf, folder);
    // The file holds llama_4_scaling_beta as an f32.
    const scaling = expected.ropes[0].queryScaling as NonNullable<(typeof expected.ropes)[0]['queryScaling']>;
    scaling.beta = Math.fround(scaling.beta);
    expect(config).toEqual(expected);
    expect(config.ropes[0].scaling).toMatchObject({ type: 'yarn', factor: 16, originalMaxPositions: 16 });
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder, false);
  });
});

describe('the OLMo 2 fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: the branches' output norms, q and k norms over whole projections", async () => {
    const { gguf, folder } = await loadBoth(OLMO2_GGUF_FIXTURE, FIXTURES.olmo2);
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(config).toMatchObject({ qkNorm: 'projection', branchInputNorms: false });
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder, false);
  });
});

describe('the StableLM 2 fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: LayerNorms with their biases, RoPE over a quarter of each head", async () => {
    const { gguf, folder } = await loadBoth(STABLELM2_GGUF_FIXTURE, FIXTURES.stablelm2);
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(config).toMatchObject({ norm: 'layer', rotaryDim: 4, headDim: 16, qkvBias: true });
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder, false);
    expect(gguf.weights.get('model.norm.bias')?.dtype).toBe('F32');
  });
});

describe('the Phi-2 fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: one LayerNorm, fc1 as ffn_up, the biases, the LM head's too", async () => {
    const { gguf, folder } = await loadBoth(PHI2_GGUF_FIXTURE, FIXTURES.phi2);
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(config).toMatchObject({ parallelBranches: true, gatedMlp: false, headBias: true, rotaryDim: 6 });
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder, false);
  });
});

describe('the GPT-NeoX fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: attn_qkv as the folder's query_key_value in q|k|v order, the biases", async () => {
    const { gguf, folder } = await loadBoth(NEOX_GGUF_FIXTURE, FIXTURES.neox);
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(config).toMatchObject({ parallelBranches: true, sharedBranchNorm: false, activation: 'gelu', rotaryDim: 4 });
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder, false);
  });
});

describe('the Qwen3.5 fixture as a GGUF file', () => {
  it("reads the folder's model back: its value heads in llama.cpp's tiled order, A_log from ssm_a, the convolution unsqueezed", async () => {
    const { gguf, folder } = await loadBoth(QWEN35_GGUF_FIXTURE, FIXTURES.qwen35);
    const { config, expected, eps } = configs(gguf, folder);
    const shape = expected.linearAttention as NonNullable<typeof expected.linearAttention>;
    expect(config).toEqual({
      ...expected,
      languageModelOfMultimodal: undefined,
      mtp: undefined, // llama.cpp's converter leaves the multi-token prediction layer out
      linearAttention: { ...shape, valueHeadOrder: 'tiled' },
    });
    expect(eps.read).toBe(eps.expected);
    const read = (name: string) => toFloat32(gguf.weights.get(name) as WeightTensor);
    const original = (name: string) => toFloat32(folder.weights.get(name) as WeightTensor);
    // Value head v of key head g, grouped at g * per + v, is tiled at v * keyHeads + g.
    const per = shape.valueHeads / shape.keyHeads;
    const tiled = (h: number) => (h % per) * shape.keyHeads + Math.floor(h / per);
    const la = 'model.layers.0.linear_attn';
    const aLog = read(`${la}.A_log`);
    const z = read(`${la}.in_proj_z.weight`);
    const width = z.length / (shape.valueHeads * shape.valueDim);
    for (let h = 0; h < shape.valueHeads; h++) {
      expect(aLog[tiled(h)]).toBeCloseTo(original(`${la}.A_log`)[h], 5);
      expect(read(`${la}.dt_bias`)[tiled(h)]).toBe(original(`${la}.dt_bias`)[h]);
      const rows = (w: Float32Array, head: number) =>
        Array.from(w.subarray(head * shape.valueDim * width, (head + 1) * shape.valueDim * width));
      expect(rows(z, tiled(h))).toEqual(rows(original(`${la}.in_proj_z.weight`), h).map((v) => f16ToF32(f32ToF16(v))));
    }
    expect(gguf.weights.get(`${la}.conv1d.weight`)?.shape).toEqual([128, 1, 4]);
    // Every norm is stored plus one but the gated one.
    expect(bits(read(`${la}.norm.weight`))).toEqual(bits(original(`${la}.norm.weight`)));
    const norm = 'model.layers.3.self_attn.q_norm.weight';
    expect(bits(read(norm).map((v) => v + 1))).toEqual(bits(original(norm).map((v) => v + 1)));
  });

  it("computes the folder's logits from it (within f16 rounding of its matrices)", async () => {
    const { gguf } = await loadBoth(QWEN35_GGUF_FIXTURE, FIXTURES.qwen35);
    const model = new ReferenceModel(gguf.config, gguf.weights);
    for (const golden of loadGolden(FIXTURES.qwen35)) {
      expectClose(await model.forward(model.createSequence(128), golden.ids), golden.logits, {
        atol: 2e-2,
        rtol: 1e-2,
      });
    }
  });
});

describe('the Gemma 3 fixture as a GGUF file', () => {
  it("reads the folder's config and weights back: norms (q and k too) from one plus them, RoPE, the window pattern", async () => {
    const { gguf, folder } = await loadBoth(GEMMA3_GGUF_FIXTURE, FIXTURES.gemma3);
    const { config, expected, eps } = configs(gguf, folder);
    expect(config).toEqual(expected);
    expect(config.layers.map((l) => l.window)).toEqual([8, 8, null, 8]);
    expect(eps.read).toBe(eps.expected);
    expectF16Weights(gguf, folder);
  });

  it("assumes llama.cpp's pattern, five windowed layers in six, where the file gives none", async () => {
    const bytes = readFileSync(fixturePath(GEMMA3_GGUF_FIXTURE));
    const header = await readGguf(
      bytesStream(bytes),
      'g.gguf',
      () => false,
      () => {},
    );
    // The same file without the key: rewritten with gguf-writer would change every offset, so
    // the key's name is changed in place to one no reader knows.
    const key = new TextEncoder().encode('gemma3.attention.sliding_window_pattern');
    const at = Buffer.from(bytes).indexOf(Buffer.from(key));
    expect(at).toBeGreaterThan(0);
    expect(header.metadata.get('gemma3.attention.sliding_window_pattern')).toBe(3);
    const renamed = Uint8Array.from(bytes);
    renamed[at] = 'x'.charCodeAt(0);
    const loaded = await load(renamed);
    loaded.tokenizer.dispose();
    expect(loaded.config.layers.map((l) => l.window)).toEqual([8, 8, 8, 8]); // layer 5 would be the first global one
  });
});

describe('GGUF files Tandem reads and refuses', () => {
  it("loads a small llama: tied embedding, Llama 3's RoPE scaling read back from rope_freqs", async () => {
    const folder = await load(
      tinyLlamaGguf({
        edit: (tensors) => {
          tensors.push({ name: 'rope_freqs.weight', type: 0, shape: [8], bytes: f32Bytes(llama3Divisors(32)) });
        },
      }),
    );
    expect(folder.config.tieWordEmbeddings).toBe(true);
    expect(folder.config.ropes[0]).toEqual({
      theta: 500000,
      scaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
    });
    expect(folder.weights.get('model.embed_tokens.weight')?.dtype).toBe('F32'); // all matrices F32: kept
    expect(folder.tokenizer.encode('abcd')).toEqual([6, 7]);
    expect(folder.stopTokenIds).toEqual([1]);
    folder.tokenizer.dispose();
  });

  it("reads YaRN from rope.scaling.* (Qwen's recipe for long contexts), its attention factor from the factor", async () => {
    const yarn = {
      'llama.rope.scaling.type': { type: 'string', value: 'yarn' },
      'llama.rope.scaling.factor': { type: 'f32', value: 4 },
      'llama.rope.scaling.original_context_length': { type: 'u32', value: 64 },
    } as const;
    const folder = await load(tinyLlamaGguf({ changes: yarn }));
    expect(folder.config.ropes[0].scaling).toEqual({
      type: 'yarn',
      factor: 4,
      originalMaxPositions: 64,
      betaFast: 32,
      betaSlow: 1,
      truncate: true,
      attentionFactor: 0.1 * Math.log(4) + 1,
    });
    folder.tokenizer.dispose();
  });

  it.each([
    ['llama-bpe', undefined, [0, 6, 7]], // llama.cpp's default for Llama 3's pre-tokenizer: BOS
    ['llama-bpe', false, [6, 7]],
    ['gpt-2', undefined, [6, 7]],
    ['gpt-2', true, [0, 6, 7]],
  ] as const)(
    'starts prompts of pre-tokenizer "%s" and add_bos_token %s as llama.cpp does: %j',
    async (pre, addBos, ids) => {
      const changes: Parameters<typeof tinyLlamaGguf>[0] = {
        changes: {
          'tokenizer.ggml.pre': { type: 'string', value: pre },
          ...(addBos === undefined ? {} : { 'tokenizer.ggml.add_bos_token': { type: 'bool', value: addBos } }),
        },
      };
      const folder = await load(tinyLlamaGguf(changes));
      expect(folder.tokenizer.encodePrompt('abcd')).toEqual(ids);
      folder.tokenizer.dispose();
    },
  );

  it("keeps Q4_1 matrices, alone or beside Q4_K ones, 4-bit with (scale, min) pairs, each value ggml's", async () => {
    const width = 256; // a row of Q4_K is whole super-blocks of 256
    /** `rows` rows of Q4_1 blocks (20 bytes a 32 values): patterned nibbles, small f16 d and m. */
    const q4_1 = (rows: number): Uint8Array => {
      const bytes = Uint8Array.from({ length: ((rows * width) / 32) * 20 }, (_, i) => (i * 37 + (i >> 6)) & 0xff);
      const view = new DataView(bytes.buffer);
      for (let at = 0, b = 0; at < bytes.length; at += 20, b++) {
        view.setUint16(at, f32ToF16(0.002 * (1 + (b % 7))), true);
        view.setUint16(at + 2, f32ToF16(-0.01 * (1 + (b % 3))), true);
      }
      return bytes;
    };
    const stored = new Map<string, Uint8Array>();
    const folder = await load(
      tinyLlamaGguf({
        width,
        matrixType: 12, // Q4_K
        edit: (tensors) => {
          for (const [name, rows] of [
            ['blk.0.attn_v.weight', width / 2],
            ['blk.0.ffn_gate.weight', 2 * width],
            ['blk.0.ffn_up.weight', 2 * width],
          ] as const) {
            retype(tensors, stored, name, 3, q4_1(rows));
          }
        },
      }),
    );
    folder.tokenizer.dispose();
    for (const [gguf, hf] of [
      ['blk.0.attn_v.weight', 'model.layers.0.self_attn.v_proj.weight'],
      ['blk.0.ffn_gate.weight', 'model.layers.0.mlp.gate_proj.weight'],
      ['blk.0.ffn_up.weight', 'model.layers.0.mlp.up_proj.weight'],
    ] as const) {
      const tensor = folder.weights.get(hf) as WeightTensor;
      expect(tensor.dtype, hf).toBe('Q4_K');
      const count = tensor.shape[0] * tensor.shape[1];
      const expected = dequantize(GGML_TYPES[3], stored.get(gguf) as Uint8Array, count, gguf);
      expect(bits(toFloat32(tensor)), hf).toEqual(bits(expected));
    }
    expect(folder.weights.get('model.layers.0.self_attn.q_proj.weight')?.dtype).toBe('Q4_K'); // Q4_K beside Q4_1 v
  });

  it("keeps Q5_K matrices 5-bit, and the Q4_K ones fused with them (a Q4_K_S file's), each sub-block's pair in f16", async () => {
    const width = 256;
    const source = (rows: number) =>
      Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i * 0.37 + rows) / 16);
    const stored = new Map<string, Uint8Array>();
    const folder = await load(
      tinyLlamaGguf({
        width,
        matrixType: 12, // Q4_K
        edit: (tensors) => {
          for (const [name, rows] of [
            ['blk.0.attn_v.weight', width / 2],
            ['blk.0.ffn_down.weight', 2 * width], // (width, 2 width): the values of 2 width rows of width
          ] as const) {
            retype(tensors, stored, name, 13, quantizeQ5_KBlocks(source(rows)));
          }
          stored.set(
            'blk.0.attn_q.weight',
            (tensors.find((t) => t.name === 'blk.0.attn_q.weight') as GgufWriteTensor).bytes,
          );
        },
      }),
    );
    folder.tokenizer.dispose();
    for (const [gguf, hf, type] of [
      ['blk.0.attn_v.weight', 'model.layers.0.self_attn.v_proj.weight', 13],
      ['blk.0.ffn_down.weight', 'model.layers.0.mlp.down_proj.weight', 13],
      ['blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.weight', 12],
    ] as const) {
      const tensor = folder.weights.get(hf) as WeightTensor;
      expect(tensor.dtype, hf).toBe('Q5_K');
      const count = tensor.shape[0] * tensor.shape[1];
      const expected = dequantize(GGML_TYPES[type], stored.get(gguf) as Uint8Array, count, gguf);
      // q is read as stored; (d sc, dmin m) rounded to f16 once move a value by at most 2^-11 of
      // 31 steps and of the min, far below one step. (q and k rows are reordered: compare v and down.)
      if (type === 13) expect(maxAbsDifference(toFloat32(tensor), expected), hf).toBeLessThan(2e-4);
    }
    // The blocks hold what they were made from, to within a step of 31 over each group's range.
    const down = dequantize(
      GGML_TYPES[13],
      stored.get('blk.0.ffn_down.weight') as Uint8Array,
      2 * width * width,
      'down',
    );
    expect(maxAbsDifference(down, source(2 * width))).toBeLessThan(2 / 16 / 31);
  });

  it("keeps IQ4 and IQ3_S matrices 4-bit level groups, i-quants beside other types 8-bit, and with a K-quant in their group as (scale, min) pairs, each value ggml's", async () => {
    const width = 256; // a row of IQ4_XS is whole super-blocks of 256
    /** `rows` rows of blocks of `type` (IQ4_NL 20, IQ3_S 21, IQ4_XS 23): patterned bytes, each block's f16 d a small scale. */
    const iq = (type: 20 | 21 | 23, rows: number): Uint8Array => {
      const [values, size] = { 20: [32, 18], 21: [256, 110], 23: [256, 136] }[type];
      const bytes = Uint8Array.from({ length: ((rows * width) / values) * size }, (_, i) => (i * 73 + (i >> 7)) & 0xff);
      const view = new DataView(bytes.buffer);
      for (let at = 0; at < bytes.length; at += size)
        view.setUint16(at, f32ToF16(0.003 * (1 + ((at / size) % 5))), true);
      return bytes;
    };
    const stored = new Map<string, Uint8Array>();
    const folder = await load(
      tinyLlamaGguf({
        width,
        edit: (tensors) => {
          retype(tensors, stored, 'blk.0.attn_q.weight', 23, iq(23, width));
          retype(tensors, stored, 'blk.0.attn_k.weight', 23, iq(23, width / 2));
          const v = Float32Array.from({ length: (width / 2) * width }, (_, i) => Math.sin(i * 0.37) / 16);
          retype(tensors, stored, 'blk.0.attn_v.weight', 12, quantizeQ4_KBlocks(v)); // as a Q4_K_M file's attn_v may be
          retype(tensors, stored, 'blk.0.attn_output.weight', 23, iq(23, width));
          retype(tensors, stored, 'blk.0.ffn_gate.weight', 20, iq(20, 2 * width));
          retype(tensors, stored, 'blk.0.ffn_down.weight', 21, iq(21, 2 * width)); // (width, 2 width): the values of 2 width rows of width
          retype(
            tensors,
            stored,
            'blk.0.ffn_up.weight',
            8,
            quantizeQ8_0Blocks(Float32Array.from({ length: 2 * width * width }, (_, i) => Math.cos(i) / 16)),
          );
        },
      }),
    );
    folder.tokenizer.dispose();
    const ggml = (name: string) => Object.values(GGML_TYPES).find((t) => t.name === name) as GgmlType;
    for (const [gguf, hf, type, dtype] of [
      ['blk.0.attn_output.weight', 'model.layers.0.self_attn.o_proj.weight', 'IQ4_XS', 'IQ4'],
      ['blk.0.ffn_gate.weight', 'model.layers.0.mlp.gate_proj.weight', 'IQ4_NL', 'Q8'], // beside Q8_0 up
      ['blk.0.ffn_down.weight', 'model.layers.0.mlp.down_proj.weight', 'IQ3_S', 'IQ3_S'], // alone: its own levels
      ['blk.0.ffn_up.weight', 'model.layers.0.mlp.up_proj.weight', 'Q8_0', 'Q8'],
      ['blk.0.attn_v.weight', 'model.layers.0.self_attn.v_proj.weight', 'Q4_K', 'Q8A'],
    ] as const) {
      const tensor = folder.weights.get(hf) as WeightTensor;
      expect(tensor.dtype, hf).toBe(dtype);
      const bytes = stored.get(gguf) as Uint8Array;
      const count = tensor.shape[0] * tensor.shape[1];
      expect(bits(toFloat32(tensor)), hf).toEqual(bits(dequantize(ggml(type), bytes, count, gguf)));
    }
    expect(folder.weights.get('model.layers.0.self_attn.q_proj.weight')?.dtype).toBe('Q8A'); // q|k|v share a layout
  });

  it.each([
    // Llama 3: a run of letters is one word, digits go three at a time; BOS by default.
    ['llama-bpe', [0, 6, 3, 8]],
    // GPT-4o: a capital starts a word; digits three at a time.
    ['gpt-4o', [2, 7, 8]],
    // Tekken: a capital starts a word; digits one at a time; BOS by default.
    ['tekken', [0, 2, 7, 5, 5]],
  ] as const)('splits words and digits as pre-tokenizer "%s" does before its merges: %j', async (pre, ids) => {
    const tokens = ['<s>', '</s>', 'a', 'b', 'A', '1', 'aA', 'Ab', '11'];
    const folder = await load(
      tinyLlamaGguf({
        changes: {
          'tokenizer.ggml.pre': { type: 'string', value: pre },
          'tokenizer.ggml.tokens': { type: 'array', element: 'string', values: tokens },
          'tokenizer.ggml.token_type': { type: 'array', element: 'i32', values: [3, 3, 1, 1, 1, 1, 1, 1, 1] },
          'tokenizer.ggml.merges': { type: 'array', element: 'string', values: ['a A', 'A b', '1 1'] },
        },
        edit: (tensors) => {
          const embedding = tensors.find((t) => t.name === 'token_embd.weight') as GgufWriteTensor;
          Object.assign(embedding, {
            shape: [tokens.length, 32],
            bytes: f32Bytes(Array(tokens.length * 32).fill(0.01)),
          });
        },
      }),
    );
    expect(folder.tokenizer.encodePrompt('aAb11')).toEqual(ids);
    expect(folder.tokenizer.decode(folder.tokenizer.encode('aAb11'))).toBe('aAb11');
    folder.tokenizer.dispose();
  });

  it('passes over tensors named like object properties, as over any tensor it does not use', async () => {
    const names = ['constructor', 'toString', 'blk.0.__proto__', 'blk.0.constructor'];
    const folder = await load(tinyLlamaGguf({ edit: (t) => void t.push(...names.map((name) => ({ ...t[1], name }))) }));
    folder.tokenizer.dispose();
    expect([...folder.weights.keys()].every((k) => typeof k === 'string' && /^(model\.|lm_head)/.test(k))).toBe(true);
  });

  it('keeps a token named "__proto__" in the vocabulary', async () => {
    const tokens = ['<s>', '</s>', 'a', 'b', 'c', 'd', 'ab', '__proto__'];
    const folder = await load(
      tinyLlamaGguf({
        changes: {
          'tokenizer.ggml.tokens': { type: 'array', element: 'string', values: tokens },
          'tokenizer.ggml.merges': { type: 'array', element: 'string', values: ['a b'] },
        },
      }),
    );
    expect(folder.tokenizer.idToToken(7)).toBe('__proto__');
    expect(folder.tokenizer.vocabSize).toBe(8);
    folder.tokenizer.dispose();
  });

  it.each(['gpt-2', 'llama-bpe', 'qwen2', 'smollm', 'llama3', 'deepseek-r1-qwen', 'stablelm2', 'dbrx', 'olmo'])(
    'reads the pre-tokenizer "%s"',
    async (pre) => {
      const folder = await load(tinyLlamaGguf({ changes: { 'tokenizer.ggml.pre': { type: 'string', value: pre } } }));
      expect(folder.tokenizer.encode('abcd')).toEqual([6, 7]);
      folder.tokenizer.dispose();
    },
  );

  it('refuses RoPE divisors that are not Llama 3 scaling', async () => {
    const error = await loadError(
      tinyLlamaGguf({
        edit: (tensors) => {
          tensors.push({ name: 'rope_freqs.weight', type: 0, shape: [8], bytes: f32Bytes(Array(8).fill(1.5)) });
        },
      }),
    );
    expect(error.name).toBe('ModelConfigError');
    expect(error.message).toMatch(/rope_freqs.weight .* not Llama 3's/);
  });

  it.each([
    ['not a GGUF file', () => new TextEncoder().encode('{"not": "gguf"}.......'), 'GgufFormatError', /not a GGUF file/],
    ['a truncated file', () => tinyLlamaGguf().subarray(0, 3000), 'GgufFormatError', /truncated/],
    [
      'a file cut in its last tensor',
      () => tinyLlamaGguf().subarray(0, tinyLlamaGguf().length - 40),
      'GgufFormatError',
      /truncated/,
    ],
    [
      'bytes past the last tensor',
      () => Uint8Array.from([...tinyLlamaGguf(), ...new Uint8Array(64)]),
      'GgufFormatError',
      /64 bytes past its last tensor/,
    ],
    [
      'version 1',
      () => Uint8Array.from([...tinyLlamaGguf().subarray(0, 4), 1, 0, 0, 0, ...tinyLlamaGguf().subarray(8)]),
      'GgufFormatError',
      /version 1/,
    ],
    [
      'an architecture Tandem does not run',
      () => tinyLlamaGguf({ changes: { 'general.architecture': { type: 'string', value: 'mamba' } } }),
      'UnsupportedArchitectureError',
      /"mamba" is not one Tandem runs/,
    ],
    [
      'OLMo 3 (an olmo2 file with sliding windows)',
      () =>
        tinyLlamaGguf({
          changes: {
            'general.architecture': { type: 'string', value: 'olmo2' },
            'olmo2.attention.sliding_window': { type: 'u32', value: 4096 },
          },
        }),
      'UnsupportedArchitectureError',
      /sliding window is OLMo 3/,
    ],
    [
      "one of LongRoPE's factor tensors without the other",
      () =>
        tinyLlamaGguf({
          edit: (t) =>
            void t.push({ name: 'rope_factors_long.weight', type: 0, shape: [8], bytes: f32Bytes(Array(8).fill(1)) }),
        }),
      'TensorMissingError',
      /rope_factors_long.weight and rope_factors_short.weight without the other/,
    ],
    [
      'a tokenizer Tandem does not read',
      () => tinyLlamaGguf({ changes: { 'tokenizer.ggml.model': { type: 'string', value: 'rwkv' } } }),
      'TokenizerError',
      /tokenizer is "rwkv"/,
    ],
    [
      'a SentencePiece tokenizer without scores',
      () => tinyLlamaGguf({ changes: { 'tokenizer.ggml.model': { type: 'string', value: 'llama' } } }),
      'TokenizerError',
      /tokenizer.ggml.scores does not give a score for each of the \d+ pieces/,
    ],
    [
      'an unknown pre-tokenizer',
      () => tinyLlamaGguf({ changes: { 'tokenizer.ggml.pre': { type: 'string', value: 'jais' } } }),
      'TokenizerError',
      /pre-tokenizer is "jais"/,
    ],
    [
      'a pre-tokenizer named like an object property',
      () => tinyLlamaGguf({ changes: { 'tokenizer.ggml.pre': { type: 'string', value: 'toString' } } }),
      'TokenizerError',
      /pre-tokenizer is "toString"/,
    ],
    [
      'a missing tensor',
      () =>
        tinyLlamaGguf({
          edit: (t) =>
            t.splice(
              t.findIndex((x) => x.name === 'blk.0.ffn_up.weight'),
              1,
            ),
        }),
      'TensorMissingError',
      /mlp\.up_proj\.weight \(llama.cpp's name: blk\.0\.ffn_up\.weight\)/,
    ],
    [
      'a tensor of the wrong shape',
      () =>
        tinyLlamaGguf({
          edit: (t) => {
            const v = t.find((x) => x.name === 'blk.0.attn_v.weight') as GgufWriteTensor;
            Object.assign(v, { shape: [32, 32], bytes: f32Bytes(Array(1024).fill(0)) });
          },
        }),
      'TensorShapeError',
      /"blk\.0\.attn_v\.weight" has shape \[32,32\] but the metadata implies \[16,32\]/,
    ],
    [
      'a layer past the block count',
      () => tinyLlamaGguf({ edit: (t) => void t.push({ ...t[2], name: 'blk.1.attn_norm.weight' }) }),
      'TensorShapeError',
      /holds "blk\.1\.attn_norm\.weight", but its metadata says the model has 1 layers/,
    ],
    [
      'a tensor whose type disagrees with its bytes',
      () =>
        tinyLlamaGguf({
          edit: (t) =>
            void Object.assign(t.find((x) => x.name === 'blk.0.attn_q.weight') as GgufWriteTensor, { type: 1 }),
        }),
      'GgufFormatError',
      /tensor "blk\.0\.attn_k\.weight" at byte \d+ of its data where the tensors before it end at \d+/,
    ],
    [
      'a block type it does not read',
      () =>
        tinyLlamaGguf({
          edit: (t) => {
            const up = t.find((x) => x.name === 'blk.0.ffn_up.weight') as GgufWriteTensor;
            // MXFP4: blocks of 32 values in 17 bytes, one to each of the 64 rows of 32.
            Object.assign(up, { type: 39, bytes: new Uint8Array(64 * 17) });
          },
        }),
      'UnsupportedQuantizationError',
      /"blk\.0\.ffn_up\.weight" is MXFP4, a type Tandem does not read/,
    ],
    [
      'rows that are not whole blocks',
      () =>
        tinyLlamaGguf({
          edit: (t) => {
            const down = t.find((x) => x.name === 'blk.0.ffn_down.weight') as GgufWriteTensor;
            Object.assign(down, { type: 12, bytes: new Uint8Array(32 * 144) }); // Q4_K: blocks of 256
          },
        }),
      'GgufFormatError',
      /rows of 64 values, not whole Q4_K blocks of 256/,
    ],
  ])('refuses %s by name', async (_, bytes, name, message) => {
    const error = await loadError(bytes());
    expect(error.name).toBe(name);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/m\.gguf/); // says which file
  });
});

/** The largest |a[i] - b[i]|. */
function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Gives tensor `name` of a file being written another block type and its bytes, kept in `stored`. */
function retype(
  tensors: GgufWriteTensor[],
  stored: Map<string, Uint8Array>,
  name: string,
  type: number,
  bytes: Uint8Array,
) {
  Object.assign(tensors.find((t) => t.name === name) as GgufWriteTensor, { type, bytes });
  stored.set(name, bytes);
}
