/**
 * Downloads that resume: the bytes of a weight file as they arrive are also written to the
 * origin's private file system, with the server's validator (ETag or Last-Modified) and the
 * file's length. When a download breaks (the connection drops), the next attempt asks for the
 * rest only (`Range: bytes=N-`, `If-Range: <validator>`), and reads the kept bytes followed by
 * the rest; a server that answers with the whole file (it changed, or takes no ranges) starts
 * it afresh. Progress is committed every CHECKPOINT bytes and when the download ends or breaks.
 * Kept bytes are only a head start: the whole file is checked (size, SHA-256, the reader's
 * validation) before the model store keeps it, and a partial is removed once that is done.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { decodedLength, type FileProgress, type FileStream, fetchModelFile, unkept, withProgress } from './source';

const DIRECTORY = 'tandem-downloads';
/** Bytes written between two commits of a partial download. */
const CHECKPOINT = 32 * 2 ** 20;

export interface PartialDownload {
  /** The bytes kept so far. */
  file: File;
  /** The server's ETag (or Last-Modified) when they were fetched: the rest must be of the same file. */
  validator: string;
  /** The whole file's length. */
  total: number;
}

interface PartialRecord {
  url: string;
  validator: string;
  total: number;
}

const names = (url: string) => {
  const id = bytesToHex(sha256(new TextEncoder().encode(url))).slice(0, 32);
  return { data: `${id}.part`, record: `${id}.json` };
};

async function directory(): Promise<FileSystemDirectoryHandle | undefined> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storage?.getDirectory !== 'function') return undefined;
  try {
    return await (await storage.getDirectory()).getDirectoryHandle(DIRECTORY, { create: true });
  } catch {
    return undefined;
  }
}

/** The kept part of `url`, if a download of it broke off. */
export async function partialDownload(url: string): Promise<PartialDownload | undefined> {
  const folder = await directory();
  if (!folder) return undefined;
  const { data, record } = names(url);
  try {
    const meta = JSON.parse(await (await (await folder.getFileHandle(record)).getFile()).text()) as PartialRecord;
    const file = await (await folder.getFileHandle(data)).getFile();
    if (meta.url !== url || file.size === 0 || file.size >= meta.total) return undefined;
    return { file, validator: meta.validator, total: meta.total };
  } catch {
    return undefined;
  }
}

export async function forgetPartial(url: string): Promise<void> {
  const folder = await directory();
  if (!folder) return;
  const { data, record } = names(url);
  for (const name of [record, data]) await folder.removeEntry(name).catch(() => undefined);
}

/**
 * `body` (the bytes from `from` on) passed through, and written after the `from` bytes kept
 * for `url`; what arrived is committed when the stream ends, breaks or is cancelled.
 */
export async function keepingPartial(
  url: string,
  body: ReadableStream<Uint8Array>,
  from: number,
  meta: { validator: string; total: number },
): Promise<ReadableStream<Uint8Array>> {
  const folder = await directory();
  if (!folder) return body;
  const { data, record } = names(url);
  let writable: FileSystemWritableFileStream | undefined;
  let written = from;
  let sinceCommit = 0;
  let broken = false;
  try {
    const recordHandle = await folder.getFileHandle(record, { create: true });
    const recordWriter = await recordHandle.createWritable();
    await recordWriter.write(JSON.stringify({ url, ...meta } satisfies PartialRecord));
    await recordWriter.close();
    writable = await (await folder.getFileHandle(data, { create: true })).createWritable({
      keepExistingData: from > 0,
    });
    await writable.truncate(from);
    await writable.seek(from);
  } catch {
    return body; // storage refused: the download goes on, not resumable
  }
  const open = async () => {
    writable = await (await folder.getFileHandle(data, { create: true })).createWritable({ keepExistingData: true });
    await writable.seek(written);
  };
  const commit = async () => {
    const closing = writable;
    writable = undefined;
    try {
      await closing?.close();
    } catch {
      broken = true; // what was written since the last commit is lost: the kept bytes would have a gap
      await forgetPartial(url);
    }
  };
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        await commit(); // the download broke: keep what came
        controller.error(error);
        return;
      }
      if (chunk.done) {
        await commit();
        controller.close();
        return;
      }
      if (!broken) {
        try {
          if (!writable) await open();
          await writable?.write(chunk.value as Uint8Array<ArrayBuffer>);
          written += chunk.value.byteLength;
          sinceCommit += chunk.value.byteLength;
          if (sinceCommit >= CHECKPOINT) {
            sinceCommit = 0;
            await commit();
          }
        } catch {
          // A gap would make the kept bytes wrong: keep none. The download itself goes on.
          broken = true;
          await writable?.abort().catch(() => undefined);
          writable = undefined;
          await forgetPartial(url);
        }
      }
      controller.enqueue(chunk.value);
    },
    async cancel(reason) {
      await commit();
      await reader.cancel(reason);
    },
  });
}

/** A download that may have resumed: `whole()` says whether every byte of the file came. */
export interface ResumableStream extends FileStream {
  whole(): boolean;
}

/**
 * Downloads `url` (file `file` of its folder), from where a broken download of it stopped when
 * there is a kept part and the server still has the same file, else from the start; keeps what
 * arrives so that the next attempt can resume in turn.
 */
export async function resumableDownload(
  url: string,
  file: string,
  onProgress?: (progress: FileProgress) => void,
): Promise<ResumableStream> {
  const partial = await partialDownload(url);
  const from = partial?.file.size ?? 0;
  const response = await fetchModelFile(
    url,
    partial ? { range: `bytes=${from}-`, 'if-range': partial.validator } : undefined,
  );
  if (!response.body) throw new Error(`${url}: the response has no body.`);
  const resumed = partial !== undefined && response.status === 206 && rangeStart(response) === from;
  if (partial && !resumed) await forgetPartial(url); // the file changed, or the server sends it whole
  const validator = response.headers.get('etag') ?? response.headers.get('last-modified');
  const total = resumed ? (partial?.total ?? 0) : decodedLength(response);
  const resumable = validator !== null && total > 0 && (resumed || response.headers.get('accept-ranges') === 'bytes');
  const rest = resumable
    ? await keepingPartial(url, response.body, resumed ? from : 0, { validator, total })
    : response.body;
  let complete = false;
  const body = resumed && partial ? concat(partial.file.stream(), rest) : rest;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush() {
        complete = true;
      },
    }),
  );
  return { ...unkept(withProgress(counted, file, total, onProgress)), whole: () => complete };
}

/** The first byte a 206 response holds (`Content-Range: bytes N-M/T`), or -1. */
function rangeStart(response: Response): number {
  const match = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : -1;
}

/** `first`'s bytes, then `second`'s. */
function concat(first: ReadableStream<Uint8Array>, second: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const readers = [first.getReader(), second.getReader()];
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (readers.length > 0) {
        const { done, value } = await readers[0].read();
        if (!done) {
          controller.enqueue(value);
          return;
        }
        readers.shift();
      }
      controller.close();
    },
    async cancel(reason) {
      await Promise.all(readers.map((r) => r.cancel(reason)));
    },
  });
}
