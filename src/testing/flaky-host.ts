/**
 * A model host for end-to-end tests that goes wrong the ways real ones do, until told to stop:
 *  - 'html-for-json': JSON files, and paths it does not have, answered with a web page and
 *    status 200 (a single-page host's fallback for paths it does not have);
 *  - 'truncated': weight files cut at half, sent chunked with no length, ending cleanly (a proxy
 *    or an origin that gave up);
 *  - 'gzip': every file compressed, Content-Length counting the compressed bytes (nginx, CDNs);
 *  - 'dropped': weight files announced whole (length, ETag, ranges accepted), the connection
 *    dropped at half (a network that went away).
 * Otherwise it serves files whole, or from a byte on (`Range: bytes=N-`) when `If-Range` names
 * the file's ETag, as static hosts do.
 * It serves the files of one folder under any path, with CORS, and with a long max-age as
 * static hosts send, so a client that trusted the browser's HTTP cache would keep a bad answer.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** What a single-page host answers for a path it does not have. */
const PAGE = '<!doctype html><title>App</title>';

export type HostFault = 'none' | 'html-for-json' | 'truncated' | 'gzip' | 'dropped';

export interface FlakyHost {
  url: string;
  fault: HostFault;
  /** Paths requested, in order. */
  requests: string[];
  /** The Range header of each request that had one. */
  ranges: string[];
  close(): Promise<void>;
}

export async function serveFlakyFolder(folder: string): Promise<FlakyHost> {
  const host = { fault: 'none' as HostFault, requests: [] as string[], ranges: [] as string[] };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    host.requests.push(path);
    const file = join(folder, basename(path));
    const headers = {
      'access-control-allow-origin': '*',
      // As Hugging Face's CDN does: a page may resume a download, so it may read these.
      'access-control-expose-headers': 'etag, accept-ranges, content-range, content-length',
      'cache-control': 'public, max-age=3600',
    };
    if (request.method === 'OPTIONS') {
      response
        .writeHead(204, {
          ...headers,
          'access-control-allow-headers': 'range, if-range',
          'access-control-max-age': '600',
        })
        .end();
      return;
    }
    if (!existsSync(file)) {
      if (host.fault === 'html-for-json')
        response.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(PAGE);
      else response.writeHead(404, headers).end('not found');
      return;
    }
    const body = readFileSync(file);
    const etag = `"${body.length}-${basename(file)}"`;
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (request.headers.range) host.ranges.push(request.headers.range);
    if (host.fault === 'html-for-json' && file.endsWith('.json')) {
      response.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(PAGE);
    } else if (host.fault === 'truncated' && file.endsWith('.safetensors')) {
      response.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' }); // chunked
      response.end(body.subarray(0, body.length >> 1));
    } else if (host.fault === 'dropped' && file.endsWith('.safetensors')) {
      response.writeHead(200, { ...headers, 'content-length': body.length, etag, 'accept-ranges': 'bytes' });
      response.write(body.subarray(0, body.length >> 1), () => setTimeout(() => response.socket?.destroy(), 50));
    } else if (range && request.headers['if-range'] === etag && Number(range[1]) < body.length) {
      const from = Number(range[1]);
      response.writeHead(206, {
        ...headers,
        etag,
        'accept-ranges': 'bytes',
        'content-range': `bytes ${from}-${body.length - 1}/${body.length}`,
        'content-length': body.length - from,
      });
      response.end(body.subarray(from));
    } else if (host.fault === 'gzip') {
      const compressed = gzipSync(body);
      response.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'content-length': compressed.length });
      response.end(compressed);
    } else {
      response.writeHead(200, { ...headers, 'content-length': body.length, etag, 'accept-ranges': 'bytes' }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return Object.assign(host, {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
