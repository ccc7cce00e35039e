/**
 * Token ids in, text out, as a reply streams: the one place a reply becomes text.
 *
 *  - Whole characters only. A token may end inside a character (byte-level BPE splits UTF-8),
 *    so text is released only once it decodes without a replacement character at its end.
 *  - Incremental. Each token decodes a short window of recent ids, never the whole reply:
 *    the text of ids [prefix, end) minus that of [prefix, read) is what the new ids added.
 *    Both windows start at the same id, so a decoder that treats its first token specially
 *    (SentencePiece drops a leading space) treats both alike (vLLM's incremental detokenizer).
 *  - Special tokens are never shown: a reply reads as text, not as a chat template.
 *  - Stop strings: the reply ends before the first one, and text that could still be the
 *    start of one is held back until it cannot, so no part of a stop string is ever sent.
 */

import type { TextTokenizer } from '../tokenizer/tokenizer';

export class StreamingText {
  /** Every character decoded so far, the held-back tail included. */
  private text = '';
  /** Characters of `text` handed out so far. */
  private sent = 0;
  private readonly ids: number[] = [];
  private prefix = 0; // window start
  private read = 0; // ids whose text is already in `text`
  /** A stop string was met: the reply is over, and `text` ends before it. */
  stopped = false;

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly stops: readonly string[] = [],
  ) {}

  /** Takes the next token; returns the text that is now final ('' while a character or a stop string is undecided). */
  push(token: number): string {
    if (this.stopped || this.tokenizer.specialIds.has(token)) return '';
    this.ids.push(token);
    const before = this.tokenizer.decode(this.ids.slice(this.prefix, this.read));
    const after = this.tokenizer.decode(this.ids.slice(this.prefix));
    if (after.length <= before.length || after.endsWith('\uFFFD')) return '';
    this.text += after.slice(before.length);
    this.prefix = this.read;
    this.read = this.ids.length;
    return this.release(false);
  }

  /** The reply is over: returns whatever was held back (an undecided stop string's start). */
  end(): string {
    return this.release(true);
  }

  /** The reply's text so far, as handed out. */
  get final(): string {
    return this.text.slice(0, this.sent);
  }

  private release(ending: boolean): string {
    if (!this.stopped) {
      const at = this.firstStop();
      if (at >= 0) {
        this.text = this.text.slice(0, at);
        this.stopped = true;
      }
    }
    const end = this.stopped || ending ? this.text.length : this.text.length - this.undecidedTail();
    if (end <= this.sent) return '';
    const piece = this.text.slice(this.sent, end);
    this.sent = end;
    return piece;
  }

  /** Where the first stop string begins in the text, or -1. Only text not yet sent can start one. */
  private firstStop(): number {
    let first = -1;
    for (const stop of this.stops) {
      const at = this.text.indexOf(stop, Math.max(0, this.sent - stop.length + 1));
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    return first;
  }

  /** Length of the longest end of the text that is the start of a stop string: it may yet become one. */
  private undecidedTail(): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.text.length - this.sent); n > longest; n--) {
        if (this.text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
