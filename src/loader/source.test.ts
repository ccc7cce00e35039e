/** Files from a URL as servers really send them: compressed, missing, or a web page in a file's place. */

import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { confined, type FileProgress, urlSource } from './source';

/** A fetch that answers every URL with `respond(url)`. */
const serve = (respond: (url: string) => Response) =>
  (async (input: RequestInfo | URL) => respond(String(input))) as typeof fetch;

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe('urlSource', () => {
  it('reads a gzip-encoded file whole, its progress counting decoded bytes', async () => {
    const body = new TextEncoder().encode(JSON.stringify({ hidden_size: 64, padding: 'x'.repeat(500) }));
    const zipped = gzipSync(body);
    // What fetch gives for a gzip response: the decoded body, the headers of the compressed one.
    const source = urlSource(
      'http://host/model',
      serve(
        () =>
          new Response(body, {
            headers: { 'content-encoding': 'gzip', 'content-length': String(zipped.byteLength) },
          }),
      ),
    );
    expect(await source.read('config.json')).toEqual(body);
    const progress: FileProgress[] = [];
    const opened = await source.open('model.safetensors', (p) => progress.push(p));
    expect(await drain(opened.stream)).toEqual(body);
    expect(progress.at(-1)).toEqual({ file: 'model.safetensors', loaded: body.byteLength, total: 0 });
  });

  it('says a file is not found for a 404, and for a web page served in place of a JSON file or a template', async () => {
    const missing = urlSource(
      'http://host/m',
      serve(() => new Response('nope', { status: 404, statusText: 'Not Found' })),
    );
    const error = await missing.read('config.json').catch((e: Error) => e);
    expect(error).toMatchObject({
      name: 'ModelFileMissingError',
      message: expect.stringMatching(/was not found \(HTTP 404/),
    });
    const fallback = urlSource(
      'http://host/m',
      serve(() => new Response('<!doctype html><html></html>', { headers: { 'content-type': 'text/html' } })),
    );
    const page = await fallback.read('config.json').catch((e: Error) => e);
    expect(page).toMatchObject({
      name: 'ModelFileMissingError',
      message: expect.stringMatching(/web page instead of config\.json/),
    });
    // A chat template file: a page is not the file, whatever its type says; a template that
    // starts with a literal token is.
    const untyped = urlSource(
      'http://host/m',
      serve(() => new Response('<!DOCTYPE html><html></html>')),
    );
    await expect(fallback.read('chat_template.jinja')).rejects.toMatchObject({ name: 'ModelFileMissingError' });
    await expect(untyped.read('chat_template.jinja')).rejects.toMatchObject({ name: 'ModelFileMissingError' });
    const template = '<|im_start|>system\n{{ messages[0].content }}';
    const served = urlSource(
      'http://host/m',
      serve(() => new Response(template)),
    );
    expect(new TextDecoder().decode(await served.read('chat_template.jinja'))).toBe(template);
  });

  it('keeps file names inside the folder', async () => {
    for (const name of ['../secret.json', '/etc/passwd', 'a/../../b', 'https://evil.example/x', 'a\\b', '']) {
      expect(() => confined('m', name)).toThrow(expect.objectContaining({ name: 'UnsafeFilePathError' }));
    }
    expect(confined('m', 'model-00001-of-00002.safetensors')).toBe('model-00001-of-00002.safetensors');
    const asked: string[] = [];
    const source = urlSource(
      'http://host/m/',
      serve((url) => {
        asked.push(url);
        return new Response('{}');
      }),
    );
    await expect(source.read('../../other/config.json')).rejects.toMatchObject({ name: 'UnsafeFilePathError' });
    expect(asked).toEqual([]);
  });
});
