/**
 * The conversation on the page: messages on screen and in memory, sending with a streamed reply
 * rendered as sanitised markdown, each reply's state (done, stopped, cut off, failed) and
 * figures, Stop (also Esc, and during a long prompt's prefill), a new chat (also during a
 * reply), past conversations kept in this browser, and warming the prefix cache while the user
 * types (the system prompt as soon as it is set, then the typed text, debounced). Errors are
 * shown beside the composer, cleared by the next success, and the conversation is kept.
 */

import type { TandemUsage } from '../engine/engine';
import type { FinishReason } from '../engine/generation';
import type { WorkerEngine } from '../engine/worker-client';
import { hideBanner, showBanner } from './banner';
import { onSend } from './composer';
import { Conversation, type Turn } from './conversation';
import {
  deleteConversation,
  listConversations,
  loadConversation,
  newConversationId,
  saveConversation,
} from './history';
import { copyButton, renderMarkdown } from './markdown';
import { describeUsage, resetFigures, showLiveSpeed, showUsage } from './metrics';
import { checkSettings, readSettings } from './settings';

const el = <T extends HTMLElement>(id: string) => document.querySelector(`[data-testid="${id}"]`) as T;

/** A reply's state on screen, and the note that says it. */
type ReplyState = 'streaming' | 'done' | 'stopped' | 'truncated' | 'failed';
const NOTES: Partial<Record<ReplyState, string>> = {
  stopped: 'Stopped.',
  truncated: 'Cut off: the reply reached max tokens or the end of the context window.',
};
/** How far a long prompt has been read, in its reply's bubble until the first words come. */
function showPrefill(bubble: HTMLElement, done: number, total: number): void {
  if (bubble.dataset.state !== 'streaming') return;
  let note = bubble.querySelector<HTMLElement>('[data-testid="prefill-progress"]');
  if (!note) {
    note = Object.assign(document.createElement('span'), { className: 'note' });
    note.dataset.testid = 'prefill-progress';
    bubble.prepend(note);
  }
  note.textContent = `Reading the prompt: ${done} of ${total} tokens…`;
}

const stateOf = (reason: FinishReason | undefined): ReplyState =>
  reason === 'abort' ? 'stopped' : reason === 'length' ? 'truncated' : 'done';

export class Chat {
  private engine: WorkerEngine | undefined;
  private readonly conversation = new Conversation(() => readSettings().system);
  private conversationId = newConversationId();
  private busy = false;
  /** New chat was asked for during a reply: it starts when the reply has stopped. */
  private newChatPending = false;
  private warmTimer: ReturnType<typeof setTimeout> | undefined;
  /** A warm is running: Stop ends it. */
  private warming = false;
  private readonly input = el<HTMLTextAreaElement>('input');

