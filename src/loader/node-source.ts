/**
 * Model files from a folder on disk (Node: the CLI, the CLI benchmark, tests). Weights stream
 * from the file in chunks, so a file of any size loads (Node cannot read one over 2 GiB into a
 * single buffer) and only the tensors a model needs are kept.
 */

import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ModelFileMissingError } from '../errors';
import { confined, type ModelSource, unkept, withProgress } from './source';

export function directorySource(folder: string): ModelSource {
  const path = (file: string) => join(folder, confined(folder, file));
  const missing = (file: string, cause: unknown) => {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(cause);
    return new ModelFileMissingError(`Could not read ${path(file)}: ${reason}`, { cause });
  };
  return {
    name: folder,
    async read(file) {
      try {
        return await readFile(path(file));
      } catch (cause) {
        throw missing(file, cause);
      }
    },
    async open(file, onProgress) {
      let size: number;
      try {
        size = (await stat(path(file))).size;
      } catch (cause) {
        throw missing(file, cause);
      }
      const stream = Readable.toWeb(createReadStream(path(file), { highWaterMark: 4 << 20 }));
      return unkept(withProgress(stream as ReadableStream<Uint8Array>, file, size, onProgress));
    },
  };
}
