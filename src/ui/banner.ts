/**
 * The page's error banner: the error's message (its `name` kept in `data-error` for tests and
 * styles) and, where there is something to do about it, a button that does it.
 */

export function showBanner(error: Error, action?: { label: string; run: () => void }): void {
  const banner = document.querySelector('[data-testid="banner"]') as HTMLElement;
  banner.hidden = false;
  banner.dataset.error = error.name;
  banner.textContent = `${error.message}`;
  if (action) {
    const button = document.createElement('button');
    button.className = 'secondary';
    button.textContent = action.label;
    button.addEventListener('click', action.run);
    banner.append(' ', button);
  }
}
