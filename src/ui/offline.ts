/**
 * Offline use: registers the service worker (public/sw.js) and waits until it controls the
 * page, so that the engine's worker, started next, is loaded through it too. What the page had
 * loaded before that, it hands over to keep. Offline use is an extra: without service workers
 * (an insecure origin, a private window) the app runs as before.
 */

export async function enableOffline(): Promise<void> {
  const { serviceWorker } = navigator;
  if (!serviceWorker) return;
  try {
    await serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`);
    await serviceWorker.ready;
    if (!serviceWorker.controller) {
      // The worker claims open pages when it activates; do not wait for ever if it does not.
      await Promise.race([
        new Promise((resolve) => serviceWorker.addEventListener('controllerchange', resolve, { once: true })),
        new Promise((resolve) => setTimeout(resolve, 3000)),
      ]);
    }
    // What the page loaded as part of itself; files fetched by code (models) are the model store's.
    const loaded = (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
      .filter((entry) => entry.initiatorType !== 'fetch' && entry.initiatorType !== 'xmlhttprequest')
      .map((entry) => entry.name);
    const urls = [location.href, ...loaded].filter((url) => new URL(url).origin === location.origin);
    serviceWorker.controller?.postMessage({ type: 'cache', urls });
  } catch (error) {
    console.warn('Offline use is unavailable:', error);
  }
}
