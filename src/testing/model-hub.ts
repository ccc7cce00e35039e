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
  /** Other files to serve, by path ("/app-config.json"). */
  files: Map<string, string>;
  /** An appConfig listing these repos under their repo names, served at `${url}/app-config.json`. */
  appConfigUrl: string;
  close(): Promise<void>;
}

/** `repos`: "owner/repo" -> the folder that holds its files. */
export async function serveModelHub(repos: Record<string, string>): Promise<ModelHub> {
  const files = new Map<string, string>();
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const extra = files.get(path);
    if (extra !== undefined) {
      response.writeHead(200, { 'access-control-allow-origin': '*', 'content-type': 'application/json' }).end(extra);
      return;
    }
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
  const url = `http://127.0.0.1:${address.port}`;
  const record = (repo: string) => ({ model: `${url}/${repo}`, model_id: repo.split('/')[1], model_lib: '' });
  files.set('/app-config.json', JSON.stringify({ model_list: Object.keys(repos).map(record) }));
  return {
    url,
    files,
    appConfigUrl: `${url}/app-config.json`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
