/**
 * Writes small GGUF files for tests (the fixture files come from llama.cpp's own gguf-py:
 * scripts/fixtures/gguf_fixture.py): metadata of any type, tensors of raw bytes, the layout of
 * loader/gguf.ts's comment. Tests build the cases a converter never writes with it.
 */

import { f16ToF32, f32ToF16 } from '../loader/half';
import { IQ4_LEVELS } from '../loader/iq4';

export type GgufWriteValue =
  | { type: 'u32' | 'i32' | 'f32' | 'bool' | 'string'; value: number | boolean | string }
  | { type: 'array'; element: 'string' | 'i32' | 'f32'; values: (string | number)[] };

export interface GgufWriteTensor {
  name: string;
  /** ggml type id (0 F32, 1 F16, 8 Q8_0, ...). */
  type: number;
  /** Row-major, outermost first; written innermost first as GGUF has it. */
  shape: number[];
  bytes: Uint8Array;
}

const ALIGNMENT = 32;
const TYPE_IDS = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;

export function writeGguf(
  metadata: Record<string, GgufWriteValue>,
  tensors: GgufWriteTensor[],
  version = 3,
): Uint8Array {
  const parts: number[] = [];
  const bytes = (b: ArrayLike<number>) => {
    for (let i = 0; i < b.length; i++) parts.push(b[i]);
  };
  const scalar = (size: number, set: (view: DataView) => void) => {
    const view = new DataView(new ArrayBuffer(size));
    set(view);
    bytes(new Uint8Array(view.buffer));
  };
  const u32 = (v: number) => scalar(4, (d) => d.setUint32(0, v, true));
  const u64 = (v: number) => scalar(8, (d) => d.setBigUint64(0, BigInt(v), true));
  const string = (s: string) => {
    const encoded = new TextEncoder().encode(s);
    u64(encoded.length);
    bytes(encoded);
  };
  const element = (type: 'u32' | 'i32' | 'f32' | 'bool' | 'string', v: number | boolean | string) => {
    if (type === 'string') string(v as string);
    else if (type === 'bool') parts.push(v ? 1 : 0);
    else if (type === 'f32') scalar(4, (d) => d.setFloat32(0, v as number, true));
    else if (type === 'i32') scalar(4, (d) => d.setInt32(0, v as number, true));
    else u32(v as number);
  };

  bytes(new TextEncoder().encode('GGUF'));
  u32(version);
  u64(tensors.length);
  u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    string(key);
    u32(TYPE_IDS[value.type]);
    if (value.type === 'array') {
      u32(TYPE_IDS[value.element]);
      u64(value.values.length);
      for (const v of value.values) element(value.element, v);
    } else {
      element(value.type, value.value);
    }
  }
  let offset = 0;
  const offsets = tensors.map((t) => {
    const at = offset;
    offset += Math.ceil(t.bytes.length / ALIGNMENT) * ALIGNMENT;
    return at;
  });
  tensors.forEach((t, i) => {
    string(t.name);
    u32(t.shape.length);
    for (const d of [...t.shape].reverse()) u64(d);
    u32(t.type);
    u64(offsets[i]);
  });
  while (parts.length % ALIGNMENT !== 0) parts.push(0);
  tensors.forEach((t, i) => {
    bytes(t.bytes);
    const end = (offsets[i + 1] ?? offset) - offsets[i] - t.bytes.length;
    for (let p = 0; p < end; p++) parts.push(0);
  });
  return Uint8Array.from(parts);
}

/** F32 bytes of `values`. */
export const f32Bytes = (values: ArrayLike<number>) => new Uint8Array(Float32Array.from(values).buffer);

/**
 * `values` (a multiple of 32) as ggml's Q4_0 blocks, as its quantize_row_q4_0_ref makes them:
 * d = the block's value of largest magnitude / -8, q = min(15, trunc(x / d + 8.5)).
 */
export function quantizeQ4_0Blocks(values: Float32Array): Uint8Array {
  const out = new Uint8Array((values.length / 32) * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < values.length / 32; b++) {
    const x = values.subarray(32 * b, 32 * b + 32);
    let max = 0;
    for (const v of x) if (Math.abs(v) > Math.abs(max)) max = v;
    const d = Math.fround(max / -8);
    const id = d === 0 ? 0 : Math.fround(1 / d);
    view.setUint16(18 * b, f32ToF16(d), true);
    const q = (v: number) => Math.min(15, Math.trunc(Math.fround(Math.fround(v * id) + 8.5)));
    for (let j = 0; j < 16; j++) out[18 * b + 2 + j] = q(x[j]) | (q(x[j + 16]) << 4);
  }
  return out;
}

