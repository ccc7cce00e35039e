/**
 * A model host for end-to-end tests that goes wrong the ways real ones do, until told to stop:
 *  - 'html-for-json': JSON files answered with a web page and status 200 (a single-page host's
 *    fallback for paths it does not have);
 *  - 'truncated': weight files cut at half, sent chunked with no length, ending cleanly (a proxy
 *    or an origin that gave up);
 *  - 'gzip': every file compressed, Content-Length counting the compressed bytes (nginx, CDNs).
 * It serves the files of one folder under any path, with CORS, and with a long max-age as
 * static hosts send, so a client that trusted the browser's HTTP cache would keep a bad answer.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export type HostFault = 'none' | 'html-for-json' | 'truncated' | 'gzip';

export interface FlakyHost {
  url: string;
  fault: HostFault;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function serveFlakyFolder(folder: string): Promise<FlakyHost> {
  const host = { fault: 'none' as HostFault, requests: [] as string[] };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    host.requests.push(path);
    const file = join(folder, basename(path));
    const headers = { 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=3600' };
    if (!existsSync(file)) {
      response.writeHead(404, headers).end('not found');
      return;
    }
    const body = readFileSync(file);
    if (host.fault === 'html-for-json' && file.endsWith('.json')) {
      response.writeHead(200, { ...headers, 'content-type': 'text/html' }).end('<!doctype html><title>App</title>');
    } else if (host.fault === 'truncated' && file.endsWith('.safetensors')) {
      response.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' }); // chunked
      response.end(body.subarray(0, body.length >> 1));
    } else if (host.fault === 'gzip') {
      const compressed = gzipSync(body);
      response.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'content-length': compressed.length });
      response.end(compressed);
    } else {
      response.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
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
