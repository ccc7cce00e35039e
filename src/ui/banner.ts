/**
 * The page's error banners, each beside what it is about: the chat's by the composer, the
 * models' in the Models panel. A banner shows the error's message (its `name` kept in
 * `data-error` for tests and styles) and, where there is something to do about it, a button
 * that does it. It is announced (role="alert"), scrolled into view, and hidden again by the
 * next success (a reply, a load, a new chat).
 */

/** Where a banner goes: the chat's (`banner`) or the Models panel's (`models-banner`). */
export type BannerPlace = 'banner' | 'models-banner';

const banner = (place: BannerPlace) => document.querySelector(`[data-testid="${place}"]`) as HTMLElement;

export function showBanner(
  error: Error,
  action?: { label: string; run: () => void },
  place: BannerPlace = 'banner',
): void {
  const element = banner(place);
  element.closest('details')?.setAttribute('open', '');
  element.hidden = false;
  element.dataset.error = error.name;
  element.textContent = `${error.message}`;
  if (action) {
    const button = document.createElement('button');
    button.className = 'secondary';
    button.textContent = action.label;
    button.addEventListener('click', () => {
      hideBanner(place);
      action.run();
    });
    element.append(' ', button);
  }
  element.scrollIntoView?.({ block: 'nearest' });
}

export function hideBanner(place: BannerPlace = 'banner'): void {
  const element = banner(place);
  element.hidden = true;
  element.replaceChildren();
  delete element.dataset.error;
}
