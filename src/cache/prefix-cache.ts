/**
 * The prefix KV cache. Entries are the KV caches themselves: idle sequences of the target (and
 * of the draft model, so a hit skips both prefills), each with the tokens whose keys and values
 * it holds. A request takes the idle entry sharing the longest prefix with its prompt, sets its
 * length to that prefix (truncate: nothing is copied) and prefills only the rest; when it ends,
 * the entry holds the whole conversation so far, ready for the next turn.
 *
 * Prefixes match token for token: anything after the first differing token is recomputed,
 * everything before it is reused. An entry may pin a prefix worth keeping (an explicit cache
 * breakpoint, a warmed system prompt): it is never cut below that length. A request that
 * diverges inside a pinned prefix gets another entry, seeded with a copy of the shared part.
 * Models with recurrent state (Qwen3.5's Gated DeltaNet layers) keep it for the last few
 * positions of a sequence only: an entry is then reused only as far back as that reaches, and a
 * pinned prefix is always served from a copy, so that its entry keeps the state at its end.
 * Entries belong to one loaded model pair, so a changed model never meets a stale entry.
 *
 * A byte budget bounds what the entries hold. GPU sequences grow as they fill, so an entry
 * costs what it holds, not its capacity: a new entry is made while the entries and one more at
 * its starting size fit the budget, else the least recently used idle one is taken over. An
 * entry grows during its request; after each request the least recently used idle entries are
 * freed until the rest fit the budget again. An entry in use is never evicted, and the budget
 * always holds one entry at full capacity (the engine's context length sees to it).
 *
 * WebGPU says nothing of a device's memory, so the budget is a guess (context-length.ts) until
 * the device says otherwise: when a sequence cannot grow for want of memory (GpuModel.makeRoom),
 * the cache frees its least recently used idle entries, unpinned first, one at a time until the
 * sequence fits, and from then on holds no more than it held when the device refused.
 *
 * Work on the cache is serialised (there is one GPU queue anyway): a request that arrives while
 * a warm of its prefix is running waits for it, then finds that prefix cached.
 */

import { TandemError } from '../errors';
import { type CausalLM, prefixBytes, type Sequence } from '../model/types';

export interface CacheEntry<S extends Sequence, D extends Sequence> {
  /** The tokens whose KV the target sequence holds (the draft holds a prefix of them). */
  tokens: number[];
  /** A prefix worth keeping (a breakpoint, a warmed system prompt): never cut below this length. */
  pinned: number;
  target: S;
  draft: D | undefined;
  lastUsed: number;
  inUse: boolean;
  /** Leading positions read from the prefix store (disk) that no request has used yet. */
  restored: number;
}

export interface Lease<S extends Sequence, D extends Sequence> {
  entry: CacheEntry<S, D>;
  /** Prompt tokens whose KV was already cached: cache_read_input_tokens. */
  reused: number;
  /** Of those, the ones read from the prefix store (disk) for this prompt. */
  restored: number;
}

export interface PrefixCacheOptions<S extends Sequence, D extends Sequence> {
  target: CausalLM<S>;
  draft?: CausalLM<D>;
  /** Tokens each entry can hold (prompt and reply). */
  capacity: number;
  /** GPU bytes the cache may keep in KV caches. */
  budgetBytes: number;
}

/** Bytes of one sequence's KV cache (keys and values, every layer), exported features and recurrent states. */
export function kvBytes(model: CausalLM<Sequence>, capacity: number): number {
  return prefixBytes(model, capacity) + (model.stateBytes ?? 0);
}

/** Where a prompt parts from the pinned prefix sharing most with it: `cached` goes on differently from `at`. */
export interface Divergence {
  at: number;
  cached: readonly number[];
}

export class CacheFullError extends TandemError {
  constructor(message: string) {
    super(message);
    this.name = 'CacheFullError';
  }
}

export class PrefixCache<S extends Sequence, D extends Sequence = Sequence> {
  readonly entries: CacheEntry<S, D>[] = [];
  /** Bytes of an entry at full capacity. */
  readonly entryBytes: number;
  /** Entries at full capacity the budget holds: at least this many can always be kept. */
  readonly maxEntries: number;
  /** Bytes of a new entry, as the first one made showed (sequences may start small). */
  private startBytes: number | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private clock = 0;
  /** What the entries held when the device last refused more memory: the budget's ceiling since. */
  private deviceBytes = Number.POSITIVE_INFINITY;

  constructor(private readonly options: PrefixCacheOptions<S, D>) {
    const { target, draft, capacity, budgetBytes } = options;
    this.entryBytes = kvBytes(target, capacity) + (draft ? kvBytes(draft, capacity) : 0);
    this.maxEntries = Math.floor(budgetBytes / this.entryBytes);
    if (this.maxEntries < 1) {
      throw new CacheFullError(
        `A cache budget of ${budgetBytes} bytes holds no sequence of ${capacity} tokens (${this.entryBytes} bytes each).`,
      );
    }
    const reclaim = (first: boolean) => this.reclaim(first);
    target.onMemoryShortage?.(reclaim);
    draft?.onMemoryShortage?.(reclaim);
  }