  constructor(
    /** Called when the engine has failed for good (its device lost): the page offers a reload. */
    private readonly onEngineError: (error: Error) => void,
    /** Called once prompts the engine pinned are written to the prefix store (the page lists them). */
    private readonly onStored: () => void = () => {},
  ) {
    onSend(el<HTMLFormElement>('composer'), this.input, () => void this.send());
    this.input.addEventListener('input', () => this.scheduleWarm(300));
    el('system-prompt').addEventListener('input', () => this.scheduleWarm(500));
    el('stop').addEventListener('click', () => this.stop());
    el('new-chat').addEventListener('click', () => this.newChat());
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && (this.busy || this.warming)) this.stop();
    });
  }

  /** Connects (or reconnects, after a reload) the engine; the conversation stays. */
  attach(engine: WorkerEngine | undefined): void {
    this.engine = engine;
    this.setBusy(false);
    if (engine) this.scheduleWarm(0);
  }

  /** Shows the latest kept conversation (after a reload) and the list of past ones. */
  async resume(): Promise<void> {
    const [latest] = await listConversations();
    if (latest && this.conversation.history.length === 0) this.open(latest.id, latest.turns);
    await this.showPast();
  }

  private stop(): void {
    void this.engine?.interrupt();
  }

  private scheduleWarm(delayMs: number): void {
    clearTimeout(this.warmTimer);
    this.warmTimer = setTimeout(() => void this.warm(), delayMs);
  }

  /**
   * Computes the conversation so far (the system prompt, the message being typed) ahead of the
   * send. A long prompt says how far it has read, and Stop (or Esc) ends it between chunks:
   * what was read stays cached.
   */
  private async warm(): Promise<void> {
    if (!this.engine || this.busy) return;
    const typed = this.input.value.trim();
    const messages = this.conversation.messages(typed || undefined);
    if (messages.length === 0) return;
    const indicator = el('warming');
    indicator.textContent = 'warming cache…';
    indicator.hidden = false;
    this.warming = true;
    el<HTMLButtonElement>('stop').disabled = false;
    try {
      await this.engine.warm({
        messages,
        onPrefillProgress: (done, total) => {
          indicator.textContent = `Reading the prompt: ${done} of ${total} tokens…`;
        },
      });
      void this.engine.prefixStoreSettled().then(this.onStored, () => undefined);
    } catch {
      // Warming is an optimisation: a failure here shows up, if real, on the next request.
    } finally {
      this.warming = false;
      indicator.hidden = true;
      indicator.textContent = 'warming cache…';
      el<HTMLButtonElement>('stop').disabled = !this.busy;
    }
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    if (!text || !this.engine || this.busy) return;
    if (checkSettings().length > 0) {
      showBanner(
        Object.assign(new Error('Some settings are out of their limits: see the fields marked beside them.'), {
          name: 'InvalidSettingsError',
        }),
      );
      return;
    }
    clearTimeout(this.warmTimer);
    const settings = readSettings();
    this.input.value = '';
    this.render('user', text);
    const { item: bubble, body, figures } = this.renderReply('');
    this.setBusy(true);
    resetFigures();

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
          draftTree: settings.draftTree,
          draftTreeWidth: settings.draftTreeWidth,
          onPrefillProgress: (done, total) => showPrefill(bubble, done, total),
        },
        (textSoFar) => {
          bubble.querySelector('[data-testid="prefill-progress"]')?.remove();
          renderMarkdown(body, textSoFar);
          showLiveSpeed(++pieces, (performance.now() - started) / 1000);
        },
      );
      renderMarkdown(body, reply.text);
      this.finish(bubble, stateOf(reply.finishReason), reply.usage, figures);
      hideBanner();
      void saveConversation(this.conversationId, this.conversation.history).then(() => this.showPast());
    } catch (error) {
      // The unanswered question stays on screen but leaves the context.
      this.finish(bubble, 'failed', undefined, figures, (error as Error).message);
      showBanner(error as Error);
      void this.offerReloadIfFailed();
    } finally {
      this.setBusy(false);
      if (this.newChatPending) this.newChat();
    }
  }

  /**
   * After a failed request: where the engine has failed for good (its device lost), the page
   * offers to load the models again. A request that failed on its own (a conversation the GPU
   * has no memory for, say) leaves the engine serving, and its banner says what to do instead.
   */
  private async offerReloadIfFailed(): Promise<void> {
    const failure = await this.engine?.failure();
    if (failure) this.onEngineError(Object.assign(new Error(failure.message), { name: failure.name }));
  }

  /** Marks a reply's end: its state, a note saying it where there is one, its figures. */
  private finish(
    bubble: HTMLElement,
    state: ReplyState,
    usage: TandemUsage | undefined,
    figures: HTMLElement,
    failure?: string,
  ): void {
    bubble.dataset.state = state;
    bubble.querySelector('[data-testid="prefill-progress"]')?.remove();
    const note = failure ? `Failed: ${failure}` : NOTES[state];
    if (note) {
      bubble.append(Object.assign(document.createElement('span'), { className: 'note', textContent: note }));
    }
    if (usage) {
      showUsage(usage);
      figures.textContent = describeUsage(usage);
    }
  }

  private newChat(): void {
    if (this.busy) {
      // The reply is stopped first; the new chat starts when it has.
      this.newChatPending = true;
      this.stop();
      return;
    }
    this.newChatPending = false;
    this.open(newConversationId(), []);
    hideBanner();
    resetFigures();
    this.scheduleWarm(0);
  }

  /** Shows conversation `id` with `turns`, and makes it the one new messages go to. */
  private open(id: string, turns: readonly Turn[]): void {
    this.conversationId = id;
    this.conversation.restore(turns);
    el('messages').replaceChildren();
    for (const turn of turns) {
      if (turn.role === 'user') this.render('user', turn.content);
      else this.finish(this.renderReply(turn.content).item, 'done', undefined, document.createElement('span'));
    }
  }

  /** The list of kept conversations: open one, or delete it. */
  private async showPast(): Promise<void> {
    const list = el('conversations');
    const past = await listConversations();
    list.replaceChildren();
    if (past.length === 0) {
      list.append(Object.assign(document.createElement('li'), { className: 'note', textContent: 'None yet.' }));
    }
    for (const saved of past) {
      const item = document.createElement('li');
      item.dataset.testid = 'conversation';
      if (saved.id === this.conversationId) item.setAttribute('aria-current', 'true');
      const title = saved.title || 'Untitled';
      const open = Object.assign(document.createElement('button'), {
        type: 'button',
        className: 'link',
        textContent: title,
      });
      open.setAttribute('aria-label', `Open the conversation “${title}”`);
      open.addEventListener('click', async () => {
        if (this.busy) return;
        const loaded = await loadConversation(saved.id);
        if (loaded) this.open(loaded.id, loaded.turns);
        hideBanner();
        resetFigures();
        await this.showPast();
        this.scheduleWarm(0);
      });
      const remove = Object.assign(document.createElement('button'), {
        type: 'button',
        className: 'secondary',
        textContent: 'Delete',
      });
      remove.setAttribute('aria-label', `Delete the conversation “${title}”`);
      remove.addEventListener('click', async () => {
        await deleteConversation(saved.id);
        if (saved.id === this.conversationId && !this.busy) this.open(newConversationId(), []);
        await this.showPast();
      });
      item.append(open, remove);
      list.append(item);
    }
  }

  private render(role: 'user' | 'assistant', text: string): HTMLElement {
    const item = document.createElement('li');
    item.className = 'message';
    item.dataset.role = role;
    item.dataset.testid = `message-${role}`;
    if (text) item.append(text); // the user's words as text: never HTML
    el('messages').append(item);
    item.scrollIntoView({ block: 'end' });
    return item;
  }

  /** A reply's bubble: its markdown body, a copy button and a line for its figures. */
  private renderReply(text: string): { item: HTMLElement; body: HTMLElement; figures: HTMLElement } {
    const item = this.render('assistant', '');
    item.dataset.state = 'streaming';
    const body = Object.assign(document.createElement('div'), { className: 'markdown' });
    body.dataset.testid = 'reply-text';
    renderMarkdown(body, text);
    const figures = Object.assign(document.createElement('span'), { className: 'figures' });
    figures.dataset.testid = 'message-figures';
    const copy = copyButton('Copy this reply', 'copy-reply', () => body.textContent ?? '');
    const footer = Object.assign(document.createElement('div'), { className: 'reply-footer' });
    footer.append(figures, copy);
    item.append(body, footer);
    return { item, body, figures };
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    const ready = !!this.engine;
    el<HTMLButtonElement>('send').disabled = busy || !ready;
    el<HTMLButtonElement>('stop').disabled = !busy;
    this.input.disabled = !ready;
  }
}
