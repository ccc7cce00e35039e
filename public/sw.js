/**
 * Tandem's service worker: keeps the app shell so the chat reloads with the network off.
 *
 * Network first, cache as fallback: online, every same-origin GET is fetched as usual (so a new
 * build or the dev server is always seen) and its response kept; offline, the kept copy
 * answers. What the page loaded before this worker took control, the page sends in a
 * { type: 'cache', urls } message. Model files are not handled here: the engine's model store
 * (src/loader/model-store.ts) keeps them, checksummed, in their own cache.
 */

const SHELL = 'tandem-shell-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  if (event.data?.type !== 'cache' || !Array.isArray(event.data.urls)) return;
  event.waitUntil(
    caches.open(SHELL).then((cache) =>
      Promise.all(
        event.data.urls.map(async (url) => {
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
  if (url.pathname.includes('/models/')) return; // the model store's
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
