/**
 * A GPU model's sequences and the memory they hold. A sequence's KV cache (and a target's EAGLE
 * features, beside it at the same positions) lives in buffers that start small and grow as
 * passes need more: new buffers twice as large, the positions held copied over on the queue,
 * so a short conversation holds little memory whatever its capacity.
 *
 * WebGPU has no memory query; `SequenceMemory.makeRoom` is where the device says how much it
 * has. It makes the buffers inside an error scope and, where the device refuses them, asks
 * whoever holds memory it can give up (the prefix cache's idle entries) to free some, and
 * fails with GPUOutOfMemoryError only when nothing is left, the sequence as it was.
 *
 * Prefixes move between sequences as the prefix cache and the prefix store need: copied on the
 * GPU (`copyPrefix`), read out laid out as `readPrefix` in model/types.ts says, and written back.
 *
 * A Gated DeltaNet layer (Qwen3.5) keeps no keys and values: its sequence holds two rings of fixed
 * size instead (kernels/gated-delta.ts), its last q|k|v rows and its states after its last
 * `window` positions. Such a sequence can be cut back to any length from `length - window + 1`
 * (to 0 always); `restorable` says how far. A prefix read out keeps of them what its end needs
 * (`readPrefix`), and one written back can be cut back no further than its length.
 */

import { GPUDeviceLostError, GPUOutOfMemoryError, GPUValidationError } from '../errors';
import { createStorage } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import type { RingLayout } from '../kernels/gated-delta';
import { hasRules, type LogitRules } from '../sampling/logit-rules';
import { mib } from '../util/bytes';
import type { RecurrentRings, SequenceBinds } from './gpu-layer';
import { SequenceRules } from './gpu-logit-rules';
import type { GpuModel } from './gpu-model';
import type { Sequence } from './types';

/** Positions a new sequence's buffers hold at first; they double as it fills, up to its capacity. */
export const SEQUENCE_START_TOKENS = 512;

/** A sequence's buffers for `positions` positions: its KV cache, the bind groups that read it, EAGLE features. */
export interface SequenceStorage {
  positions: number;
  kCache: GPUBuffer[]; // per layer: (positions, nkv, hd)
  vCache: GPUBuffer[];
  /** Per layer: the bind groups that read and write this KV cache. */
  binds: SequenceBinds[];
  /** A target's EAGLE features at each position, (positions, d) f32. */
  features?: GPUBuffer;
  /** Per Gated DeltaNet layer (else undefined): its rings, whatever the positions. */
  rings?: (RecurrentRings | undefined)[];
}

export class GpuSequence implements Sequence {
  length = 0;
  /** The token at each position (the logit rules count them). */
  readonly tokens: Uint32Array;
  /** The request's logit rules, once a request has set some (gpu-logit-rules.ts). */
  rules: SequenceRules | undefined;

  /** A target's EAGLE features, (allocated, d) f32; an EAGLE head's last hidden state, (d) f32. */
  extra: { readonly features?: GPUBuffer; readonly hidden?: GPUBuffer };

  constructor(
    readonly capacity: number,
    readonly model: GpuModel,
    /** Its buffers now: `replaceStorage` (SequenceMemory.reserve) changes them as it grows. */
    public storage: SequenceStorage,
    /** An EAGLE head's last hidden state, (d) f32. */
    private readonly hidden?: GPUBuffer,
  ) {
    this.tokens = new Uint32Array(capacity);
    this.extra = { features: storage.features, hidden };
  }

  /** Positions its buffers hold now (SequenceMemory.reserve grows them). */
  get allocated(): number {
    return this.storage.positions;
  }
  get kCache(): GPUBuffer[] {
    return this.storage.kCache;
  }
  get vCache(): GPUBuffer[] {
    return this.storage.vCache;
  }
  get binds(): SequenceBinds[] {
    return this.storage.binds;
  }
  /** Takes `storage` for its buffers (SequenceMemory.reserve, which copied what they held), freeing the old ones. */
  replaceStorage(storage: SequenceStorage): void {
    const old = this.storage;
    this.storage = storage;
    this.extra = { features: storage.features, hidden: this.hidden };
    for (const buffer of storageBuffers(old)) buffer.destroy();
  }

  setLogitRules(rules: LogitRules | undefined, countFrom: number): void {
    if (!hasRules(rules)) {
      if (this.rules) this.rules.active = false;
      return;
    }
    this.rules ??= new SequenceRules(this.model.gpu.device, this.model.config.vocabSize);
    this.rules.set(rules, countFrom, this.tokens, this.length);
  }

