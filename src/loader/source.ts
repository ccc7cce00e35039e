/**
 * Where model files come from. A model is a folder of files; a `ModelSource` gives one file of
 * it by name: whole (`read`, for the small JSON files) or as a stream of bytes in order
 * (`open`, for weights: a file of several gigabytes is never held in one buffer). Sources: a
 * URL (fetch, streamed), files the caller already has (an <input type=file>, a test), and in
 * Node a directory (`node-source.ts`, so the browser bundle never sees `fs`); the browser's
 * model store (`model-store.ts`) keeps what a URL source downloads.
 *
 * Names are confined to the folder: a file name that climbs out of it (`..`, an absolute path,
 * another origin) is refused before anything is read.
 */

import { ModelFileMissingError, type TandemError, UnsafeFilePathError } from '../errors';

export interface FileProgress {
  file: string;
  loaded: number; // bytes
  total: number; // bytes; 0 when the server did not say
}

/** A file being read as a stream. */
export interface FileStream {
  stream: ReadableStream<Uint8Array>;
  /**
   * The reader's verdict once it is done: whether it read a whole, valid file. A source that
   * keeps what it downloads (the browser's model store) keeps only what was valid.
   */
  settle(valid: boolean): Promise<void>;
}

export interface ModelSource {
  /** A name for messages: the folder URL or path (a single-file model's: the file's). */
  readonly name: string;
  /** A model that is one file (GGUF): that file's name in the folder. A folder model has none. */
  readonly file?: string;
  /** The whole file, or ModelFileMissingError: for the small files (JSON). */
  read(file: string): Promise<Uint8Array>;
  /** The file's bytes as they arrive, with progress, or ModelFileMissingError: for weights. */
  open(file: string, onProgress?: (progress: FileProgress) => void): Promise<FileStream>;
}

/** A stream whose source keeps nothing, so any verdict is fine. */
export const unkept = (stream: ReadableStream<Uint8Array>): FileStream => ({ stream, settle: async () => {} });

/**
 * `file` if it names a file inside the folder: relative, no `..` segment, no backslash, no
 * scheme or drive. A weight index or a record file names its shards; a hostile one must not
 * reach the rest of the disk or another site.
 */
export function confined(folder: string, file: string): string {
  const segments = file.split('/');
  if (
    file.length === 0 ||
    file.startsWith('/') ||
    /[\\:?#]/.test(file) ||
    segments.some((s) => s === '..' || s === '.' || s === '')
  ) {
    throw new UnsafeFilePathError(
      `${folder}: the file name ${JSON.stringify(file)} points outside the model folder; ` +
        'a model folder names only files inside it.',
    );
  }
  return file;
}

/**
 * `url` fetched past the browser's HTTP cache (the model store keeps model files, so they are
 * not stored twice, and a bad answer a host once sent with a long max-age is never served
 * again); a failed fetch or an error status is refused by name.
 */
export async function fetchModelFile(url: string, headers?: HeadersInit, fetchFile: typeof fetch = fetch) {
  let response: Response;
  try {
    response = await fetchFile(url, { cache: 'no-store', headers });
  } catch (cause) {
    throw new ModelFileMissingError(`Could not download ${url}: ${String(cause)}. Check the network and the URL.`, {
      cause,
    });
  }
  if (!response.ok) {
    const what = response.status === 404 || response.status === 410 ? 'was not found' : 'could not be downloaded';
    throw new ModelFileMissingError(`${url} ${what} (HTTP ${response.status} ${response.statusText}).`);
  }
  return response;
}

/** Files under a folder URL; weights are streamed, so progress shows while they download. */
export function urlSource(folderUrl: string, fetchFile: typeof fetch = fetch): ModelSource {
  const base = new URL(folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`, globalThis.location?.href);
  const get = async (file: string) => {
    const url = new URL(confined(folderUrl, file), base).href;
    return { url, response: await fetchModelFile(url, undefined, fetchFile) };
  };
  return {
    name: folderUrl,
    async read(file) {
      const { url, response } = await get(file);
      const bytes = new Uint8Array(await response.arrayBuffer());
      checkNotAPage(url, file, bytes, response.headers.get('content-type'));
      return bytes;
    },
    async open(file, onProgress) {
      const { response } = await get(file);
      if (!response.body) throw new ModelFileMissingError(`${folderUrl}/${file}: the response has no body.`);
      return unkept(withProgress(response.body, file, decodedLength(response), onProgress));
    },
  };
}

/**
 * The length of the body as it will be read, or 0 when unknown: Content-Length counts the
 * bytes on the wire, which a Content-Encoding (gzip, br) makes fewer than the decoded ones.
 */
export function decodedLength(response: Response): number {
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return 0;
  return Number(response.headers.get('content-length') ?? 0);
}

/**
 * A JSON file or a chat template that arrives as an HTML page is a server's fallback for a file
 * it does not have (a single-page host answers every unknown path with its index.html), not the
 * file. (A template may start with a literal "<|...|>", so only a page's own start counts there.)
 */
export function checkNotAPage(url: string, file: string, bytes: Uint8Array, contentType: string | null): void {
  const json = file.endsWith('.json');
  if (!json && !file.endsWith('.jinja')) return;
  const start = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  const page = json ? start.startsWith('<') : /^<(!doctype|html)/i.test(start);
  if (contentType?.includes('text/html') || page) {
    throw new ModelFileMissingError(
      `${url} was not found: the server answered with a web page instead of ${file} (is the model folder's URL right?).`,
    );
  }
}

/** `stream` counting its bytes into `onProgress`. */
export function withProgress(
  stream: ReadableStream<Uint8Array>,
  file: string,
  total: number,
  onProgress?: (progress: FileProgress) => void,
): ReadableStream<Uint8Array> {
  if (!onProgress) return stream;
  let loaded = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        loaded += chunk.byteLength;
        onProgress({ file, loaded, total });
        controller.enqueue(chunk);
      },
    }),
  );
}

/** A stream of `bytes` in chunks of `chunk` bytes. */
export function bytesStream(bytes: Uint8Array, chunk = 1 << 20): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) controller.close();
      else {
        controller.enqueue(bytes.subarray(at, at + chunk));
        at += chunk;
      }
    },
  });
}

/** Files the caller already holds, by name. */
export function memorySource(name: string, files: Record<string, Uint8Array | ArrayBuffer | string>): ModelSource {
  const get = (file: string) => {
    const content = files[confined(name, file)];
    if (content === undefined || !Object.hasOwn(files, file)) {
      throw new ModelFileMissingError(`${name}: no file named ${file}`);
    }
    if (typeof content === 'string') return new TextEncoder().encode(content);
    return content instanceof Uint8Array ? content : new Uint8Array(content);
  };
  return {
    name,
    async read(file) {
      return get(file);
    },
    async open(file, onProgress) {
      const bytes = get(file);
      return unkept(withProgress(bytesStream(bytes), file, bytes.byteLength, onProgress));
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

/**
 * A location that names one GGUF file rather than a folder (`models/x.gguf`, `https://.../x.gguf`):
 * the folder it is in and its name there; undefined for a folder.
 */
export function singleFileModel(location: string): { folder: string; file: string } | undefined {
  const match = /^(.*\/)?([^/]+\.gguf)$/i.exec(location);
  return match ? { folder: match[1] ?? './', file: match[2] } : undefined;
}
