/**
 * The prefix store: pinned prefixes (warmed system prompts, cache breakpoints) kept on disk, so
 * that a reload, a visit tomorrow or another page of the same site reads their keys and values
 * instead of computing them again.
 *
 * An entry is two files in a FileDirectory (the origin's private file system in browsers):
 *
 *   <id>.kv     the target's rows, then the draft's, as the KV caches hold them (f32 or f16:
 *               `readPrefix`), so a restore is bit for bit the computed prefix
 *   <id>.json   its record: the model key, the token ids, the sizes and SHA-256 of the rows,
 *               when it was stored and last used, and the start of its text for listing
 *
 * The record is written after the rows, so a record marks a whole entry; files without their
 * partner are interrupted writes, dropped when the store is first read. Every restore checks
 * the rows' size and hash: a damaged entry is dropped with a warning (StoredPrefixDamagedError)
 * and never used. Entries are keyed by the model (`modelKey`: the weights' fingerprints, KV
 * format, kernel profile and adapter, since batch invariance holds per device and profile), so
 * a changed model never meets a stale entry. A byte budget over every model's entries evicts
 * the least recently used first.
 */

import { StoredPrefixDamagedError, type TandemError } from '../errors';
import type { FileDirectory } from './file-directory';
import { commonPrefix } from './prefix-cache';

/** The name of the store's directory in the origin's private file system. */
export const PREFIX_DIRECTORY = 'tandem-prefixes';
/** Disk the store may use unless told otherwise. */
export const DEFAULT_STORE_BUDGET_BYTES = 512 * 2 ** 20;

export interface StoredPrefix {
  id: string;
  /** The model pair it belongs to (`modelKey`). */
  model: string;
  /** The pair's name, for listing. */
  modelName: string;
  tokens: number[];
  /** Bytes of the target's rows, then of the draft's (0 without a draft model). */
  targetBytes: number;
  draftBytes: number;
  /** SHA-256 of the .kv file, hex. */
  sha256: string;
  /** ISO time it was stored. */
  stored: string;
  /** When a request last read it (ms since the epoch): eviction takes the oldest first. */
  lastUsed: number;
  /** The start of the prefix's text, for listing. */
  preview: string;
}

export interface PrefixRows {
  target: Uint8Array<ArrayBuffer>;
  draft?: Uint8Array<ArrayBuffer>;
}

export interface PrefixStoreOptions {
  model: string;
  modelName: string;
  budgetBytes?: number;
  /** Hears of a damaged entry (dropped) or a write the browser refused (nothing lost but the entry). */
  onWarning?: (warning: TandemError | Error) => void;
}

/** The key of a model pair's entries: a SHA-256 over everything the rows' bits depend on. */
export async function modelKey(identity: unknown): Promise<string> {
  return sha256Hex(new TextEncoder().encode(JSON.stringify(identity)));
}

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

let lastStamp = 0;
/** Now in ms since the epoch, later than any stamp given before: uses in one millisecond keep their order. */
function stamp(): number {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return lastStamp;
}

/**
 * Whether an entry serves a prompt starting with `tokens`: they start it, and make at least half
 * of it (an entry is read whole, so most of what is read should be used).
 */
export function covers(record: StoredPrefix, tokens: readonly number[]): boolean {
  return (
    tokens.length > 0 &&
    2 * tokens.length >= record.tokens.length &&
    commonPrefix(record.tokens, tokens) === tokens.length
  );
}

export const entryBytes = (record: StoredPrefix) => record.targetBytes + record.draftBytes;

/**
 * Every entry the directory holds (of any model), dropping the halves of interrupted writes
 * unless `tidy` is false (a page listing them while its engine may be writing one).
 */
export async function listStoredPrefixes(directory: FileDirectory, tidy = true): Promise<StoredPrefix[]> {
  const names = new Set(await directory.names());
  const records: StoredPrefix[] = [];
  for (const name of names) {
    const id = name.endsWith('.json') ? name.slice(0, -5) : undefined;
    const record = id && names.has(`${id}.kv`) ? await readRecord(directory, name) : undefined;
    if (record && record.id === id) {
      records.push(record);
      continue;
    }
    // A record without rows, rows without a record, a partial write, a record that does not parse.
    if (!tidy) continue;
    if (!name.endsWith('.kv') || !names.has(`${name.slice(0, -3)}.json`)) await directory.remove(name);
    else if (id) await directory.remove(`${id}.kv`);
  }
  return records;
}

export async function deleteStoredPrefix(directory: FileDirectory, id: string): Promise<void> {
  await directory.remove(`${id}.json`); // the record first: rows alone are never read
  await directory.remove(`${id}.kv`);
}