  /** Masks for the rows of the next pass (`maskNextPass`), which takes them (`takeMasks`). */
  private masks: Uint32Array<ArrayBuffer> | undefined;

  maskNextPass(masks: Uint32Array<ArrayBuffer>): void {
    this.masks = masks;
  }

  /** The masks for this pass, if any: taken, so that no later pass applies them. */
  takeMasks(): Uint32Array<ArrayBuffer> | undefined {
    const { masks } = this;
    this.masks = undefined;
    return masks;
  }

  /** GPU memory its buffers take now: keys and values, every layer, `allocated` positions (and features). */
  get bytes(): number {
    return this.buffers.reduce((sum, buffer) => sum + buffer.size, 0);
  }

  private get buffers(): GPUBuffer[] {
    return [...storageBuffers(this.storage), ...(this.hidden ? [this.hidden] : [])];
  }

  /**
   * The shortest length above 0 it can be cut back to: its Gated DeltaNet layers keep their
   * states after its last `window` positions only (1 without such layers: any length).
   */
  restorableFrom = 1;

  /** The longest length up to `length` that it can be cut back to (`truncate`): `length`, or 0 if its states are gone. */
  restorable(length: number): number {
    return length >= this.restorableFrom ? length : 0;
  }

  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`truncate(${length}) on a sequence of ${this.length}`);
    if (this.restorable(length) !== length) {
      throw new RangeError(
        `truncate(${length}) on a sequence of ${this.length}: its Gated DeltaNet states are kept from length ${this.restorableFrom}`,
      );
    }
    if (this.rules?.active) this.rules.change(this.tokens, length, this.length, -1);
    this.length = length;
    if (length === 0) this.restorableFrom = 1; // what its passes write from now on is all it holds
  }

  /** Counts `n` positions appended by a pass; the states of positions before its last `window` are then gone. */
  appended(n: number): void {
    this.length += n;
    const { recurrentWindow } = this.model;
    if (recurrentWindow > 0) this.restorableFrom = Math.max(this.restorableFrom, this.length - recurrentWindow + 1);
  }

  /** Frees the KV cache. */
  release(): void {
    for (const buffer of this.buffers) buffer.destroy();
    this.rules?.destroy();
  }
}

export function storageBuffers({ kCache, vCache, features, rings }: SequenceStorage): GPUBuffer[] {
  const ringBuffers = (rings ?? []).flatMap((r) => (r ? [r.conv, r.states] : []));
  return [...kCache, ...vCache, ...(features ? [features] : []), ...ringBuffers];
}

/** What a model's sequences hold, a position at a time. */
export interface SequenceLayout {
  numLayers: number;
  /** Bytes a position takes in one layer's keys (or values). */
  kvRowBytes: number;
  /** f32 values a position's exported features take (an EAGLE head's width); 0: none. */
  featureWidth: number;
  /** The bind groups with which layer `l` reads and writes these keys and values (or its rings). */
  bind: (layer: number, kCache: GPUBuffer, vCache: GPUBuffer, rings?: RecurrentRings) => SequenceBinds;
  /** A Gated DeltaNet layer's rings, for the layers that are one (else undefined). */
  rings?: (RingLayout | undefined)[];
}

/** The memory of one model's sequences: made, grown, copied, read out and written back. */
export class SequenceMemory {
  /** Who frees memory when a sequence cannot grow (`onMemoryShortage`). */
  private readonly reclaimers: ((first: boolean) => boolean)[] = [];

  constructor(
    private readonly gpu: Gpu,
    private readonly layout: SequenceLayout,
  ) {}

  /** Buffers for `positions` positions and their bind groups. */
  storage(positions: number): SequenceStorage {
    const { device } = this.gpu;
    const { numLayers, kvRowBytes, featureWidth, bind } = this.layout;
    // An out-of-memory here is reported by the device's uncaptured-error handler, and the
    // next forward pass on this sequence raises it as GPUOutOfMemoryError. A Gated DeltaNet
    // layer's keys and values are a placeholder: nothing reads them.
    const kvBytes = (l: number) => (this.layout.rings?.[l] ? 16 : positions * kvRowBytes);
    const kCache = Array.from({ length: numLayers }, (_, l) => createStorage(device, kvBytes(l), `k cache ${l}`));
    const vCache = Array.from({ length: numLayers }, (_, l) => createStorage(device, kvBytes(l), `v cache ${l}`));
    const rings = this.layout.rings?.map(
      (bytes, l) =>
        bytes && {
          conv: createStorage(device, bytes.conv, `conv ring ${l}`),
          states: createStorage(device, bytes.states, `state ring ${l}`),
        },
    );
    const binds = kCache.map((k, l) => bind(l, k, vCache[l], rings?.[l]));
    const features = featureWidth > 0 ? createStorage(device, positions * featureWidth * 4, 'features') : undefined;
    return { positions, kCache, vCache, binds, features, ...(rings && { rings }) };
  }

