/** Model files from a folder on disk (Node: the CLI, the CLI benchmark, tests). */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileMissingError } from '../errors';
import type { ModelSource } from './source';

export function directorySource(folder: string): ModelSource {
  return {
    name: folder,
    async read(file, onProgress) {
      const path = join(folder, file);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (cause) {
        const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(cause);
        throw new ModelFileMissingError(`Could not read ${path}: ${reason}`, { cause });
      }
      onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    },
  };
}
