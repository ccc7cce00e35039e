/**
 * A stand-in for the Hugging Face Hub in tests: serves model folders at the paths web-llm's
 * catalogue points to, `/<owner>/<repo>/resolve/main/<file>`, over real HTTP, with CORS.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

export interface ModelHub {
  /** The base URL: repos are `${url}/<owner>/<repo>`. */
  url: string;
  close(): Promise<void>;
}

/** `repos`: "owner/repo" -> the folder that holds its files. */
export async function serveModelHub(repos: Record<string, string>): Promise<ModelHub> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const match = /^\/([^/]+\/[^/]+)\/resolve\/main\/([^/]+)$/.exec(path);
    const folder = match ? repos[match[1]] : undefined;
    const file = folder && match ? join(folder, match[2]) : undefined;
    const headers = { 'access-control-allow-origin': '*' };
    if (!file || !existsSync(file)) {
      response.writeHead(404, headers).end('Entry not found');
      return;
    }
    const body = readFileSync(file);
    response.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
