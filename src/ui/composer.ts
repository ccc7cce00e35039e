/** A message composer: its form's submit, and Enter in its text box (Shift+Enter for a new line), both send. */

export function onSend(form: HTMLFormElement, input: HTMLTextAreaElement, send: () => void): void {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
}
