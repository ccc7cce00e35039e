/** A folder on disk as a FileDirectory (Node: the CLI, the benchmark, tests). */

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileDirectory } from './file-directory';

export async function nodeDirectory(path: string): Promise<FileDirectory> {
  await mkdir(path, { recursive: true });
  return {
    names: () => readdir(path),
    async read(name) {
      try {
        const bytes = await readFile(join(path, name));
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Uint8Array<ArrayBuffer>;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async write(name, bytes) {
      // Written beside, then renamed over: a reader never sees half a file.
      const partial = join(path, `${name}.partial`);
      await writeFile(partial, bytes);
      await rename(partial, join(path, name));
    },
    remove: (name) => rm(join(path, name), { force: true }),
  };
}

/** A new, empty folder under the system's temporary directory (benchmarks, tests). */
export async function scratchFolder(prefix: string): Promise<{ directory: FileDirectory; remove(): Promise<void> }> {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { directory: await nodeDirectory(path), remove: () => rm(path, { recursive: true, force: true }) };
}
