/**
 * Tandem's service worker: keeps the app shell so the chat reloads with the network off.
 *
 * Network first, cache as fallback: online, every same-origin GET the page loads as part of
 * itself (a document, script, style, worker, font or image) is fetched as usual (so a new build
 * or the dev server is always seen) and its response kept; offline, the kept copy answers.
 * What the page loaded before this worker took control, the page sends in a { type: 'cache',
 * urls } message. Files fetched by code, model files among them wherever they live, are not
 * handled here: the engine's model store (src/loader/model-store.ts) keeps those, checksummed,
 * listed and deletable, in their own cache.
 */

const SHELL = 'tandem-shell-v2';
const OLD_SHELLS = ['tandem-shell-v1'];
/** What a page loads as part of itself; a fetch() has the empty destination and is not the shell. */
const SHELL_DESTINATIONS = new Set([
  'document',
  'script',
  'style',
  'worker',
  'sharedworker',
  'font',
  'image',
  'manifest',
]);

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) =>
  event.waitUntil(Promise.all(OLD_SHELLS.map((name) => caches.delete(name))).then(() => self.clients.claim())),
);

const sameOrigin = (url) => {
  try {
    return new URL(url, self.location.href).origin === self.location.origin;
  } catch {
    return false;
  }
};

self.addEventListener('message', (event) => {
  if (event.data?.type !== 'cache' || !Array.isArray(event.data.urls)) return;
  event.waitUntil(
    caches.open(SHELL).then((cache) =>
      Promise.all(
        event.data.urls.filter(sameOrigin).map(async (url) => {
          if (await cache.match(url)) return;
          const response = await fetch(url).catch(() => undefined);
          if (response?.ok) await cache.put(url, response);
        }),
      ),
    ),
  );
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!SHELL_DESTINATIONS.has(request.destination)) return; // fetched by code: model files are the model store's
  if (request.headers.get('accept') === 'text/x-vite-ping') return; // the dev server's liveness check
  event.respondWith(networkFirst(request));
});

async function networkFirst(request) {
  const cache = await caches.open(SHELL);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(request, { ignoreVary: true }); // dev servers vary on Origin
    if (kept) return kept;
    throw error;
  }
}