  /** The bytes the entries may hold: the budget, or less where the device ran out of memory first. */
  get budgetBytes(): number {
    return Math.min(this.options.budgetBytes, this.deviceBytes);
  }

  /**
   * The device is out of memory: frees the least recently used idle entry (an unpinned one if
   * any); at the shortage's `first` call, lowers the budget to what the entries held then.
   * False when no entry is idle.
   */
  private reclaim(first: boolean): boolean {
    const idle = this.entries
      .filter((e) => !e.inUse)
      .sort((a, b) => Number(a.pinned > 0) - Number(b.pinned > 0) || a.lastUsed - b.lastUsed);
    if (first) this.deviceBytes = Math.min(this.deviceBytes, this.heldBytes);
    if (!idle[0]) return false;
    this.free(idle[0]);
    return true;
  }

  private free(entry: CacheEntry<S, D>): void {
    this.entries.splice(this.entries.indexOf(entry), 1);
    release(entry.target);
    if (entry.draft) release(entry.draft);
  }

  /** Runs `work` after every earlier piece of cache work has finished. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * An entry for `prompt`: the idle one sharing the longest prefix with it, cut to that prefix,
   * or a new one. At least the prompt's last token is left to run, so that its logits exist
   * (when the prompt is exactly a pinned prefix, that token is cut and computed again, the same).
   */
  async acquire(prompt: readonly number[]): Promise<Lease<S, D>> {
    let best: CacheEntry<S, D> | undefined;
    let bestLength = 0;
    for (const entry of this.entries) {
      const length = entry.inUse ? 0 : commonPrefix(entry.tokens, prompt);
      // A sequence with recurrent state (Gated DeltaNet layers) can be cut back only so far: an
      // entry whose target or draft cannot be cut back to the shared part serves nothing.
      if (length > bestLength && this.restorable(entry, Math.min(length, prompt.length - 1))) {
        best = entry;
        bestLength = length;
      }
    }
    const reused = Math.min(bestLength, prompt.length - 1);
    // Serving this request from `best` would cut its pinned prefix, or (recurrent states, kept at
    // the end of a sequence only) lose the state at its end: copy the shared part instead.
    if (best && (bestLength < best.pinned || (best.pinned > 0 && this.recurrent))) {
      const copy = await this.copyShared(best, reused);
      if (copy) best = copy;
      else best.pinned = 0; // no room: the pin gives way
    }
    // No shared prefix: a new entry while the budget allows, else the least recently used idle one.
    best ??= this.spareEntry(undefined) ?? this.leastRecentlyUsedIdle();
    best.target.truncate(Math.min(reused, best.target.length));
    if (best.draft) best.draft.truncate(Math.min(reused, best.draft.length));
    best.tokens = best.tokens.slice(0, reused);
    best.restored = Math.min(best.restored, reused);
    best.inUse = true;
    best.lastUsed = ++this.clock;
    return { entry: best, reused, restored: best.restored };
  }

  /**
   * Whether the models' sequences keep recurrent states (Gated DeltaNet layers) for their last
   * few positions only: then a pinned prefix stays in an entry of its own, never extended.
   */
  private get recurrent(): boolean {
    const { target, draft } = this.options;
    return target.maxCutBack !== undefined || draft?.maxCutBack !== undefined;
  }

  /** Whether the entry's target and draft can both be cut back to `length`. */
  private restorable(entry: CacheEntry<S, D>, length: number): boolean {
    const can = (sequence: Sequence | undefined) => {
      const at = Math.min(length, sequence?.length ?? 0);
      return !sequence?.restorable || sequence.restorable(at) === at;
    };
    return can(entry.target) && can(entry.draft);
  }

  /**
   * A spare entry holding the first `length` positions of `source`, or undefined when there is
   * none, or the GPU has no memory for the copy (the spare is freed then). While the copy makes
   * room, both entries count as in use, so that a memory shortage does not free them.
   */
  private async copyShared(source: CacheEntry<S, D>, length: number): Promise<CacheEntry<S, D> | undefined> {
    const other = this.spareEntry(source);
    if (!other) return undefined;
    other.tokens = []; // what it held is overwritten: never claimed again, whatever the copy does
    other.pinned = 0;
    source.inUse = other.inUse = true;
    try {
      const { target, draft } = this.options;
      await target.copyPrefix(source.target, other.target, Math.min(length, source.target.length));
      if (source.draft && other.draft && draft) {
        await draft.copyPrefix(source.draft, other.draft, Math.min(length, source.draft.length));
      }
    } catch (error) {
      if ((error as Error).name !== 'GPUOutOfMemoryError') throw error;
      this.free(other);
      return undefined;
    } finally {
      source.inUse = other.inUse = false;
    }
    other.tokens = source.tokens.slice(0, other.target.length);
    other.restored = Math.min(source.restored, other.tokens.length);
    return other;
  }

  /** The most prompt tokens an idle entry holds already. */
  longestMatch(prompt: readonly number[]): number {
    return Math.max(0, ...this.entries.filter((e) => !e.inUse).map((e) => commonPrefix(e.tokens, prompt)));
  }

