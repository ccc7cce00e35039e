/**
 * The page's error banner, beside the composer: the error's message (its `name` kept in
 * `data-error` for tests and styles) and, where there is something to do about it, a button
 * that does it. It is announced (role="alert"), scrolled into view, and hidden again by the
 * next success (a reply, a load, a new chat).
 */

const banner = () => document.querySelector('[data-testid="banner"]') as HTMLElement;

export function showBanner(error: Error, action?: { label: string; run: () => void }): void {
  const element = banner();
  element.hidden = false;
  element.dataset.error = error.name;
  element.textContent = `${error.message}`;
  if (action) {
    const button = document.createElement('button');
    button.className = 'secondary';
    button.textContent = action.label;
    button.addEventListener('click', () => {
      hideBanner();
      action.run();
    });
    element.append(' ', button);
  }
  element.scrollIntoView?.({ block: 'nearest' });
}

export function hideBanner(): void {
  const element = banner();
  element.hidden = true;
  element.replaceChildren();
  delete element.dataset.error;
}
