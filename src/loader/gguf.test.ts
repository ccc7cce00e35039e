/**
 * GGUF files: every block type Tandem reads against llama.cpp's own gguf-py (bit for bit), the
 * fixture target's file against gguf-py's dequantization and against the weights it was made
 * from, its tokenizer against the folder's tokenizer.json, and a named error for each way a
 * file can be wrong.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, fixturePath, GGUF_FIXTURE, loadFixture } from '../testing/fixtures';
import { f32Bytes, type GgufWriteTensor, type GgufWriteValue, writeGguf } from '../testing/gguf-writer';
import { type GgufTensorInfo, readGguf } from './gguf';
import { dequantize, isFloatType, repackQ4_0 } from './gguf-quants';
import { f16ToF32, f32ToF16, widenBF16, widenF16 } from './half';
import { loadModelFolder, type ModelFolder } from './model-folder';
import { dequantizeQ4 } from './q4';
import { bytesStream, memorySource, singleFileModel } from './source';
import { toFloat32 } from './tensors';

const GGUF_DIR = fixturePath('tandem-target-gguf');
const floats = (base64: string) => new Float32Array(Uint8Array.from(Buffer.from(base64, 'base64')).buffer);
const bits = (values: Float32Array) => new Uint32Array(values.buffer, values.byteOffset, values.length);

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

  it("repacks Q4_0 into MLC's 4-bit layout holding gguf-py's values exactly, with zero point 8", async () => {
    const golden = JSON.parse(readFileSync(join(GGUF_DIR, 'quant-blocks.json'), 'utf8'));
    let repacked: Float32Array | undefined;
    const onTensor = (_: GgufTensorInfo, bytes: Uint8Array) => {
      repacked = dequantizeQ4(repackQ4_0(bytes, 1024), 2, 512, 8);
    };
    const file = readFileSync(join(GGUF_DIR, 'quant-blocks.gguf'));
    await readGguf(bytesStream(file), 'quant-blocks.gguf', (info) => info.name === 'blocks.Q4_0', onTensor);
    expect(bits(repacked as Float32Array)).toEqual(bits(floats(golden['blocks.Q4_0'].values)));
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
    const { unknownKeys: _, rmsNormEps, eosTokenIds: __, ...config } = gguf.config;
    const { unknownKeys: ___, rmsNormEps: eps, eosTokenIds: ____, ...expected } = folder.config;
    expect(config).toEqual(expected);
    expect(rmsNormEps).toBe(Math.fround(eps)); // GGUF stores it as f32
    expect(gguf.stopTokenIds).toEqual([2]); // tokenizer_config.json's eos_token, <|im_end|>
  });

  it('holds every tensor as gguf-py dequantizes it: Q4_0 kept 4-bit, other blocks in f16, q and k rows in Hugging Face order', () => {
    const golden = JSON.parse(readFileSync(join(GGUF_DIR, 'golden-weights.json'), 'utf8'));
    const stride: number = golden.sample_stride;
    const entries = Object.entries(golden.tensors) as [string, { type: string; shape: number[]; samples: string }][];
    expect(entries.map(([name]) => name).sort()).toEqual([...gguf.weights.keys()].sort());
    for (const [name, { type, shape, samples }] of entries) {
      const tensor = gguf.weights.get(name);
      expect(tensor?.shape, name).toEqual(shape);
      // Q4_0 stays 4-bit, but not ffn_gate: it is fused with ffn_up, a Q4_1 matrix, so both are f16.
      const stored = shape.length === 1 ? 'F32' : type === 'Q4_0' && !name.includes('gate_proj') ? 'Q4_0' : 'F16';
      expect(tensor?.dtype, name).toBe(stored);
      const values = toFloat32(tensor as NonNullable<typeof tensor>);
      const sampled = values.filter((_, i) => i % stride === 0);
      // What an f16 matrix holds: gguf-py's value rounded to f16 once; the others hold it exactly.
      const expected = floats(samples).map((v) => (stored === 'F16' ? f16ToF32(f32ToF16(v)) : v));
      expect(bits(sampled), name).toEqual(bits(expected));
    }
  });

  it('holds the weights it was made from, to within their quantization (so q and k rows are where they belong)', () => {
    for (const [name, original] of folder.weights) {
      const a = toFloat32(original);
      const b = toFloat32(gguf.weights.get(name) as NonNullable<ReturnType<typeof gguf.weights.get>>);
      let error = 0;
      let norm = 0;
      for (let i = 0; i < a.length; i++) {
        error += (a[i] - b[i]) ** 2;
        norm += a[i] ** 2;
      }
      // 4-bit blocks: about 10% of the weights' size; a row out of place would be about 140%.
      expect(Math.sqrt(error / norm), name).toBeLessThan(0.15);
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

/** A one-layer llama of width 32 in F32, with metadata `changes`, and `edit` applied to its tensors. */
function tinyModel(
  changes: Record<string, GgufWriteValue> = {},
  edit: (tensors: GgufWriteTensor[]) => void = () => {},
): Uint8Array {
  const tokens = ['<s>', '</s>', 'a', 'b', 'c', 'd', 'ab', 'cd'];
  const metadata: Record<string, GgufWriteValue> = {
    'general.architecture': { type: 'string', value: 'llama' },
    'llama.context_length': { type: 'u32', value: 256 },
    'llama.embedding_length': { type: 'u32', value: 32 },
    'llama.block_count': { type: 'u32', value: 1 },
    'llama.feed_forward_length': { type: 'u32', value: 64 },
    'llama.attention.head_count': { type: 'u32', value: 2 },
    'llama.attention.head_count_kv': { type: 'u32', value: 1 },
    'llama.rope.freq_base': { type: 'f32', value: 500000 },
    'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: 1e-5 },
    'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
    'tokenizer.ggml.pre': { type: 'string', value: 'llama-bpe' },
    'tokenizer.ggml.tokens': { type: 'array', element: 'string', values: tokens },
    'tokenizer.ggml.token_type': { type: 'array', element: 'i32', values: [3, 3, 1, 1, 1, 1, 1, 1] },
    'tokenizer.ggml.merges': { type: 'array', element: 'string', values: ['a b', 'c d'] },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 0 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 1 },
  };
  const matrix = (name: string, rows: number, cols: number): GgufWriteTensor => ({
    name,
    type: 0,
    shape: [rows, cols],
    bytes: f32Bytes(Array.from({ length: rows * cols }, (_, i) => Math.sin(i) / 8)),
  });
  const vector = (name: string): GgufWriteTensor => ({
    name,
    type: 0,
    shape: [32],
    bytes: f32Bytes(Array(32).fill(1)),
  });
  const tensors = [
    matrix('token_embd.weight', 8, 32),
    vector('output_norm.weight'),
    vector('blk.0.attn_norm.weight'),
    matrix('blk.0.attn_q.weight', 32, 32),
    matrix('blk.0.attn_k.weight', 16, 32),
    matrix('blk.0.attn_v.weight', 16, 32),
    matrix('blk.0.attn_output.weight', 32, 32),
    vector('blk.0.ffn_norm.weight'),
    matrix('blk.0.ffn_gate.weight', 64, 32),
    matrix('blk.0.ffn_up.weight', 64, 32),
    matrix('blk.0.ffn_down.weight', 32, 64),
  ];
  edit(tensors);
  return writeGguf({ ...metadata, ...changes }, tensors);
}

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

