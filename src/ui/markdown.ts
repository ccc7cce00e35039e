/**
 * A reply's text as HTML: markdown through `marked`, then DOMPurify, so that no HTML from a
 * model (or from a prompt it repeats) reaches the page unsanitised. Code blocks get a copy
 * button. Rendered again as the reply streams; an unfinished code fence renders as code.
 */

import DOMPurify from 'dompurify';
import { marked } from 'marked';

/** `text` as sanitised HTML. */
export function markdownHtml(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html, { FORBID_TAGS: ['style', 'form', 'input', 'button'], FORBID_ATTR: ['style'] });
}

/** Renders `text` into `element`, with a copy button on each code block. */
export function renderMarkdown(element: HTMLElement, text: string): void {
  element.innerHTML = markdownHtml(text);
  for (const block of element.querySelectorAll('pre')) {
    const code = block.textContent ?? '';
    block.prepend(copyButton('Copy this code', 'copy-code', () => code));
  }
}

/** A Copy button named `label` that copies what `text` gives when pressed. */
export function copyButton(label: string, testId: string, text: () => string): HTMLButtonElement {
  const button = Object.assign(document.createElement('button'), {
    type: 'button',
    className: 'secondary copy',
    textContent: 'Copy',
  });
  button.setAttribute('aria-label', label);
  button.dataset.testid = testId;
  button.addEventListener('click', () => void copyText(button, text()));
  return button;
}

/** Copies `text` to the clipboard and says so on the button for a moment. */
async function copyText(button: HTMLButtonElement, text: string): Promise<void> {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}