  /**
   * Makes room for `length` positions in `sequence`: where its buffers hold fewer, new ones
   * twice as large (or `length`, up to its capacity) take their place, the positions it holds
   * copied over on the queue, before any pass that follows. Growing by doubling keeps the
   * copies to a small multiple of the final size, and allocations out of most steps.
   *
   * An out-of-memory here is the device's (uncaptured: the model must be reloaded); the passes
   * grow their sequences with `makeRoom` first, which recovers from one.
   */
  reserve(sequence: GpuSequence, length: number): void {
    if (length <= sequence.allocated) return;
    this.checkRoom(sequence, length);
    this.grow(sequence, this.storage(this.grownSize(sequence, length)));
  }

  /**
   * As `reserve`, where the GPU may refuse the memory: the buffers are made inside an error
   * scope, and when the device has no room for twice the positions, the sequence grows to
   * `length` alone; failing that, those who hold memory they can give up (the prefix cache's
   * idle entries: `onMemoryShortage`) free some, one at a time, and it tries again. When nothing
   * is left to free it throws GPUOutOfMemoryError, the sequence as it was (its tokens, its
   * buffers) and the device unharmed: the request fails, the conversation and the model stay.
   * WebGPU says nothing of a device's memory; this is where the device says how much it has.
   */
  async makeRoom(sequence: GpuSequence, length: number): Promise<void> {
    if (length <= sequence.allocated) return;
    this.checkRoom(sequence, length);
    const doubled = this.grownSize(sequence, length);
    let storage = await this.tryStorage(doubled);
    if (!storage && doubled > length) storage = await this.tryStorage(length);
    for (let first = true; !storage && this.reclaimers.some((reclaim) => reclaim(first)); first = false) {
      storage = await this.tryStorage(length);
    }
    if (!storage) {
      const more = (length - sequence.allocated) * this.positionBytes;
      throw new GPUOutOfMemoryError(
        `The GPU has no memory for ${length} positions of this conversation (${mib(more)} more than the ` +
          `${sequence.allocated} it holds). Start a new conversation or shorten the prompt; a smaller model, ` +
          'or a KV cache in f16, takes less.',
      );
    }
    this.grow(sequence, storage);
  }

  /**
   * Has `reclaim` called when a sequence cannot grow (`makeRoom`), until the sequence fits or
   * none frees anything: it frees what GPU memory it can give up and says whether it freed any.
   * `first`: the first call for this shortage.
   */
  onMemoryShortage(reclaim: (first: boolean) => boolean): void {
    this.reclaimers.push(reclaim);
  }

  private checkRoom(sequence: GpuSequence, length: number): void {
    if (length > sequence.capacity) {
      throw new RangeError(`${length} positions exceed the sequence's capacity of ${sequence.capacity}`);
    }
  }

  /** Positions a sequence that needs `length` grows to: twice what it holds, at least `length`, at most its capacity. */
  private grownSize(sequence: GpuSequence, length: number): number {
    return Math.min(sequence.capacity, Math.max(length, 2 * sequence.allocated));
  }

  private grow(sequence: GpuSequence, next: SequenceStorage): void {
    this.copyPositions(sequence.storage, next, sequence.length);
    sequence.replaceStorage(next);
  }

  /**
   * Buffers for `positions` positions, or undefined where the device is out of memory. Bind
   * groups over a buffer the device refused are invalid too: their validation errors are
   * the out-of-memory's, not a bug.
   */
  private async tryStorage(positions: number): Promise<SequenceStorage | undefined> {
    const { device } = this.gpu;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const storage = this.storage(positions);
    const [invalid, outOfMemory] = [await device.popErrorScope(), await device.popErrorScope()];
    if (outOfMemory) {
      for (const buffer of storageBuffers(storage)) buffer.destroy();
      return undefined;
    }
    if (invalid) throw new GPUValidationError(`WebGPU reported an error: ${invalid.message}`);
    return storage;
  }

