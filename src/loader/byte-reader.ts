/**
 * Reading a file's bytes in order from a stream, a few at a time or many into a buffer of the
 * caller's, so that a multi-gigabyte weight file is never held whole: each tensor's bytes go
 * straight from the stream into the tensor's own array, and bytes no tensor wants are skipped.
 */

import { ModelFileMissingError, TandemError } from '../errors';

const EMPTY = new Uint8Array(0);

export class ByteReader {
  /** Bytes read so far (the offset in the file of the next byte). */
  position = 0;
  private chunk: Uint8Array = EMPTY;
  private at = 0;
  private ended = false;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    /**
     * The error to throw when the stream ends `missing` bytes short of a read, or fails (a
     * network error: `cause`) at `position`.
     */
    private readonly truncated: (position: number, missing: number, cause?: unknown) => Error,
  ) {}

  /**
   * A reader of the file `fileName`: a stream that ends early is a truncated file (the
   * format's `FormatError`), one that fails is a read to try again (ModelFileMissingError).
   */
  static forFile(
    stream: ReadableStream<Uint8Array>,
    fileName: string,
    FormatError: new (message: string) => Error,
  ): ByteReader {
    return new ByteReader(stream.getReader(), (position, missing, cause) =>
      cause === undefined
        ? new FormatError(
            `${fileName} ends at byte ${position}, ${missing} bytes short: the file is truncated (an interrupted download?)`,
          )
        : new ModelFileMissingError(`Reading ${fileName} failed at byte ${position}: ${String(cause)}. Try again.`, {
            cause,
          }),
    );
  }

  /** Fills `into` with the next `into.byteLength` bytes. */
  async fill(into: Uint8Array): Promise<void> {
    let filled = 0;
    while (filled < into.byteLength) {
      if (!(await this.more())) throw this.truncated(this.position, into.byteLength - filled);
      const n = Math.min(into.byteLength - filled, this.chunk.byteLength - this.at);
      into.set(this.chunk.subarray(this.at, this.at + n), filled);
      this.at += n;
      filled += n;
      this.position += n;
    }
  }

  /** The next `count` bytes, in a new array. */
  async bytes(count: number): Promise<Uint8Array> {
    const out = new Uint8Array(count);
    await this.fill(out);
    return out;
  }

  /** Passes over the next `count` bytes. */
  async skip(count: number): Promise<void> {
    let left = count;
    while (left > 0) {
      if (!(await this.more())) throw this.truncated(this.position, left);
      const n = Math.min(left, this.chunk.byteLength - this.at);
      this.at += n;
      left -= n;
      this.position += n;
    }
  }

  /** Passes over every byte left in the stream, and says how many there were. */
  async skipRest(): Promise<number> {
    let skipped = 0;
    while (await this.more()) {
      skipped += this.chunk.byteLength - this.at;
      this.at = this.chunk.byteLength;
    }
    this.position += skipped;
    return skipped;
  }

  /** Whether the stream has no bytes left. */
  async atEnd(): Promise<boolean> {
    return !(await this.more());
  }

  /** Stops reading (the rest of the stream is not wanted). */
  async cancel(): Promise<void> {
    this.ended = true;
    await this.reader.cancel().catch(() => undefined);
  }

  /** Makes sure the current chunk has a byte left; false at the end of the stream. */
  private async more(): Promise<boolean> {
    while (this.at >= this.chunk.byteLength) {
      if (this.ended) return false;
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await this.reader.read();
      } catch (cause) {
        if (cause instanceof TandemError) throw cause; // already says what went wrong
        throw this.truncated(this.position, 0, cause);
      }
      const { done, value } = next;
      if (done) {
        this.ended = true;
        return false;
      }
      this.chunk = value;
      this.at = 0;
    }
    return true;
  }
}
