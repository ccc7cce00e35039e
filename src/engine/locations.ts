/**
 * Where an engine's model folders come from: a URL (in a page or worker, kept in browser
 * storage through the model store), a directory path (Node), or files already at hand.
 */

import { storedSource } from '../loader/model-store';
import { type ModelSource, singleFileModel, urlSource } from '../loader/source';

/** A model folder (or GGUF file): a URL (browser, worker), a path (Node), or files already at hand. */
export type ModelLocation = string | ModelSource;

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/**
 * A folder path in Node; a URL elsewhere, kept in browser storage where there is one. A
 * location ending in `.gguf` is that file, in its folder's source.
 */
export async function sourceFor(location: ModelLocation, onStoreError: (error: Error) => void): Promise<ModelSource> {
  if (typeof location !== 'string') return location;
  const single = singleFileModel(location);
  const source = await folderSource(single?.folder ?? location, onStoreError);
  return single ? { ...source, name: location, file: single.file } : source;
}

async function folderSource(folder: string, onStoreError: (error: Error) => void): Promise<ModelSource> {
  if (isNode && !/^https?:\/\//.test(folder)) {
    const { directorySource } = await import('../loader/node-source');
    return directorySource(folder);
  }
  return isNode ? urlSource(folder) : storedSource(folder, onStoreError);
}
