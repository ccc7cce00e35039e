/**
 * Where model files come from. A model is a folder of Hugging Face files; a `ModelSource`
 * reads one file of it by name: from a URL (streamed, with byte progress), or from files the
 * caller already has (an <input type=file>, a cache, a test). The Node filesystem source is in
 * `node-source.ts` so the browser bundle never sees `fs`.
 */

import { ModelFileMissingError, type TandemError } from '../errors';

export interface FileProgress {
  file: string;
  loaded: number; // bytes
  total: number; // bytes; 0 when the server did not say
}

export interface ModelSource {
  /** A name for messages: the folder URL or path. */
  readonly name: string;
  /** The whole file, or ModelFileMissingError. */
  read(file: string, onProgress?: (progress: FileProgress) => void): Promise<Uint8Array>;
}

/** Files under a folder URL, streamed so progress can be shown while large weights download. */
export function urlSource(folderUrl: string, fetchFile: typeof fetch = fetch): ModelSource {
  const base = folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`;
  return {
    name: folderUrl,
    async read(file, onProgress) {
      const url = new URL(file, new URL(base, globalThis.location?.href)).href;
      let response: Response;
      try {
        response = await fetchFile(url);
      } catch (cause) {
        throw new ModelFileMissingError(`Could not download ${url}: ${String(cause)}`, { cause });
      }
      if (!response.ok) {
        throw new ModelFileMissingError(`Could not download ${url}: HTTP ${response.status} ${response.statusText}`);
      }
      return readBody(response, file, onProgress);
    },
  };
}

async function readBody(response: Response, file: string, onProgress?: (p: FileProgress) => void) {
  const total = Number(response.headers.get('content-length') ?? 0);
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  // Preallocate when the size is known, so a multi-gigabyte file is not copied twice.
  let bytes = new Uint8Array(total > 0 ? total : 1 << 20);
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > bytes.byteLength) {
      const grown = new Uint8Array(Math.max(bytes.byteLength * 2, loaded + value.byteLength));
      grown.set(bytes.subarray(0, loaded));
      bytes = grown;
    }
    bytes.set(value, loaded);
    loaded += value.byteLength;
    onProgress?.({ file, loaded, total });
  }
  if (total > 0 && loaded !== total) {
    throw new ModelFileMissingError(`Download of ${file} stopped at ${loaded} of ${total} bytes; try again.`);
  }
  return loaded === bytes.byteLength ? bytes : bytes.subarray(0, loaded);
}

/** Files the caller already holds, by name. */
export function memorySource(name: string, files: Record<string, Uint8Array | ArrayBuffer | string>): ModelSource {
  return {
    name,
    async read(file, onProgress) {
      const content = files[file];
      if (content === undefined) throw new ModelFileMissingError(`${name}: no file named ${file}`);
      const bytes =
        typeof content === 'string'
          ? new TextEncoder().encode(content)
          : content instanceof Uint8Array
            ? content
            : new Uint8Array(content);
      onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    },
  };
}

/** Reads and parses a JSON file of the model folder; a parse failure raises `Invalid`. */
export async function readJson(
  source: ModelSource,
  file: string,
  Invalid: new (message: string, options?: ErrorOptions) => TandemError,
): Promise<unknown> {
  const bytes = await source.read(file);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new Invalid(`${source.name}/${file} is not valid JSON: ${String(cause)}`, { cause });
  }
}
