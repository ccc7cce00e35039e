/**
 * Where an engine's model folders come from: a URL (in a page or worker, kept in browser
 * storage through the model store), a directory path (Node), or files already at hand.
 */

import { storedSource } from '../loader/model-store';
import { type ModelSource, urlSource } from '../loader/source';

/** A model folder: a URL (browser, worker), a directory path (Node), or files already at hand. */
export type ModelLocation = string | ModelSource;

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** A folder path in Node; a URL elsewhere, kept in browser storage where there is one. */
export async function sourceFor(location: ModelLocation, onStoreError: (error: Error) => void): Promise<ModelSource> {
  if (typeof location !== 'string') return location;
  if (isNode && !/^https?:\/\//.test(location)) {
    const { directorySource } = await import('../loader/node-source');
    return directorySource(location);
  }
  return isNode ? urlSource(location) : storedSource(location, onStoreError);
}
