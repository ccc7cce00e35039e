/**
 * Model files kept in the browser (Cache Storage), so a model downloaded once loads on the next
 * visit, and with the network off.
 *
 * Only complete, validated files are kept. A JSON file is kept once it parses; a weight file,
 * which streams through to its reader as it downloads, once its reader says it read a whole,
 * valid file (`settle(true)`). Beside each file a small record holds its size and SHA-256
 * (computed as the bytes pass); a file without that record is an interrupted or rejected
 * download, and is dropped. Every read checks size and hash again: a damaged small file is
 * replaced at once; a damaged weight file fails its read with StoredFileDamagedError after
 * being dropped, so the next attempt downloads it afresh.
 *
 * A weight download that breaks off resumes where it stopped on the next attempt
 * (partial-downloads.ts).
 *
 * Storing is a convenience, never a condition: when the browser refuses (quota, private mode),
 * the model still loads from the network and `onStoreError` hears why.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { StorageQuotaError, StoredFileDamagedError, type TandemError } from '../errors';
import { forgetPartial, type ResumableStream, resumableDownload } from './partial-downloads';
import { confined, type FileStream, type ModelSource, urlSource } from './source';

export const MODEL_CACHE = 'tandem-models-v2';
/** The store's first layout, which kept files of failed downloads: dropped on first use. */
const OLD_CACHES = ['tandem-models-v1'];

/** A stored file's record is kept under the file's URL with this query. */
const RECORD = '?tandem-record';

interface FileRecord {
  bytes: number;
  sha256: string;
  /** ISO time it was stored. */
  stored: string;
}

export interface StoredFile extends FileRecord {
  url: string;
}

/** A model folder the store holds files of. */
export interface StoredModel {
  folder: string;
  files: StoredFile[];
  bytes: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return bytesToHex(sha256(bytes));
}

function parses(json: Uint8Array): boolean {
  try {
    JSON.parse(new TextDecoder().decode(json));
    return true;
  } catch {
    return false;
  }
}

function storage(): CacheStorage | undefined {
  return (globalThis as { caches?: CacheStorage }).caches;
}

async function openCache(caches: CacheStorage): Promise<Cache> {
  for (const old of OLD_CACHES) await caches.delete(old);
  return caches.open(MODEL_CACHE);
}

async function readRecord(cache: Cache, url: string): Promise<FileRecord | undefined> {
  const response = await cache.match(url + RECORD);
  return response ? ((await response.json()) as FileRecord) : undefined;
}

async function forget(cache: Cache, url: string): Promise<void> {
  await cache.delete(url);
  await cache.delete(url + RECORD);
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
  const urlOf = (file: string) => new URL(confined(folderUrl, file), base).href;
  const refused = (url: string, bytes: number, cause: unknown) =>
    onStoreError?.(
      new StorageQuotaError(
        `${url} (${(bytes / 2 ** 20).toFixed(1)} MB) could not be kept in browser storage, so it ` +
          `will be downloaded again next time (${(cause as Error).name}: ${(cause as Error).message}). ` +
          'Free space by deleting stored models, or allow this site more storage.',
        { cause },
      ),
    );
  const keep = async (cache: Cache, url: string, record: FileRecord) => {
    await cache.put(
      url + RECORD,
      new Response(JSON.stringify(record), { headers: { 'content-type': 'application/json' } }),
    );
  };

  return {
    name: folderUrl,
    async read(file) {
      const url = urlOf(file);
      const cache = await openCache(caches);
      const [hit, record] = await Promise.all([cache.match(url), readRecord(cache, url)]);
      if (hit && record) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        if (bytes.byteLength === record.bytes && sha256Hex(bytes) === record.sha256) return bytes;
      }
      if (hit || record) await forget(cache, url);
      const bytes = await network.read(file); // checked: found, not a web page
      if (file.endsWith('.json') && !parses(bytes)) return bytes; // its reader will say what is wrong; not kept
      try {
        await cache.put(url, new Response(bytes.slice(), { headers: { 'content-type': 'application/octet-stream' } }));
        await keep(cache, url, { bytes: bytes.byteLength, sha256: sha256Hex(bytes), stored: new Date().toISOString() });
      } catch (cause) {
        await forget(cache, url).catch(() => undefined);
        refused(url, bytes.byteLength, cause);
      }
      return bytes;
    },

    async open(file, onProgress) {
      const url = urlOf(file);
      const cache = await openCache(caches);
      const [hit, record] = await Promise.all([cache.match(url), readRecord(cache, url)]);
      if (hit?.body && record) {
        onProgress?.({ file, loaded: 0, total: record.bytes });
        return checkedAsRead(hit.body, record, file, onProgress, () => forget(cache, url));
      }
      if (hit || record) await forget(cache, url);
      return storedAsRead(await resumableDownload(url, file, onProgress), cache, url, keep, refused);
    },
  };
}

