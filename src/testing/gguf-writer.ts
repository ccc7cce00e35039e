/**
 * Writes small GGUF files for tests (the fixture files come from llama.cpp's own gguf-py:
 * scripts/fixtures/gguf_fixture.py): metadata of any type, tensors of raw bytes, the layout of
 * loader/gguf.ts's comment. Tests build the cases a converter never writes with it.
 */

import { f32ToF16 } from '../loader/half';

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