describe('GGUF files Tandem reads and refuses', () => {
  it("loads a small llama: tied embedding, Llama 3's RoPE scaling read back from rope_freqs", async () => {
    const folder = await load(
      tinyModel({}, (tensors) => {
        tensors.push({ name: 'rope_freqs.weight', type: 0, shape: [8], bytes: f32Bytes(llama3Divisors(32)) });
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

  it.each(['gpt-2', 'llama-bpe', 'qwen2', 'smollm'])('reads the pre-tokenizer "%s"', async (pre) => {
    const folder = await load(tinyModel({ 'tokenizer.ggml.pre': { type: 'string', value: pre } }));
    expect(folder.tokenizer.encode('abcd')).toEqual([6, 7]);
    folder.tokenizer.dispose();
  });

  it('refuses RoPE divisors that are not Llama 3 scaling', async () => {
    const error = await loadError(
      tinyModel({}, (tensors) => {
        tensors.push({ name: 'rope_freqs.weight', type: 0, shape: [8], bytes: f32Bytes(Array(8).fill(1.5)) });
      }),
    );
    expect(error.name).toBe('ModelConfigError');
    expect(error.message).toMatch(/rope_freqs.weight .* not Llama 3's/);
  });

  it.each([
    ['not a GGUF file', () => new TextEncoder().encode('{"not": "gguf"}.......'), 'GgufFormatError', /not a GGUF file/],
    ['a truncated file', () => tinyModel().subarray(0, 3000), 'GgufFormatError', /truncated/],
    [
      'version 1',
      () => Uint8Array.from([...tinyModel().subarray(0, 4), 1, 0, 0, 0, ...tinyModel().subarray(8)]),
      'GgufFormatError',
      /version 1/,
    ],
    [
      'an architecture Tandem does not run',
      () => tinyModel({ 'general.architecture': { type: 'string', value: 'mamba' } }),
      'UnsupportedArchitectureError',
      /"mamba" is not one Tandem runs/,
    ],
    [
      'a SentencePiece tokenizer',
      () => tinyModel({ 'tokenizer.ggml.model': { type: 'string', value: 'llama' } }),
      'TokenizerError',
      /tokenizer is "llama"/,
    ],
    [
      'an unknown pre-tokenizer',
      () => tinyModel({ 'tokenizer.ggml.pre': { type: 'string', value: 'tekken' } }),
      'TokenizerError',
      /pre-tokenizer is "tekken"/,
    ],
    [
      'a missing tensor',
      () =>
        tinyModel({}, (t) =>
          t.splice(
            t.findIndex((x) => x.name === 'blk.0.ffn_up.weight'),
            1,
          ),
        ),
      'TensorMissingError',
      /mlp\.up_proj\.weight \(llama.cpp's name: blk\.0\.ffn_up\.weight\)/,
    ],
    [
      'a tensor of the wrong shape',
      () =>
        tinyModel({}, (t) => {
          const v = t.find((x) => x.name === 'blk.0.attn_v.weight') as GgufWriteTensor;
          Object.assign(v, { shape: [32, 32], bytes: f32Bytes(Array(1024).fill(0)) });
        }),
      'TensorShapeError',
      /"blk\.0\.attn_v\.weight" has shape \[32,32\] but the metadata implies \[16,32\]/,
    ],
    [
      'a layer past the block count',
      () => tinyModel({}, (t) => void t.push({ ...t[2], name: 'blk.1.attn_norm.weight' })),
      'TensorShapeError',
      /holds "blk\.1\.attn_norm\.weight", but its metadata says the model has 1 layers/,
    ],
    [
      'a block type it does not read',
      () =>
        tinyModel({}, (t) => {
          const up = t.find((x) => x.name === 'blk.0.ffn_up.weight') as GgufWriteTensor;
          // IQ4_NL: blocks of 32 values in 18 bytes, two to a row of 32.
          Object.assign(up, { type: 20, bytes: new Uint8Array(64 * 36) });
        }),
      'UnsupportedQuantizationError',
      /"blk\.0\.ffn_up\.weight" is IQ4_NL, a type Tandem does not read/,
    ],
    [
      'rows that are not whole blocks',
      () =>
        tinyModel({}, (t) => {
          const down = t.find((x) => x.name === 'blk.0.ffn_down.weight') as GgufWriteTensor;
          Object.assign(down, { type: 12, bytes: new Uint8Array(32 * 144) }); // Q4_K: blocks of 256
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