  /**
   * Where `prompt` parts from the pinned prefix (a system prompt, a breakpoint: what the cache
   * is meant to serve) sharing most with it, when both go on after the shared part: a miss worth
   * a diagnostic (the usual cause is a timestamp or a template that differs). A message typed
   * ahead is cached but not pinned, so its edits are not reported.
   */
  divergence(prompt: readonly number[]): Divergence | undefined {
    let best: Divergence | undefined;
    for (const entry of this.entries) {
      if (entry.inUse || entry.pinned === 0) continue;
      const cached = entry.tokens.slice(0, entry.pinned);
      const at = commonPrefix(cached, prompt);
      if (at > (best?.at ?? 0)) best = { at, cached };
    }
    return best && best.at < best.cached.length && best.at < prompt.length ? best : undefined;
  }

  /**
   * Takes a spare entry (or the least recently used idle one) for a prefix read from the prefix
   * store: `write` fills its sequences; it is pinned, as the prefix was where it was stored.
   * Where `write` fails (the GPU out of memory, say), the entry is left empty and idle.
   */
  async adopt(tokens: readonly number[], write: (entry: CacheEntry<S, D>) => Promise<void>): Promise<CacheEntry<S, D>> {
    const entry = this.spareEntry(undefined) ?? this.leastRecentlyUsedIdle();
    entry.tokens = [];
    entry.pinned = 0;
    entry.inUse = true; // a memory shortage while it is written must not free it
    try {
      await write(entry);
    } catch (error) {
      entry.target.truncate(0);
      entry.draft?.truncate(0);
      entry.restored = 0;
      throw error;
    } finally {
      entry.inUse = false;
    }
    entry.tokens = [...tokens];
    entry.pinned = tokens.length;
    entry.restored = tokens.length;
    entry.lastUsed = ++this.clock;
    return entry;
  }

  /**
   * Returns an entry after use; `context` is every token of the request (prompt and reply), and
   * the first `keep` of them (if given) are pinned as a prefix worth keeping.
   */
  release(entry: CacheEntry<S, D>, context: readonly number[], keep = 0): void {
    entry.tokens = context.slice(0, entry.target.length) as number[];
    entry.pinned = Math.min(Math.max(entry.pinned, keep), entry.tokens.length);
    entry.inUse = false;
    entry.lastUsed = ++this.clock;
    this.trim();
  }

  /** GPU bytes the entries hold now. */
  get heldBytes(): number {
    return this.entries.reduce((sum, entry) => sum + this.bytesOf(entry), 0);
  }

  private bytesOf(entry: CacheEntry<S, D>): number {
    const { target, draft } = this.options;
    const held = (sequence: Sequence, model: CausalLM<Sequence>) => sequence.bytes ?? kvBytes(model, sequence.capacity);
    return held(entry.target, target) + (entry.draft && draft ? held(entry.draft, draft) : 0);
  }

  /** Frees the least recently used idle entries while the entries hold more than the budget. */
  private trim(): void {
    while (this.heldBytes > this.budgetBytes) {
      const idle = this.entries.filter((e) => !e.inUse).sort((a, b) => a.lastUsed - b.lastUsed);
      // The most recent entry stays: the budget holds one at full capacity.
      if (idle.length === 0 || this.entries.length === 1) return;
      this.free(idle[0]);
    }
  }

  private create(): CacheEntry<S, D> {
    const { target, draft, capacity } = this.options;
    const entry: CacheEntry<S, D> = {
      tokens: [],
      pinned: 0,
      target: target.createSequence(capacity),
      draft: draft?.createSequence(capacity),
      lastUsed: 0,
      inUse: false,
      restored: 0,
    };
    this.entries.push(entry);
    this.startBytes ??= this.bytesOf(entry);
    return entry;
  }

  /**
   * An entry that can be overwritten without losing a pinned prefix, other than `except`:
   * a new one while the budget allows, else the least recently used unpinned idle one.
   */
  private spareEntry(except: CacheEntry<S, D> | undefined): CacheEntry<S, D> | undefined {
    const room = this.budgetBytes - this.heldBytes;
    if (this.entries.length === 0 || room >= (this.startBytes ?? this.entryBytes)) return this.create();
    return this.entries
      .filter((e) => e !== except && !e.inUse && e.pinned === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed)[0];
  }

  /** The entry to give up when nothing is spare: its KV is overwritten by the next request. */
  private leastRecentlyUsedIdle(): CacheEntry<S, D> {
    const idle = this.entries.filter((e) => !e.inUse).sort((a, b) => a.lastUsed - b.lastUsed);
    if (!idle[0]) throw new CacheFullError('Every cached sequence is in use; raise the cache budget or wait.');
    idle[0].pinned = 0;
    return idle[0];
  }

  /** Frees every entry. */
  clear(): void {
    for (const entry of [...this.entries]) this.free(entry);
  }
}

export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

function release(sequence: Sequence): void {
  (sequence as Sequence & { release?: () => void }).release?.();
}
