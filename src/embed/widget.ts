/**
 * The embeddable chat: a launcher button and a chat panel inside a shadow root, so the host
 * page's styles cannot reach in and ours cannot leak out. The engine starts in a Web Worker on
 * first open, and the system prompt is warmed as soon as it is loaded (and again whenever the
 * host changes it), so the first question only pays for its own tokens. Without WebGPU the
 * panel says why the chat is unavailable.
 */

import type { TandemUsage } from '../engine/engine';
import { createWorkerEngine, type WorkerEngine } from '../engine/worker-client';
import { requestGpu } from '../gpu/device';
import { onSend } from '../ui/composer';
import { Conversation, type ReplySettings } from '../ui/conversation';
import css from './embed.css?inline';

export interface WidgetConfig {
  /** The models to load, chosen when the chat first opens (a site's catalogue may be fetched then). */
  models: () => Promise<{ target: string; draft?: string; modelId?: string }>;
  systemPrompt: string;
  title: string;
  /** Starts the engine's Web Worker. */
  spawnWorker: () => Worker;
  /**
   * How replies are generated (temperature, length, drafting), read when the chat starts: a bad
   * setting stops it with its reason.
   */
  reply: () => ReplySettings;
}

export interface Reply {
  text: string;
  usage: TandemUsage | undefined;
}

const TEMPLATE = `
  <button class="launcher" part="launcher" data-testid="tandem-launcher" aria-expanded="false" aria-controls="panel">
    <svg aria-hidden="true" viewBox="0 0 24 24" width="18" height="18"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>
    <span class="label"></span>
  </button>
  <section class="panel" id="panel" role="dialog" aria-label="Chat" data-testid="tandem-panel" hidden>
    <header>
      <strong class="title"></strong>
      <button class="close" data-testid="tandem-close" aria-label="Close">×</button>
    </header>
    <p class="status" data-testid="tandem-status" data-state="idle"></p>
    <ol class="messages" data-testid="tandem-messages" aria-live="polite"></ol>
    <p class="figures" data-testid="tandem-figures">on-device · private</p>
    <form class="composer">
      <textarea rows="2" data-testid="tandem-input" placeholder="Ask something…" disabled></textarea>
      <button type="submit" data-testid="tandem-send" disabled>Send</button>
    </form>
  </section>`;

export class ChatWidget {
  readonly host: HTMLElement;
  private readonly root: ShadowRoot;
  private engine: WorkerEngine | undefined;
  private worker: Worker | undefined;
  private replySettings: ReplySettings = {};
  private loading: Promise<void> | undefined;
  private readonly conversation: Conversation;
  private readonly listeners = new Set<(reply: Reply) => void>();
  private busy = false;

  constructor(private readonly config: WidgetConfig) {
    this.conversation = new Conversation(() => this.config.systemPrompt);
    this.host = document.createElement('div');
    this.host.dataset.tandemEmbed = '';
    this.root = this.host.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = css;
    const template = document.createElement('template');
    template.innerHTML = TEMPLATE;
    this.root.append(style, template.content);
    this.$('.label').textContent = config.title;
    this.$('.title').textContent = config.title;
    this.$('.launcher').addEventListener('click', () => (this.isOpen ? this.close() : void this.open()));
    this.$('.close').addEventListener('click', () => this.close());
    onSend(this.$('form') as HTMLFormElement, this.input, () => void this.send());
  }

  get isOpen(): boolean {
    return !this.$('.panel').hidden;
  }

  async open(): Promise<void> {
    this.$('.panel').hidden = false;
    this.$('.launcher').setAttribute('aria-expanded', 'true');
    this.loading ??= this.load();
    await this.loading;
    this.input.focus();
  }

  close(): void {
    this.$('.panel').hidden = true;
    this.$('.launcher').setAttribute('aria-expanded', 'false');
  }

  /** Sets the system prompt for the next conversation turns, and warms it. */
  setSystemPrompt(text: string): void {
    this.config.systemPrompt = text;
    void this.warm();
  }

  /** Asks as the user would; resolves with the reply. */
  async ask(text: string): Promise<Reply> {
    await this.open();
    this.input.value = text;
    return this.send();
  }