  /** Bytes a position takes in every layer's keys and values, and in the exported features. */
  private get positionBytes(): number {
    const { numLayers, kvRowBytes, featureWidth } = this.layout;
    const kvLayers = numLayers - (this.layout.rings?.filter(Boolean).length ?? 0);
    return 2 * kvLayers * kvRowBytes + featureWidth * 4;
  }

  /**
   * Queues the copy of the first `length` positions of `from`'s buffers (KV cache and features)
   * into `to`'s, and of its rings whole (their slots go by position).
   */
  private copyPositions(from: SequenceStorage, to: SequenceStorage, length: number): void {
    if (length === 0) return;
    const { numLayers, kvRowBytes, featureWidth } = this.layout;
    const bytes = length * kvRowBytes;
    const encoder = this.gpu.device.createCommandEncoder();
    for (let l = 0; l < numLayers; l++) {
      const [source, target] = [from.rings?.[l], to.rings?.[l]];
      if (source && target) {
        encoder.copyBufferToBuffer(source.conv, 0, target.conv, 0, source.conv.size);
        encoder.copyBufferToBuffer(source.states, 0, target.states, 0, source.states.size);
        continue;
      }
      encoder.copyBufferToBuffer(from.kCache[l], 0, to.kCache[l], 0, bytes);
      encoder.copyBufferToBuffer(from.vCache[l], 0, to.vCache[l], 0, bytes);
    }
    if (from.features && to.features) {
      encoder.copyBufferToBuffer(from.features, 0, to.features, 0, length * featureWidth * 4);
    }
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /** Copies the first `length` positions of `from`'s KV cache into `to`, on the GPU queue. */
  async copyPrefix(from: GpuSequence, to: GpuSequence, length: number): Promise<void> {
    if (length > from.length || length > to.capacity) throw new RangeError(`copyPrefix(${length}) out of range`);
    if (from.restorable(length) !== length) {
      throw new RangeError(
        `copyPrefix(${length}): the source keeps its Gated DeltaNet states from ${from.restorableFrom}`,
      );
    }
    to.truncate(0); // all it held is overwritten: none of it is copied as its buffers grow
    await this.makeRoom(to, length);
    this.copyPositions(from.storage, to.storage, length);
    to.tokens.set(from.tokens.subarray(0, length));
    to.length = length;
    to.restorableFrom = Math.min(from.restorableFrom, Math.max(length, 1));
  }

  /**
   * Where each part of `length` positions lies in `readPrefix`'s layout: every attention layer's
   * keys then values, the features, then every Gated DeltaNet layer's end (rows, then state).
   */
  private prefixLayout(length: number) {
    const { numLayers, kvRowBytes, featureWidth, rings } = this.layout;
    const layerBytes = length * kvRowBytes;
    let at = 0;
    const attention: { layer: number; at: number }[] = [];
    for (let l = 0; l < numLayers; l++) {
      if (rings?.[l]) continue;
      attention.push({ layer: l, at });
      at += 2 * layerBytes;
    }
    const features = { at, bytes: length * featureWidth * 4 };
    at += features.bytes;
    const ends: { layer: number; ring: RingLayout; at: number }[] = [];
    for (let l = 0; l < numLayers && length > 0; l++) {
      const ring = rings?.[l];
      if (!ring) continue;
      ends.push({ layer: l, ring, at });
      at += ring.tail * ring.rowBytes + ring.stateBytes;
    }
    return { layerBytes, attention, features, ends, bytes: at };
  }

  /** The ring slots of a prefix's end: the rows of its last `tail` positions (none before 0), its last state. */
  private static endSlots(ring: RingLayout, length: number) {
    const rows = Array.from({ length: ring.tail }, (_, j) => length - ring.tail + j).map((position, j) => ({
      j,
      slot: position >= 0 ? position % ring.rows : -1,
    }));
    return { rows: rows.filter((r) => r.slot >= 0), state: (length - 1) % ring.window };
  }

  async readPrefix(sequence: GpuSequence, length: number): Promise<Uint8Array<ArrayBuffer>> {
    if (length > sequence.length) throw new RangeError(`readPrefix(${length}) on a sequence of ${sequence.length}`);
    if (sequence.restorable(length) !== length) {
      throw new RangeError(
        `readPrefix(${length}): the sequence keeps its Gated DeltaNet states from length ${sequence.restorableFrom}`,
      );
    }
    const { device } = this.gpu;
    const parts = this.prefixLayout(length);
    const { layerBytes } = parts;
    const out = new Uint8Array(parts.bytes);
    if (parts.bytes === 0) return out;
    // Staging buffers (an attention layer's keys and values, the features, a Gated DeltaNet
    // layer's end), each copied into `out` at its place: the copies are queued now, so later
    // passes cannot change what they read; the whole prefix may exceed one buffer's limit.
    // Staging starts as zeros: the rows of positions before 0 stay so.
    const encoder = device.createCommandEncoder();
    const staging: { buffer: GPUBuffer; at: number }[] = [];
    const staged = (size: number, at: number) => {
      const buffer = device.createBuffer({ size, usage: 0x0001 | 0x0008 }); // MAP_READ | COPY_DST
      staging.push({ buffer, at });
      return buffer;
    };
    for (const { layer, at } of layerBytes > 0 ? parts.attention : []) {
      const buffer = staged(2 * layerBytes, at);
      encoder.copyBufferToBuffer(sequence.kCache[layer], 0, buffer, 0, layerBytes);
      encoder.copyBufferToBuffer(sequence.vCache[layer], 0, buffer, layerBytes, layerBytes);
    }
    const { features } = sequence.extra;
    if (features && parts.features.bytes > 0) {
      encoder.copyBufferToBuffer(features, 0, staged(parts.features.bytes, parts.features.at), 0, parts.features.bytes);
    }
    for (const { layer, ring, at } of parts.ends) {
      const held = sequence.storage.rings?.[layer] as RecurrentRings;
      const buffer = staged(ring.tail * ring.rowBytes + ring.stateBytes, at);
      const slots = SequenceMemory.endSlots(ring, length);
      for (const { j, slot } of slots.rows) {
        encoder.copyBufferToBuffer(held.conv, slot * ring.rowBytes, buffer, j * ring.rowBytes, ring.rowBytes);
      }
      const stateAt = ring.tail * ring.rowBytes;
      encoder.copyBufferToBuffer(held.states, slots.state * ring.stateBytes, buffer, stateAt, ring.stateBytes);
    }
    device.queue.submit([encoder.finish()]);
    try {
      await Promise.all(
        staging.map(async ({ buffer, at }) => {
          await buffer.mapAsync(0x0001); // GPUMapMode.READ
          out.set(new Uint8Array(buffer.getMappedRange()), at);
        }),
      );
    } catch (cause) {
      this.gpu.assertHealthy();
      throw new GPUDeviceLostError(`The GPU was lost reading a KV cache (${String(cause)}). Reload the model.`, {
        cause,
      });
    } finally {
      for (const { buffer } of staging) buffer.destroy();
    }
    return out;
  }

  async writePrefix(sequence: GpuSequence, tokens: ArrayLike<number>, rows: Uint8Array<ArrayBuffer>): Promise<void> {
    const length = tokens.length;
    const parts = this.prefixLayout(length);
    const { layerBytes } = parts;
    if (length > sequence.capacity || rows.byteLength !== parts.bytes) {
      throw new RangeError(`writePrefix: ${rows.byteLength} bytes for ${length} positions`);
    }
    sequence.truncate(0); // nothing it held survives: none of it is copied as its buffers grow
    await this.makeRoom(sequence, length);
    const { queue } = this.gpu.device;
    for (const { layer, at } of layerBytes > 0 ? parts.attention : []) {
      queue.writeBuffer(sequence.kCache[layer], 0, rows, at, layerBytes);
      queue.writeBuffer(sequence.vCache[layer], 0, rows, at + layerBytes, layerBytes);
    }
    const { features } = sequence.extra;
    if (features && parts.features.bytes > 0) {
      queue.writeBuffer(features, 0, rows, parts.features.at, parts.features.bytes);
    }
    for (const { layer, ring, at } of parts.ends) {
      const held = sequence.storage.rings?.[layer] as RecurrentRings;
      const slots = SequenceMemory.endSlots(ring, length);
      for (const { j, slot } of slots.rows) {
        queue.writeBuffer(held.conv, slot * ring.rowBytes, rows, at + j * ring.rowBytes, ring.rowBytes);
      }
      queue.writeBuffer(
        held.states,
        slots.state * ring.stateBytes,
        rows,
        at + ring.tail * ring.rowBytes,
        ring.stateBytes,
      );
    }
    sequence.tokens.set(Array.from(tokens));
    sequence.length = length;
    // Rings hold the state after its last position only: it can be cut back to its length (or 0).
    if (parts.ends.length > 0) sequence.restorableFrom = length;
  }
}
