/**
 * GGUF, llama.cpp's single-file format (ggml's docs/gguf.md), read as a stream:
 *
 *   "GGUF" magic, version u32 (2 or 3), tensor count u64, metadata count u64
 *   metadata: key (string), value type u32, value; a string is a u64 length and UTF-8 bytes,
 *             an array an element type u32, a u64 count and the elements
 *   tensor infos: name, dimension count u32, dimensions u64 (innermost first: ne[0] is a
 *             row's length), ggml type u32, offset u64 from the start of the data
 *   the data, from the first multiple of `general.alignment` (32 by default) after the infos
 *
 * The header is checked before any tensor is read: known types, rows of whole blocks, and each
 * tensor's data where the ones before it end, padded to the alignment (as llama.cpp checks).
 * Each wanted tensor's bytes go to the caller as they are read, in file order; the rest are
 * skipped, and the file is read to its end (its last tensor's padding at most).
 */

import { GgufFormatError } from '../errors';
import { ByteReader } from './byte-reader';
import { GGML_TYPES, type GgmlType } from './gguf-quants';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  type: GgmlType;
  /** Row-major, outermost first (GGUF's dimensions reversed): [rows, k] for a matrix. */
  shape: number[];
  /** From the start of the file. */
  begin: number;
  end: number;
}

export interface GgufHeader {
  fileName: string;
  version: number;
  metadata: Map<string, GgufValue>;
  /** In file order. */
  tensors: GgufTensorInfo[];
}

const MAGIC = 0x46554747; // "GGUF", little-endian
const MAX_COUNT = 1 << 24;
const MAX_STRING = 1 << 26;
const MAX_DIMS = 4;

/** Scalars of the header, read little-endian from the stream. */
class HeaderReader {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  constructor(
    readonly bytes: ByteReader,
    private readonly fail: (what: string) => Error,
  ) {}

  private async view(n: number) {
    const b = await this.bytes.bytes(n);
    return new DataView(b.buffer, b.byteOffset, n);
  }
  async u32() {
    return (await this.view(4)).getUint32(0, true);
  }
  async u64(what: string): Promise<number> {
    const value = (await this.view(8)).getBigUint64(0, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`${what} is ${value}, more than a file can hold`);
    return Number(value);
  }
  async count(what: string, max = MAX_COUNT) {
    const n = await this.u64(what);
    if (n > max) throw this.fail(`${what} is ${n}, more than ${max}: not a GGUF header, or a damaged one`);
    return n;
  }
  async string(what: string): Promise<string> {
    const bytes = await this.bytes.bytes(await this.count(`the length of ${what}`, MAX_STRING));
    try {
      return this.decoder.decode(bytes);
    } catch {
      throw this.fail(`${what} is not UTF-8 text`);
    }
  }

  async value(type: number, what: string): Promise<GgufValue> {
    switch (type) {
      case 0:
        return (await this.view(1)).getUint8(0);
      case 1:
        return (await this.view(1)).getInt8(0);
      case 2:
        return (await this.view(2)).getUint16(0, true);
      case 3:
        return (await this.view(2)).getInt16(0, true);
      case 4:
        return this.u32();
      case 5:
        return (await this.view(4)).getInt32(0, true);
      case 6:
        return (await this.view(4)).getFloat32(0, true);
      case 7:
        return (await this.view(1)).getUint8(0) !== 0;
      case 8:
        return this.string(what);
      case 9: {
        const element = await this.u32();
        if (element === 9) throw this.fail(`${what} is an array of arrays, which GGUF does not allow`);
        const n = await this.count(`the length of ${what}`);
        const out: GgufValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = await this.value(element, what);
        return out;
      }
      case 10:
        return (await this.view(8)).getBigUint64(0, true);
      case 11:
        return (await this.view(8)).getBigInt64(0, true);
      case 12:
        return (await this.view(8)).getFloat64(0, true);
      default:
        throw this.fail(`${what} has value type ${type}, which GGUF does not define`);
    }
  }
}

