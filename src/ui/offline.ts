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
    const urls = [location.href, ...performance.getEntriesByType('resource').map((entry) => entry.name)].filter(
      (url) => new URL(url).origin === location.origin && !new URL(url).pathname.includes('/models/'),
    );
    serviceWorker.controller?.postMessage({ type: 'cache', urls });
  } catch (error) {
    console.warn('Offline use is unavailable:', error);
  }
}
