/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * ({ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }, padded with
 * spaces), then the tensor bytes, offsets relative to the end of the header.
 *
 * The header is checked as the format's own (Rust) validator checks it before anything is
 * used: a JSON object, known dtypes, offsets that match the shapes, and tensors that tile the
 * data section exactly, in order, with no gap, overlap or byte to spare. A bad file raises
 * SafetensorsFormatError naming the file, the tensor and the numbers.
 *
 * `readSafetensors` reads a file as a stream, each wanted tensor straight into its own array
 * (half precision stays packed, as the GPU reads it); `parseSafetensors` reads one held in memory.
 */

import { SafetensorsFormatError } from '../errors';
import { ByteReader } from './byte-reader';

export type DType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'BOOL';

// I64 and BOOL: index tensors such as an EAGLE head's d2t and t2d maps.
const ITEM_SIZE: Record<DType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, BOOL: 1 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte range in the file (not in the data section). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  fileName: string;
  /** In file order. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** The file's length: header and every tensor. */
  fileBytes: number;
}

export type TensorArray = Float32Array | Int32Array | Uint16Array | BigInt64Array | Uint8Array;

export interface Safetensors extends SafetensorsHeader {
  bytes: Uint8Array;
}

/** The header length field of the first 8 bytes, checked. */
function headerLength(first8: Uint8Array, fileName: string): number {
  const length = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (length > MAX_HEADER_BYTES) {
    throw new SafetensorsFormatError(`${fileName}: header length ${length} is implausibly large: not safetensors`);
  }
  return length;
}

/** The header's JSON (`json`, the N bytes after the length), checked and laid out in file order. */
export function parseHeader(json: Uint8Array, fileName: string): SafetensorsHeader {
  const fail = (what: string) => new SafetensorsFormatError(`${fileName}: ${what}`);
  const text = new TextDecoder().decode(json);
  if (!text.startsWith('{')) throw fail('the header does not start with "{": not safetensors, or a shifted header');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (cause) {
    throw new SafetensorsFormatError(`${fileName}: header is not valid JSON (${String(cause)})`, { cause });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('header is not a JSON object');

  const dataStart = 8 + json.byteLength;
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, dtype)) {
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
    tensors.push({ name, dtype: dtype as DType, shape, begin: dataStart + begin, end: dataStart + end });
  }
  // The tensors must tile the data section: in order, each starting where the one before ends.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = dataStart;
  for (const t of tensors) {
    if (t.begin !== at) {
      throw fail(
        t.begin < at
          ? `tensor "${t.name}" overlaps the tensor before it (data bytes ${t.begin - dataStart}-${t.end - dataStart})`
          : `a gap of ${t.begin - at} bytes lies before tensor "${t.name}"`,
      );
    }
    at = t.end;
  }
  return { fileName, tensors: new Map(tensors.map((t) => [t.name, t])), metadata, fileBytes: at };
}

/**
 * Reads a safetensors file from `stream`: the header (handed to `onHeader` to check before any
 * tensor is read), then each tensor `wanted` says to keep, into an array of its own; the others
 * are passed over. The stream must end with the last tensor.
 */
export async function readSafetensors(
  stream: ReadableStream<Uint8Array>,
  fileName: string,
  wanted: (info: TensorInfo) => boolean,
  onHeader: (header: SafetensorsHeader) => void = () => {},
): Promise<Map<string, { info: TensorInfo; data: TensorArray }>> {
  const reader = ByteReader.forFile(stream, fileName, SafetensorsFormatError);
  try {
    const json = await reader.bytes(headerLength(await reader.bytes(8), fileName));
    const header = parseHeader(json, fileName);
    onHeader(header);
    const tensors = new Map<string, { info: TensorInfo; data: TensorArray }>();
    for (const info of header.tensors.values()) {
      if (!wanted(info)) {
        await reader.skip(info.end - info.begin);
        continue;
      }
      const data = allocate(info);
      await reader.fill(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      tensors.set(info.name, { info, data });
    }
    if (!(await reader.atEnd())) {
      throw new SafetensorsFormatError(`${fileName} has bytes past its last tensor (byte ${header.fileBytes} on)`);
    }
    return tensors;
  } catch (error) {
    await reader.cancel();
    throw error;
  }
}

/** A safetensors file held in memory, checked as `readSafetensors` checks it. */
export function parseSafetensors(bytes: Uint8Array, fileName = 'model.safetensors'): Safetensors {
  const fail = (what: string) => new SafetensorsFormatError(`${fileName}: ${what}`);
  if (bytes.byteLength < 8) throw fail(`file is ${bytes.byteLength} bytes, too short for a safetensors header`);
  const length = headerLength(bytes, fileName);
  if (length > bytes.byteLength - 8) {
    throw fail(
      `header length ${length} runs past the end of the file (${bytes.byteLength} bytes): truncated or not safetensors`,
    );
  }
  const header = parseHeader(bytes.subarray(8, 8 + length), fileName);
  if (header.fileBytes !== bytes.byteLength) {
    const last = [...header.tensors.values()].at(-1)?.name;
    throw fail(
      header.fileBytes > bytes.byteLength
        ? `tensor "${last}" ends at byte ${header.fileBytes} but the file holds only ${bytes.byteLength}: the file is truncated`
        : `${bytes.byteLength - header.fileBytes} bytes lie past the last tensor`,
    );
  }
  return { ...header, bytes };
}

/** The tensor's elements: Float32Array for F32, Int32Array for I32, packed Uint16Array for F16/BF16, BigInt64Array for I64, Uint8Array for BOOL. */
export function tensorData(file: Safetensors, info: TensorInfo): TensorArray {
  const length = (info.end - info.begin) / ITEM_SIZE[info.dtype];
  const Type = arrayType(info.dtype);
  const offset = file.bytes.byteOffset + info.begin;
  if (offset % Type.BYTES_PER_ELEMENT === 0) return new Type(file.bytes.buffer as ArrayBuffer, offset, length);
  return new Type(file.bytes.slice(info.begin, info.end).buffer); // unaligned: copy
}

function arrayType(dtype: DType) {
  if (dtype === 'I64') return BigInt64Array;
  if (dtype === 'BOOL') return Uint8Array;
  return dtype === 'F32' ? Float32Array : dtype === 'I32' ? Int32Array : Uint16Array;
}

function allocate(info: TensorInfo): TensorArray {
  return new (arrayType(info.dtype))((info.end - info.begin) / ITEM_SIZE[info.dtype]);
}