/**
 * `values` (a multiple of 32) as ggml's Q8_0 blocks, as its quantize_row_q8_0_ref makes them:
 * d = the block's largest magnitude / 127 (stored in f16), q = roundf(x / d).
 */
export function quantizeQ8_0Blocks(values: Float32Array): Uint8Array {
  const out = new Uint8Array((values.length / 32) * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < values.length / 32; b++) {
    const x = values.subarray(32 * b, 32 * b + 32);
    const d = Math.fround(Math.max(...x.map(Math.abs)) / 127);
    const id = d === 0 ? 0 : Math.fround(1 / d);
    view.setUint16(34 * b, f32ToF16(d), true);
    const q = (v: number) => Math.sign(v) * Math.round(Math.abs(v)); // roundf: halves away from zero
    for (let j = 0; j < 32; j++) view.setInt8(34 * b + 2 + j, q(Math.fround(x[j] * id)));
  }
  return out;
}

/**
 * `values` (a multiple of 256) as ggml's Q4_K super-blocks: a simple encoding (each group's
 * range over 15 steps, its scale and min as 6-bit multiples of the super-block's d and dmin),
 * not llama.cpp's search for the best one, but laid out bit for bit as ggml reads it.
 */
export function quantizeQ4_KBlocks(values: Float32Array): Uint8Array {
  return quantizeKBlocks(values, 4);
}

/** The same as Q5_K super-blocks: 31 steps, the fifth bits in 32 bytes before the nibbles. */
export function quantizeQ5_KBlocks(values: Float32Array): Uint8Array {
  return quantizeKBlocks(values, 5);
}

