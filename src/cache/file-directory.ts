/**
 * A flat directory of files, the one thing the prefix store needs from storage: the Origin
 * Private File System in browsers (pages and workers of one origin share it), a folder on disk
 * in Node (`node-directory.ts`, so the browser bundle never sees `fs`).
 */

export interface FileDirectory {
  /** Every file name in it. */
  names(): Promise<string[]>;
  /** The whole file, or undefined when there is none by that name. */
  read(name: string): Promise<Uint8Array<ArrayBuffer> | undefined>;
  /** Writes the file whole, replacing any file of that name. */
  write(name: string, bytes: Uint8Array<ArrayBuffer>): Promise<void>;
  /** Removes the file; nothing happens when there is none. */
  remove(name: string): Promise<void>;
}

/** The directory `name` of this origin's private file system, or undefined where there is none (Node, an insecure page). */
export async function originDirectory(name: string): Promise<FileDirectory | undefined> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storage?.getDirectory !== 'function') return undefined;
  let folder: FileSystemDirectoryHandle;
  try {
    folder = await (await storage.getDirectory()).getDirectoryHandle(name, { create: true });
  } catch {
    return undefined; // private browsing, storage disabled
  }
  const missing = (error: unknown) => (error as Error).name === 'NotFoundError';
  return {
    async names() {
      const names: string[] = [];
      for await (const key of (folder as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(key);
      return names;
    },
    async read(file) {
      try {
        const handle = await folder.getFileHandle(file);
        return new Uint8Array(await (await handle.getFile()).arrayBuffer());
      } catch (error) {
        if (missing(error)) return undefined;
        throw error;
      }
    },
    async write(file, bytes) {
      const handle = await folder.getFileHandle(file, { create: true });
      const writable = await handle.createWritable();
      try {
        await writable.write(bytes);
        await writable.close();
      } catch (error) {
        await writable.abort().catch(() => undefined);
        throw error;
      }
    },
    async remove(file) {
      try {
        await folder.removeEntry(file);
      } catch (error) {
        if (!missing(error)) throw error;
      }
    },
  };
}
