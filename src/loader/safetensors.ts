/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * ({ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }), then the
 * tensor bytes, offsets relative to the end of the header. Everything is checked before use,
 * and a bad file raises SafetensorsFormatError naming the file, the tensor and the numbers.
 *
 * Half-precision tensors stay packed (Uint16Array): the GPU reads them as they are.
 */

import { SafetensorsFormatError } from '../errors';

export type DType = 'F32' | 'F16' | 'BF16' | 'I32';

const ITEM_SIZE: Record<DType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte range in the file (not in the data section). */
  begin: number;
  end: number;
}

export interface Safetensors {
  fileName: string;
  bytes: Uint8Array;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

export function parseSafetensors(bytes: Uint8Array, fileName = 'model.safetensors'): Safetensors {
  const fail = (what: string) => new SafetensorsFormatError(`${fileName}: ${what}`);
  if (bytes.byteLength < 8) throw fail(`file is ${bytes.byteLength} bytes, too short for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8) {
    throw fail(
      `header length ${headerLength} runs past the end of the file (${bytes.byteLength} bytes): truncated or not safetensors`,
    );
  }
  if (headerLength > MAX_HEADER_BYTES) throw fail(`header length ${headerLength} is implausibly large`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (cause) {
    throw new SafetensorsFormatError(`${fileName}: header is not valid JSON (${String(cause)})`, { cause });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('header is not a JSON object');

  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
      throw fail(
        `tensor "${name}" has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(ITEM_SIZE).join(', ')}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = shape.reduce((a: number, b: number) => a * b, 1) * ITEM_SIZE[dtype as DType];
    if (end - begin !== expected) {
      throw fail(
        `tensor "${name}" (${dtype} ${JSON.stringify(shape)}) needs ${expected} bytes but data_offsets span ${end - begin}`,
      );
    }
    if (end > dataLength) {
      throw fail(
        `tensor "${name}" ends at data byte ${end} but the file holds only ${dataLength}: the file is truncated`,
      );
    }
    tensors.set(name, { name, dtype: dtype as DType, shape, begin: dataStart + begin, end: dataStart + end });
  }
  return { fileName, bytes, tensors, metadata };
}

/** The tensor's elements: Float32Array for F32, Int32Array for I32, packed Uint16Array for F16/BF16. */
export function tensorData(file: Safetensors, info: TensorInfo): Float32Array | Int32Array | Uint16Array {
  const length = (info.end - info.begin) / ITEM_SIZE[info.dtype];
  const Type = info.dtype === 'F32' ? Float32Array : info.dtype === 'I32' ? Int32Array : Uint16Array;
  const offset = file.bytes.byteOffset + info.begin;
  if (offset % Type.BYTES_PER_ELEMENT === 0) return new Type(file.bytes.buffer as ArrayBuffer, offset, length);
  return new Type(file.bytes.slice(info.begin, info.end).buffer); // unaligned: copy
}
