/**
 * Model files kept in the browser (Cache Storage), so a model downloaded once loads on the next
 * visit, and with the network off. A file is stored only after it has arrived whole (the URL
 * source checks Content-Length), with its size and SHA-256 recorded beside it; every read checks
 * both again, so a damaged entry is dropped and downloaded afresh, and an interrupted download
 * leaves nothing behind: the next attempt starts cleanly.
 *
 * Storing is a convenience, never a condition: when the browser refuses (quota, private mode),
 * the model still loads from the network and `onStoreError` hears why.
 */

import { StorageQuotaError, type TandemError } from '../errors';
import { type ModelSource, urlSource } from './source';

export const MODEL_CACHE = 'tandem-models-v1';

const SIZE = 'x-tandem-bytes';
const SHA256 = 'x-tandem-sha256';
const STORED = 'x-tandem-stored';

export interface StoredFile {
  url: string;
  bytes: number;
  sha256: string;
  /** ISO time it was stored. */
  stored: string;
}

/** A model folder the store holds files of. */
export interface StoredModel {
  folder: string;
  files: StoredFile[];
  bytes: number;
}

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function storage(): CacheStorage | undefined {
  return (globalThis as { caches?: CacheStorage }).caches;
}

/**
 * Files under a folder URL, read from the store when it holds them intact, else downloaded
 * (with progress) and stored. Without Cache Storage (Node, an insecure page) it is `urlSource`.
 */
export function storedSource(folderUrl: string, onStoreError?: (error: TandemError) => void): ModelSource {
  const network = urlSource(folderUrl);
  const caches = storage();
  if (!caches) return network;
  const base = new URL(folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`, globalThis.location?.href);
  return {
    name: folderUrl,
    async read(file, onProgress) {
      const url = new URL(file, base).href;
      const cache = await caches.open(MODEL_CACHE);
      const hit = await cache.match(url);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        const intact =
          bytes.byteLength === Number(hit.headers.get(SIZE)) && (await sha256Hex(bytes)) === hit.headers.get(SHA256);
        if (intact) {
          onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength });
          return bytes;
        }
        await cache.delete(url);
      }
      const bytes = await network.read(file, onProgress);
      try {
        const copy = bytes.slice(); // the caller owns `bytes`; the stored response gets its own
        await cache.put(
          url,
          new Response(copy, {
            headers: {
              'content-type': 'application/octet-stream',
              [SIZE]: String(copy.byteLength),
              [SHA256]: await sha256Hex(copy),
              [STORED]: new Date().toISOString(),
            },
          }),
        );
      } catch (cause) {
        onStoreError?.(
          new StorageQuotaError(
            `${url} (${(bytes.byteLength / 2 ** 20).toFixed(1)} MB) could not be kept in browser storage, so it ` +
              `will be downloaded again next time (${(cause as Error).name}: ${(cause as Error).message}). ` +
              'Free space by deleting stored models, or allow this site more storage.',
            { cause },
          ),
        );
      }
      return bytes;
    },
  };
}

/** Every stored file, grouped by model folder. */
export async function listStoredModels(): Promise<StoredModel[]> {
  const caches = storage();
  if (!caches || !(await caches.has(MODEL_CACHE))) return [];
  const cache = await caches.open(MODEL_CACHE);
  const folders = new Map<string, StoredFile[]>();
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    if (!response) continue;
    const folder = request.url.slice(0, request.url.lastIndexOf('/') + 1);
    const files = folders.get(folder) ?? [];
    files.push({
      url: request.url,
      bytes: Number(response.headers.get(SIZE)),
      sha256: response.headers.get(SHA256) ?? '',
      stored: response.headers.get(STORED) ?? '',
    });
    folders.set(folder, files);
  }
  return [...folders].map(([folder, files]) => ({
    folder,
    files,
    bytes: files.reduce((sum, f) => sum + f.bytes, 0),
  }));
}

/** Deletes every stored file of a model folder. */
export async function deleteStoredModel(folder: string): Promise<void> {
  const caches = storage();
  if (!caches) return;
  const cache = await caches.open(MODEL_CACHE);
  for (const request of await cache.keys()) {
    if (request.url.slice(0, request.url.lastIndexOf('/') + 1) === folder) await cache.delete(request);
  }
}