async function readRecord(directory: FileDirectory, name: string): Promise<StoredPrefix | undefined> {
  const bytes = await directory.read(name);
  if (!bytes) return undefined;
  try {
    const record = JSON.parse(new TextDecoder().decode(bytes)) as StoredPrefix;
    return Array.isArray(record.tokens) && typeof record.sha256 === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** One model pair's view of the store: find, restore and save its prefixes. */
export class PrefixStore {
  private index: Promise<StoredPrefix[]> | undefined;
  /** Writes run one after another, off the requests' path. */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    readonly directory: FileDirectory,
    private readonly options: PrefixStoreOptions,
  ) {}

  get budgetBytes(): number {
    return this.options.budgetBytes ?? DEFAULT_STORE_BUDGET_BYTES;
  }

  /** This model's entries (read from the directory once, then kept up to date). */
  private records(): Promise<StoredPrefix[]> {
    this.index ??= listStoredPrefixes(this.directory)
      .then((all) => all.filter((r) => r.model === this.options.model))
      .catch((error: Error) => {
        this.options.onWarning?.(error);
        return [];
      });
    return this.index;
  }

  /**
   * The entry sharing the longest prefix with `prompt` (at most `capacity` tokens long), and how
   * many tokens it shares; only entries mostly used that way count (`covers`), and among equals
   * the shortest, which is the least to read.
   */
  async longest(
    prompt: readonly number[],
    capacity: number,
  ): Promise<{ record: StoredPrefix; shared: number } | undefined> {
    let best: { record: StoredPrefix; shared: number } | undefined;
    for (const record of await this.records()) {
      const shared = commonPrefix(record.tokens, prompt);
      if (record.tokens.length > capacity || !covers(record, prompt.slice(0, shared))) continue;
      if (
        !best ||
        shared > best.shared ||
        (shared === best.shared && record.tokens.length < best.record.tokens.length)
      ) {
        best = { record, shared };
      }
    }
    return best;
  }

  /** The entry's rows, checked; undefined (the entry dropped) when they are missing or damaged. */
  async load(record: StoredPrefix): Promise<PrefixRows | undefined> {
    const bytes = await this.directory.read(`${record.id}.kv`).catch(() => undefined);
    const damaged = !bytes
      ? undefined
      : bytes.byteLength !== entryBytes(record)
        ? `${bytes.byteLength} bytes where its record says ${entryBytes(record)}`
        : (await sha256Hex(bytes)) !== record.sha256
          ? 'its SHA-256 differs from its record'
          : undefined;
    if (!bytes || damaged) {
      if (damaged) await this.discard(record, damaged);
      else await this.drop(record);
      return undefined;
    }
    record.lastUsed = stamp();
    void this.queue(() => this.writeRecord(record));
    const target = bytes.slice(0, record.targetBytes);
    return { target, ...(record.draftBytes > 0 ? { draft: bytes.slice(record.targetBytes) } : {}) };
  }

  /** Drops a damaged entry, with a warning that says why. */
  async discard(record: StoredPrefix, why: string): Promise<void> {
    this.options.onWarning?.(
      new StoredPrefixDamagedError(
        `A stored prefix of ${record.tokens.length} tokens was damaged (${why}); it was deleted and the prefix ` +
          'is computed again.',
      ),
    );
    await this.drop(record);
  }

  /** Whether `tokens` are already stored, as an entry or as most of a longer one (`covers`). */
  async holds(tokens: readonly number[]): Promise<boolean> {
    return (await this.records()).some((r) => covers(r, tokens));
  }

  /**
   * Stores `tokens` with their rows (a promise: the rows may still be on their way back from the
   * GPU), queued behind earlier writes; entries it makes redundant (those it `covers`: the turns
   * before it of one conversation, not a short system prompt at its start) are dropped, and then
   * the least recently used until the store fits its budget. Failures are
   * warnings: the store is an optimisation, never a condition.
   */
  save(tokens: readonly number[], rows: Promise<PrefixRows>, preview: string): Promise<StoredPrefix | undefined> {
    return this.queue(async () => {
      try {
        const { target, draft } = await rows;
        if (await this.holds(tokens)) return undefined;
        const data = new Uint8Array(target.byteLength + (draft?.byteLength ?? 0));
        data.set(target);
        if (draft) data.set(draft, target.byteLength);
        if (data.byteLength > this.budgetBytes) return undefined;
        const sha256 = await sha256Hex(data);
        const record: StoredPrefix = {
          id: (await sha256Hex(new TextEncoder().encode(`${this.options.model}:${tokens.join(',')}`))).slice(0, 32),
          model: this.options.model,
          modelName: this.options.modelName,
          tokens: [...tokens],
          targetBytes: target.byteLength,
          draftBytes: draft?.byteLength ?? 0,
          sha256,
          stored: new Date().toISOString(),
          lastUsed: stamp(),
          preview: preview.slice(0, 200),
        };
        await this.directory.write(`${record.id}.kv`, data);
        await this.writeRecord(record);
        const records = await this.records();
        for (const shorter of records.filter((r) => covers(record, r.tokens))) await this.drop(shorter);
        records.push(record);
        await this.evict(record);
        return record;
      } catch (error) {
        this.options.onWarning?.(error as Error);
        return undefined;
      }
    });
  }

  /** Resolves once every queued write is done (tests, and a page about to close). */
  flush(): Promise<void> {
    return this.queue(async () => undefined);
  }

  /** Drops the least recently used entries (of any model) until the store fits its budget; `keep` stays. */
  private async evict(keep: StoredPrefix): Promise<void> {
    const all = await listStoredPrefixes(this.directory);
    let total = all.reduce((sum, r) => sum + entryBytes(r), 0);
    for (const record of all.sort((a, b) => a.lastUsed - b.lastUsed)) {
      if (total <= this.budgetBytes) break;
      if (record.id === keep.id) continue;
      await this.drop(record);
      total -= entryBytes(record);
    }
  }

  private async drop(record: StoredPrefix): Promise<void> {
    const records = await this.records();
    const at = records.findIndex((r) => r.id === record.id);
    if (at >= 0) records.splice(at, 1);
    await deleteStoredPrefix(this.directory, record.id).catch(() => undefined);
  }

  private writeRecord(record: StoredPrefix): Promise<void> {
    return this.directory.write(`${record.id}.json`, new TextEncoder().encode(JSON.stringify(record)));
  }

  private queue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writes.then(work, work);
    this.writes = run.catch(() => undefined);
    return run;
  }
}
