/**
 * The conversation: messages on screen and in memory, sending with a streamed reply, stop, a
 * new chat, and warming the prefix cache while the user types (the system prompt as soon as it
 * is set, then the typed text, debounced). Errors are shown and the conversation is kept.
 */

import type { WorkerEngine } from '../engine/worker-client';
import { showBanner } from './banner';
import { onSend } from './composer';
import { Conversation } from './conversation';
import { showLiveSpeed, showUsage } from './metrics';
import { readSettings } from './settings';

const el = <T extends HTMLElement>(id: string) => document.querySelector(`[data-testid="${id}"]`) as T;

export class Chat {
  private engine: WorkerEngine | undefined;
  private readonly conversation = new Conversation(() => readSettings().system);
  private busy = false;
  private warmTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly input = el<HTMLTextAreaElement>('input');

  constructor(
    private readonly onEngineError: (error: Error) => void,
    /** Called once prompts the engine pinned are written to the prefix store (the page lists them). */
    private readonly onStored: () => void = () => {},
  ) {
    onSend(el<HTMLFormElement>('composer'), this.input, () => void this.send());
    this.input.addEventListener('input', () => this.scheduleWarm(300));
    el('system-prompt').addEventListener('input', () => this.scheduleWarm(500));
    el('stop').addEventListener('click', () => void this.engine?.interrupt());
    el('new-chat').addEventListener('click', () => this.newChat());
  }

  /** Connects (or reconnects, after a reload) the engine; the conversation stays. */
  attach(engine: WorkerEngine | undefined): void {
    this.engine = engine;
    this.setBusy(false);
    if (engine) this.scheduleWarm(0);
  }

  private scheduleWarm(delayMs: number): void {
    clearTimeout(this.warmTimer);
    this.warmTimer = setTimeout(() => void this.warm(), delayMs);
  }

  private async warm(): Promise<void> {
    if (!this.engine || this.busy) return;
    const typed = this.input.value.trim();
    const messages = this.conversation.messages(typed || undefined);
    if (messages.length === 0) return;
    const indicator = el('warming');
    indicator.hidden = false;
    try {
      await this.engine.warm({ messages });
      void this.engine.prefixStoreSettled().then(this.onStored, () => undefined);
    } catch {
      // Warming is an optimisation: a failure here shows up, if real, on the next request.
    } finally {
      indicator.hidden = true;
    }
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    if (!text || !this.engine || this.busy) return;
    clearTimeout(this.warmTimer);
    const settings = readSettings();
    this.input.value = '';
    this.render('user', text);
    const bubble = this.render('assistant', '');
    bubble.dataset.state = 'streaming';
    this.setBusy(true);
    hideBanner();

    const started = performance.now();
    let pieces = 0;
    try {
      const reply = await this.conversation.send(
        this.engine,
        text,
        {
          temperature: settings.temperature,
          max_tokens: settings.maxTokens,
          draft: settings.draft,
          draftLength: settings.draftLength,
        },
        (textSoFar) => {
          bubble.textContent = textSoFar;
          showLiveSpeed(++pieces, (performance.now() - started) / 1000);
        },
      );
      if (reply.usage) showUsage(reply.usage);
      bubble.dataset.state = reply.finishReason === 'abort' ? 'stopped' : 'done';
    } catch (error) {
      bubble.dataset.state = 'error'; // the unanswered question stays on screen but leaves the context
      showBanner(error as Error);
      if (/DeviceLost|OutOfMemory/.test((error as Error).name)) this.onEngineError(error as Error);
    } finally {
      this.setBusy(false);
    }
  }

  private newChat(): void {
    if (this.busy) return;
    this.conversation.clear();
    el('messages').replaceChildren();
    this.scheduleWarm(0);
  }

  private render(role: 'user' | 'assistant', text: string): HTMLElement {
    const item = document.createElement('li');
    item.className = 'message';
    item.dataset.role = role;
    item.dataset.testid = `message-${role}`;
    if (text) item.append(text);
    el('messages').append(item);
    item.scrollIntoView({ block: 'end' });
    return item;
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    const ready = !!this.engine;
    el<HTMLButtonElement>('send').disabled = busy || !ready;
    el<HTMLButtonElement>('stop').disabled = !busy;
    this.input.disabled = !ready;
  }
}

function hideBanner(): void {
  el('banner').hidden = true;
}