function quantizeKBlocks(values: Float32Array, bits: 4 | 5): Uint8Array {
  const top = 2 ** bits - 1;
  const size = bits === 4 ? 144 : 176;
  const qs = bits === 4 ? 16 : 48; // the nibbles, after Q5_K's fifth bits
  const out = new Uint8Array((values.length / 256) * size);
  const view = new DataView(out.buffer);
  for (let b = 0; b < values.length / 256; b++) {
    const x = values.subarray(256 * b, 256 * b + 256);
    const steps: number[] = [];
    const mins: number[] = [];
    for (let g = 0; g < 8; g++) {
      const group = x.subarray(32 * g, 32 * g + 32);
      const lo = Math.min(0, ...group);
      steps.push((Math.max(...group) - lo) / top);
      mins.push(-lo);
    }
    const d = f16ToF32(f32ToF16(Math.max(...steps) / 63));
    const dmin = f16ToF32(f32ToF16(Math.max(...mins) / 63));
    const sc = steps.map((s) => (d === 0 ? 0 : Math.min(63, Math.round(s / d))));
    const m = mins.map((v) => (dmin === 0 ? 0 : Math.min(63, Math.round(v / dmin))));
    const at = size * b;
    view.setUint16(at, f32ToF16(d), true);
    view.setUint16(at + 2, f32ToF16(dmin), true);
    // The 6-bit pairs as ggml's get_scale_min_k4 reads them.
    for (let j = 0; j < 4; j++) {
      out[at + 4 + j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
      out[at + 8 + j] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
      out[at + 12 + j] = (sc[j + 4] & 0xf) | ((m[j + 4] & 0xf) << 4);
    }
    const q = (v: number, g: number) => {
      const step = d * sc[g];
      return step === 0 ? 0 : Math.max(0, Math.min(top, Math.round((v + dmin * m[g]) / step)));
    };
    for (let part = 0; part < 4; part++) {
      for (let l = 0; l < 32; l++) {
        const first = q(x[64 * part + l], 2 * part);
        const second = q(x[64 * part + 32 + l], 2 * part + 1);
        out[at + qs + 32 * part + l] = (first & 15) | ((second & 15) << 4);
        // Q5_K: value l of the part's first half is bit 2 part of byte l, of its second half the next bit.
        if (bits === 5) out[at + 16 + l] |= ((first >> 4) << (2 * part)) | ((second >> 4) << (2 * part + 1));
      }
    }
  }
  return out;
}

/** The index of the IQ4 level that, times `scale`, comes nearest `value`. */
export function nearestIQ4Level(value: number, scale: number): number {
  const distances = IQ4_LEVELS.map((level) => Math.abs(level * scale - value));
  return distances.indexOf(Math.min(...distances));
}

/**
 * `values` (a multiple of 256) as ggml's IQ4_XS super-blocks: a simple encoding (each
 * sub-block's scale its largest magnitude over 127, as a 6-bit multiple of the super-block's d,
 * and each value the nearest level), not llama.cpp's search, but laid out bit for bit as ggml
 * reads it: d, the scales' high 2 bits (a u16), their low nibbles (4 bytes), then each 32
 * values' nibbles, value j low and j + 16 high.
 */
export function quantizeIQ4_XSBlocks(values: Float32Array): Uint8Array {
  const out = new Uint8Array((values.length / 256) * 136);
  const view = new DataView(out.buffer);
  for (let b = 0; b < values.length / 256; b++) {
    const x = values.subarray(256 * b, 256 * b + 256);
    const wanted = Array.from(
      { length: 8 },
      (_, ib) => Math.max(...x.subarray(32 * ib, 32 * ib + 32).map(Math.abs)) / 127,
    );
    const d = f16ToF32(f32ToF16(Math.max(...wanted) / 31));
    const at = 136 * b;
    view.setUint16(at, f32ToF16(d), true);
    let high = 0;
    for (let ib = 0; ib < 8; ib++) {
      const ls = 32 + (d === 0 ? 0 : Math.min(31, Math.round(wanted[ib] / d)));
      high |= (ls >> 4) << (2 * ib);
      out[at + 4 + (ib >> 1)] |= (ls & 15) << (4 * (ib & 1));
      const scale = d * (ls - 32);
      const nearest = (v: number) => nearestIQ4Level(v, scale);
      for (let j = 0; j < 16; j++) {
        out[at + 8 + 16 * ib + j] = nearest(x[32 * ib + j]) | (nearest(x[32 * ib + j + 16]) << 4);
      }
    }
    view.setUint16(at + 2, high, true);
  }
  return out;
}

/** The width and block type of a `tinyLlamaGguf`; the heads are 2 (1 for k and v) of width / 2. */
export interface TinyLlama {
  width?: number;
  /** The matrices' type: F32 (0), Q4_0 (2), Q8_0 (8), Q4_K (12), Q5_K (13) or IQ4_XS (23); the embedding, norms and LM head stay F32. */
  matrixType?: 0 | 2 | 8 | 12 | 13 | 23;
  /** llama.cpp's metadata to change. */
  changes?: Record<string, GgufWriteValue>;
  /** Metadata keys to leave out. */
  without?: string[];
  /** Changes to the tensor list, after it is made. */
  edit?: (tensors: GgufWriteTensor[]) => void;
}

/**
 * A one-layer llama GGUF file (MLP twice as wide as the model, a vocabulary of 8 BPE tokens,
 * embedding tied to the LM head), its weights a smooth pattern of the scale of a trained model's.
 */
export function tinyLlamaGguf({
  width = 32,
  matrixType = 0,
  changes = {},
  without = [],
  edit = () => {},
}: TinyLlama = {}): Uint8Array {
  const tokens = ['<s>', '</s>', 'a', 'b', 'c', 'd', 'ab', 'cd'];
  const metadata: Record<string, GgufWriteValue> = {
    'general.architecture': { type: 'string', value: 'llama' },
    'llama.context_length': { type: 'u32', value: 256 },
    'llama.embedding_length': { type: 'u32', value: width },
    'llama.block_count': { type: 'u32', value: 1 },
    'llama.feed_forward_length': { type: 'u32', value: 2 * width },
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
    ...changes,
  };
  const matrix = (name: string, rows: number, cols: number, type = matrixType): GgufWriteTensor => {
    const values = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37 + rows) / Math.sqrt(cols));
    const quantize = {
      2: quantizeQ4_0Blocks,
      8: quantizeQ8_0Blocks,
      12: quantizeQ4_KBlocks,
      13: quantizeQ5_KBlocks,
      23: quantizeIQ4_XSBlocks,
    }[type as 2 | 8 | 12 | 13 | 23];
    const bytes = quantize ? quantize(values) : f32Bytes(values);
    return { name, type, shape: [rows, cols], bytes };
  };
  const vector = (name: string): GgufWriteTensor => ({
    name,
    type: 0,
    shape: [width],
    bytes: f32Bytes(Array(width).fill(1)),
  });
  const tensors = [
    matrix('token_embd.weight', 8, width, 0),
    vector('output_norm.weight'),
    vector('blk.0.attn_norm.weight'),
    matrix('blk.0.attn_q.weight', width, width),
    matrix('blk.0.attn_k.weight', width / 2, width),
    matrix('blk.0.attn_v.weight', width / 2, width),
    matrix('blk.0.attn_output.weight', width, width),
    vector('blk.0.ffn_norm.weight'),
    matrix('blk.0.ffn_gate.weight', 2 * width, width),
    matrix('blk.0.ffn_up.weight', 2 * width, width),
    matrix('blk.0.ffn_down.weight', width, 2 * width),
  ];
  edit(tensors);
  for (const key of without) delete metadata[key];
  return writeGguf(metadata, tensors);
}