async function readHeader(header: HeaderReader, fileName: string, fail: (what: string) => Error) {
  const magic = await header.u32();
  if (magic !== MAGIC) throw fail('does not start with "GGUF": not a GGUF file');
  const version = await header.u32();
  if (version !== 2 && version !== 3) {
    throw fail(`is GGUF version ${version}; Tandem reads versions 2 and 3 (convert it again with a current llama.cpp)`);
  }
  const tensorCount = await header.count('the tensor count');
  const metadataCount = await header.count('the metadata count');
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < metadataCount; i++) {
    const key = await header.string(`metadata key ${i}`);
    metadata.set(key, await header.value(await header.u32(), `metadata "${key}"`));
  }
  const alignment = metadata.get('general.alignment') ?? 32;
  if (typeof alignment !== 'number' || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
    throw fail(`general.alignment is ${String(alignment)}, not a power of two`);
  }

  const infos: { name: string; type: GgmlType; shape: number[]; offset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await header.string(`tensor name ${i}`);
    const dims = await header.u32();
    if (dims < 1 || dims > MAX_DIMS) throw fail(`tensor "${name}" has ${dims} dimensions (1 to ${MAX_DIMS})`);
    const ne: number[] = [];
    for (let d = 0; d < dims; d++) ne.push(await header.u64(`a dimension of "${name}"`));
    const typeId = await header.u32();
    const type = GGML_TYPES[typeId];
    if (!type) throw fail(`tensor "${name}" has ggml type ${typeId}, which this version of Tandem does not know`);
    if (ne[0] % type.blockValues !== 0) {
      throw fail(`tensor "${name}" has rows of ${ne[0]} values, not whole ${type.name} blocks of ${type.blockValues}`);
    }
    const offset = await header.u64(`the offset of "${name}"`);
    infos.push({ name, type, shape: ne.reverse(), offset });
  }
  // As llama.cpp requires: the tensors' data in the order of their infos, each starting where
  // the one before ends, padded to the alignment. A type or shape that disagrees with the bytes
  // the file holds for the tensor shows as an offset out of place.
  const dataStart = Math.ceil(header.bytes.position / alignment) * alignment;
  const names = new Set<string>();
  let expected = 0;
  const tensors = infos.map(({ name, type, shape, offset }) => {
    if (names.has(name)) throw fail(`holds tensor "${name}" twice`);
    names.add(name);
    if (offset !== expected) {
      throw fail(
        `has tensor "${name}" at byte ${offset} of its data where the tensors before it end at ${expected}: ` +
          'a tensor whose type or shape disagrees with the bytes the file holds for it',
      );
    }
    const bytes = (shape.reduce((a, b) => a * b, 1) / type.blockValues) * type.blockBytes;
    expected += Math.ceil(bytes / alignment) * alignment;
    return { name, type, shape, begin: dataStart + offset, end: dataStart + offset + bytes };
  });
  const read: GgufHeader = { fileName, version, metadata, tensors };
  return { header: read, alignment };
}

/**
 * Reads `stream`, a GGUF file: its header (passed to `onHeader`, which may throw to refuse
 * the file before any tensor is read), then the bytes of each tensor `wanted` keeps, each
 * passed to `onTensor` as it arrives.
 */
export async function readGguf(
  stream: ReadableStream<Uint8Array>,
  fileName: string,
  wanted: (info: GgufTensorInfo) => boolean,
  onTensor: (info: GgufTensorInfo, bytes: Uint8Array) => void,
  onHeader: (header: GgufHeader) => void = () => {},
): Promise<GgufHeader> {
  const fail = (what: string) => new GgufFormatError(`${fileName} ${what}`);
  const bytes = ByteReader.forFile(stream, fileName, GgufFormatError);
  try {
    const { header, alignment } = await readHeader(new HeaderReader(bytes, fail), fileName, fail);
    onHeader(header);
    for (const info of header.tensors.filter(wanted)) {
      await bytes.skip(info.begin - bytes.position);
      onTensor(info, await bytes.bytes(info.end - info.begin));
    }
    // To the end, so that a source that keeps what it reads keeps the whole file.
    const end = header.tensors.at(-1)?.end ?? bytes.position;
    const rest = bytes.position + (await bytes.skipRest());
    if (rest < end) throw fail(`ends at byte ${rest}, ${end - rest} bytes short: the file is truncated`);
    if (rest - end >= alignment) throw fail(`has ${rest - end} bytes past its last tensor`);
    return header;
  } catch (error) {
    await bytes.cancel();
    throw error;
  }
}