  onReply(listener: (reply: Reply) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async load(): Promise<void> {
    this.setStatus('loading', 'Looking for WebGPU…');
    try {
      const gpu = await requestGpu(navigator.gpu);
      gpu.destroy(); // the worker opens its own device
    } catch (error) {
      this.setStatus(
        'unavailable',
        `This chat runs on your own GPU, and is unavailable here. ${(error as Error).message}`,
      );
      this.host.dataset.state = 'unavailable';
      return;
    }
    try {
      this.replySettings = this.config.reply();
      this.worker = this.config.spawnWorker();
      this.engine = await createWorkerEngine(this.worker, {
        ...(await this.config.models()),
        initProgressCallback: (report) =>
          this.setStatus('loading', `${report.text} (${Math.round(report.progress * 100)}%)`),
      });
      this.setStatus('ready', '');
      this.input.disabled = false;
      (this.$('button[type="submit"]') as HTMLButtonElement).disabled = false;
      await this.warm();
    } catch (error) {
      this.setStatus('error', `The chat could not start: ${(error as Error).message}`);
      this.stopEngine();
    }
  }

  private async warm(): Promise<void> {
    if (!this.engine || !this.config.systemPrompt) return;
    await this.engine.warm({ messages: [{ role: 'system', content: this.config.systemPrompt }] });
  }

  private async send(): Promise<Reply> {
    const text = this.input.value.trim();
    if (!this.engine || this.busy || !text) return { text: '', usage: undefined };
    this.busy = true;
    this.input.value = '';
    this.render('user', text);
    const bubble = this.render('assistant', '');
    bubble.dataset.state = 'streaming';
    let result: Reply = { text: '', usage: undefined };
    try {
      const reply = await this.conversation.send(this.engine, text, this.replySettings, (so) => {
        bubble.textContent = so;
      });
      result = { text: reply.text, usage: reply.usage };
      bubble.dataset.state = 'done';
      if (reply.usage) this.showFigures(reply.usage);
    } catch (error) {
      bubble.dataset.state = 'error';
      bubble.textContent = (error as Error).message;
      void this.restartIfFailed();
    } finally {
      this.busy = false;
    }
    for (const listener of this.listeners) listener(result);
    return result;
  }

  /**
   * After a failed request: where the engine has failed for good (its device lost), it is shut
   * down and the chat says so; opening the chat again starts a new one. A request that failed on
   * its own leaves the engine serving.
   */
  private async restartIfFailed(): Promise<void> {
    const failure = await this.engine?.failure();
    if (!failure) return;
    this.setStatus('error', `The chat stopped: ${failure.message} Close the chat and open it again to restart it.`);
    this.stopEngine();
  }

  /** Ends the engine's worker, if any, and disables the composer; opening the chat again starts a new one. */
  private stopEngine(): void {
    this.worker?.terminate();
    this.worker = this.engine = undefined;
    this.input.disabled = true;
    (this.$('button[type="submit"]') as HTMLButtonElement).disabled = true;
    this.loading = undefined;
  }

  private showFigures(usage: TandemUsage): void {
    const parts = [`${usage.extra.decode_tokens_per_s.toFixed(1)} tok/s`];
    if (usage.spec) parts.push(`acceptance ${usage.spec.acceptance_rate.toFixed(2)}`);
    parts.push(
      `TTFT ${Math.round(usage.extra.time_to_first_token_s * 1000)} ms`,
      `${usage.cache_read_input_tokens} cached`,
    );
    this.$('.figures').textContent = parts.join(' · ');
  }

  private render(role: 'user' | 'assistant', text: string): HTMLElement {
    const item = document.createElement('li');
    item.className = role;
    item.dataset.testid = `tandem-message-${role}`;
    item.textContent = text;
    this.$('.messages').append(item);
    item.scrollIntoView({ block: 'end' });
    return item;
  }

  private setStatus(state: string, text: string): void {
    const status = this.$('.status');
    status.dataset.state = state;
    status.textContent = text;
    status.hidden = text === '';
  }

  private get input(): HTMLTextAreaElement {
    return this.$('textarea') as HTMLTextAreaElement;
  }

  private $(selector: string): HTMLElement {
    return this.root.querySelector(selector) as HTMLElement;
  }
}
