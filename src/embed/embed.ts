/**
 * tandem-embed.js: one script tag puts a private, on-device chat on any page.
 *
 *   <script type="module" src="https://example.com/tandem/tandem-embed.js"
 *           data-target="models/tandem-target" data-draft="models/tandem-draft"
 *           data-system-prompt="You are the help desk of Example Inc."></script>
 *
 * data-target is a model folder or a model id of web-llm's catalogue
 * (data-target="Llama-3.2-1B-Instruct-q4f16_1-MLC", its draft then coming with it), data-draft
 * a folder, an id, "mtp" (the model's own multi-token prediction layer), "ngram" or "none", and
 * data-app-config the URL of a catalogue of the site's own. Replies follow data-temperature (default 0.7), data-max-tokens (256), data-draft-length
 * ("auto", or tokens drafted a step), data-draft-tree (depths with leaves beside the first
 * drafts, 0: a chain) and data-draft-tree-width (leaves at each, 1 to 3); a value that is not a
 * number stops the chat with its reason. Folder URLs are
 * resolved against the script's own URL (or are absolute). The engine's worker is loaded from
 * the script's origin: directly when the page shares it, else through a small module worker
 * that imports it, which needs the files served with CORS.
 *
 * Hosts can drive it: `window.tandemEmbed` (also this module's default export) has open(),
 * close(), setSystemPrompt(text), ask(text) and onReply(listener).
 */

import { isFolder, modelOptions } from '../engine/model-options';
import type { Catalogue } from '../loader/catalogue';
import { parseDraftLength } from '../speculative/draft-length';
import type { ReplySettings } from '../ui/conversation';
import { ChatWidget, type Reply } from './widget';

export interface TandemEmbed {
  open(): Promise<void>;
  close(): void;
  setSystemPrompt(text: string): void;
  ask(text: string): Promise<Reply>;
  onReply(listener: (reply: Reply) => void): () => void;
}

declare global {
  interface Window {
    tandemEmbed?: TandemEmbed;
  }
}

const scriptUrl = import.meta.url;
const script = [...document.querySelectorAll<HTMLScriptElement>('script[src]')].find(
  (s) => new URL(s.src, location.href).href === scriptUrl,
);
const data = script?.dataset ?? {};
const resolve = (url: string) => new URL(url, scriptUrl).href;

/**
 * Worker, able to start a module worker from another origin: a page may not do that directly,
 * but a worker of its own may import one (served with CORS). Named `Worker` so the build still
 * sees `new Worker(new URL(...))` below and bundles the engine's worker.
 */
const Worker = class extends globalThis.Worker {
  constructor(url: URL, options: WorkerOptions) {
    if (url.origin === location.origin) super(url, options);
    else
      super(
        URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' })),
        options,
      );
  }
};

const spawnWorker = () => new Worker(new URL('../../worker/engine.worker.ts', import.meta.url), { type: 'module' });

/** The models the data attributes name: folders resolved against the script, or catalogue ids. */
async function models() {
  const folder = (location: string) => (isFolder(location) ? resolve(location) : location);
  const appConfig = data.appConfig ? ((await (await fetch(resolve(data.appConfig))).json()) as Catalogue) : undefined;
  const target = folder(data.target ?? 'models/tandem-target');
  return modelOptions(target, { draft: data.draft && folder(data.draft), appConfig, folderDraft: 'ngram' });
}

/** How replies are generated, as the data attributes say (ranges are the engine's to check). */
function reply(): ReplySettings {
  const number = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new RangeError(`data-${name}="${value}" is not a number`);
    return n;
  };
  return {
    temperature: number('temperature', data.temperature, 0.7),
    max_tokens: number('max-tokens', data.maxTokens, 256),
    ...(data.draftLength === undefined ? {} : { draftLength: parseDraftLength(data.draftLength) }),
    ...(data.draftTree === undefined ? {} : { draftTree: number('draft-tree', data.draftTree, 0) }),
    ...(data.draftTreeWidth === undefined
      ? {}
      : { draftTreeWidth: number('draft-tree-width', data.draftTreeWidth, 1) }),
  };
}

const widget = new ChatWidget({
  models,
  systemPrompt: data.systemPrompt ?? '',
  title: data.title ?? 'Chat',
  spawnWorker,
  reply,
});

const mount = () => document.body.append(widget.host);
if (document.body) mount();
else document.addEventListener('DOMContentLoaded', mount, { once: true });

const api: TandemEmbed = {
  open: () => widget.open(),
  close: () => widget.close(),
  setSystemPrompt: (text) => widget.setSystemPrompt(text),
  ask: (text) => widget.ask(text),
  onReply: (listener) => widget.onReply(listener),
};
window.tandemEmbed = api;
export default api;