/** A stored file's bytes, hashed as they pass: a mismatch at the end drops the file and fails the read. */
function checkedAsRead(
  body: ReadableStream<Uint8Array>,
  record: FileRecord,
  file: string,
  onProgress: ((p: { file: string; loaded: number; total: number }) => void) | undefined,
  drop: () => Promise<void>,
): FileStream {
  const hash = sha256.create();
  let bytes = 0;
  const stream = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        onProgress?.({ file, loaded: bytes, total: record.bytes });
        controller.enqueue(chunk);
      },
      async flush(controller) {
        if (bytes !== record.bytes || bytesToHex(hash.digest()) !== record.sha256) {
          await drop();
          controller.error(
            new StoredFileDamagedError(
              `The stored copy of ${file} was damaged (its size or SHA-256 changed), and has been removed: load the model again to download it afresh.`,
            ),
          );
        }
      },
    }),
  );
  return { stream, settle: async () => {} };
}

/**
 * A downloading file's bytes, passed to the reader and copied into the store as they come,
 * hashed on the way; the file is kept only when the reader settles it as valid.
 */
function storedAsRead(
  download: ResumableStream,
  cache: Cache,
  url: string,
  keep: (cache: Cache, url: string, record: FileRecord) => Promise<void>,
  refused: (url: string, bytes: number, cause: unknown) => void,
): FileStream {
  const hash = sha256.create();
  let bytes = 0;
  let copy: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Hands the copy's stream a call; once storing has failed (its stream is gone), there is none to make. */
  const toCopy = (call: (controller: ReadableStreamDefaultController<Uint8Array>) => void) => {
    try {
      if (copy) call(copy);
    } catch {
      copy = undefined;
    }
  };
  const copied = new ReadableStream<Uint8Array>({
    start(controller) {
      copy = controller;
    },
  });
  const putting = cache
    .put(url, new Response(copied, { headers: { 'content-type': 'application/octet-stream' } }))
    .then(
      () => undefined,
      (cause: unknown) => cause,
    );
  const stream = download.stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        toCopy((c) => c.enqueue(chunk.slice()));
        controller.enqueue(chunk);
      },
    }),
  );
  return {
    stream,
    async settle(valid) {
      await download.settle(valid);
      // A download that broke off keeps its part for the next attempt; a whole file, valid or
      // not, has no use for it.
      if (valid || download.whole()) await forgetPartial(url);
      if (!valid) {
        toCopy((c) => c.error(new Error('the download was not a valid model file')));
        await putting;
        await forget(cache, url).catch(() => undefined);
        return;
      }
      toCopy((c) => c.close());
      const failure = await putting;
      try {
        if (failure) throw failure;
        await keep(cache, url, { bytes, sha256: bytesToHex(hash.digest()), stored: new Date().toISOString() });
      } catch (cause) {
        await forget(cache, url).catch(() => undefined);
        refused(url, bytes, cause);
      }
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
    if (request.url.endsWith(RECORD)) continue;
    const record = await readRecord(cache, request.url);
    if (!record) continue; // an unfinished download: not a stored file
    const folder = request.url.slice(0, request.url.lastIndexOf('/') + 1);
    const files = folders.get(folder) ?? [];
    files.push({ url: request.url, ...record });
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
    const url = request.url.endsWith(RECORD) ? request.url.slice(0, -RECORD.length) : request.url;
    if (url.slice(0, url.lastIndexOf('/') + 1) === folder) await cache.delete(request);
  }
}
