/**
 * Model files on disk: a weight file over 2 GiB (which Node cannot read into one buffer) loads
 * by streaming, keeping only the tensors the model needs, without ever holding the file.
 */

import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, loadFixture } from '../testing/fixtures';
import { directorySource } from './node-source';
import { loadWeights } from './weights';

const dir = mkdtempSync(join(tmpdir(), 'tandem-big-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('directorySource', () => {
  it('streams a 2.5 GB model.safetensors, holding only the tensors the model needs', { timeout: 120_000 }, async () => {
    const folder = await loadFixture(FIXTURES.draft);
    folder.tokenizer.dispose();
    // A file that starts with 2.5 GB of a tensor no model reads (sparse on disk: no real bytes),
    // then the draft's own tensors, whose offsets all lie past 2^31.
    const padding = 2.5e9;
    const header: Record<string, unknown> = {
      'unused.padding': { dtype: 'F32', shape: [padding / 4], data_offsets: [0, padding] },
    };
    let offset = padding;
    for (const [name, t] of folder.weights) {
      header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
      offset += t.data.byteLength;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const start = 8 + json.length;
    const path = join(dir, 'model.safetensors');
    const fd = openSync(path, 'w');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, length, 0, 8, 0);
    writeSync(fd, Buffer.from(json), 0, json.length, 8);
    closeSync(fd);
    truncateSync(path, start + offset);
    const tail = openSync(path, 'r+');
    for (const [name, t] of folder.weights) {
      const [begin] = (header[name] as { data_offsets: number[] }).data_offsets;
      writeSync(
        tail,
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        0,
        t.data.byteLength,
        start + begin,
      );
    }
    closeSync(tail);

    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const weights = await loadWeights(directorySource(dir), folder.config, () => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    });
    expect(peak - before).toBeLessThan(256 << 20); // a few chunks in flight, never the file
    expect([...weights.keys()].sort()).toEqual([...folder.weights.keys()].sort());
    for (const [name, t] of folder.weights) expect(weights.get(name)?.data).toEqual(t.data);
  });
});
