/** safetensors parsing: a good file round-trips; every kind of damage raises SafetensorsFormatError saying what. */

import { describe, expect, it } from 'vitest';
import { parseSafetensors, readSafetensors, tensorData } from './safetensors';
import { encodeSafetensors } from './safetensors-writer';

const good = () =>
  encodeSafetensors({
    'a.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    'b.weight': { dtype: 'F16', shape: [4], data: Uint16Array.from([0x3c00, 0x4000, 0xc000, 0]) },
  });

function withHeader(header: unknown, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

function failure(bytes: Uint8Array): Error {
  try {
    parseSafetensors(bytes, 'test.safetensors');
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected parseSafetensors to fail');
}

describe('parseSafetensors', () => {
  it('reads tensors, shapes and data; half precision stays packed', () => {
    const file = parseSafetensors(good());
    const a = file.tensors.get('a.weight');
    const b = file.tensors.get('b.weight');
    expect(a?.shape).toEqual([2, 3]);
    expect(Array.from(tensorData(file, a ?? ({} as never)) as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    const packed = tensorData(file, b ?? ({} as never));
    expect(packed).toBeInstanceOf(Uint16Array);
    expect(Array.from(packed as Uint16Array)).toEqual([0x3c00, 0x4000, 0xc000, 0]);
  });

  it('rejects a file too short for the header length', () => {
    const error = failure(new Uint8Array(5));
    expect(error.name).toBe('SafetensorsFormatError');
    expect(error.message).toMatch(/too short/);
  });

  it('rejects a header length past the end of the file', () => {
    const bytes = good();
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.byteLength), true);
    const error = failure(bytes);
    expect(error.name).toBe('SafetensorsFormatError');
    expect(error.message).toMatch(/runs past the end/);
  });

  it('rejects a truncated file, naming the tensor that is cut off', () => {
    const bytes = good();
    const error = failure(bytes.subarray(0, bytes.byteLength - 3));
    expect(error.name).toBe('SafetensorsFormatError');
    expect(error.message).toMatch(/"b\.weight".*truncated/);
  });

  it('rejects an unknown dtype, naming it', () => {
    const error = failure(withHeader({ x: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, 2));
    expect(error.name).toBe('SafetensorsFormatError');
    expect(error.message).toMatch(/"x" has dtype "F8_E4M3"/);
  });

  it('rejects a header that is not JSON', () => {
    const bytes = withHeader({ padding: 'xxxxxxxx' });
    bytes.set(new TextEncoder().encode('{oops'), 8);
    expect(failure(bytes).message).toMatch(/not valid JSON/);
  });

  it('rejects tensors that overlap, leave a gap, or leave bytes over', () => {
    const overlap = withHeader(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      },
      8,
    );
    expect(failure(overlap).message).toMatch(/overlaps/);
    const gap = withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8);
    expect(failure(gap).message).toMatch(/gap of 4 bytes/);
    const extra = withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8);
    expect(failure(extra).message).toMatch(/4 bytes lie past the last tensor/);
  });

  it('rejects a header length one byte short: the data would shift onto the padding', () => {
    const bytes = good();
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, view.getBigUint64(0, true) - 1n, true);
    expect(failure(bytes).name).toBe('SafetensorsFormatError');
  });

  it('rejects offsets that disagree with the shape', () => {
    const error = failure(withHeader({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8));
    expect(error.message).toMatch(/needs 12 bytes but data_offsets span 8/);
  });
});

describe('readSafetensors', () => {
  /** `bytes` as a stream of chunks of `size` bytes, so reads straddle chunk boundaries. */
  const chunked = (bytes: Uint8Array, size: number) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.byteLength; at += size) controller.enqueue(bytes.slice(at, at + size));
        controller.close();
      },
    });

  it('reads the wanted tensors from a stream into arrays of their own, passing over the rest', async () => {
    for (const size of [1, 5, 7, 4096]) {
      const tensors = await readSafetensors(chunked(good(), size), 'x', (info) => info.name === 'b.weight');
      expect([...tensors.keys()]).toEqual(['b.weight']);
      expect(Array.from((tensors.get('b.weight')?.data ?? []) as Uint16Array)).toEqual([0x3c00, 0x4000, 0xc000, 0]);
    }
  });

  it('shows the header before reading a tensor, and names a stream that ends early', async () => {
    const seen: string[] = [];
    const bytes = good();
    const error = await readSafetensors(
      chunked(bytes.subarray(0, bytes.byteLength - 2), 3),
      'cut.safetensors',
      () => true,
      (header) => seen.push(...header.tensors.keys()),
    ).catch((e: Error) => e);
    expect(seen).toEqual(['a.weight', 'b.weight']);
    expect((error as Error).name).toBe('SafetensorsFormatError');
    expect((error as Error).message).toMatch(/cut\.safetensors ends at byte \d+, 2 bytes short/);
  });
});
