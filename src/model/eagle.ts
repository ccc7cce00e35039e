/**
 * A target model with its EAGLE draft head (loader/eagle.ts), as one CausalLM: generation, the
 * prefix cache and the prefix store see a target whose sequences carry the head's state too.
 *
 * The target exports features: every pass writes, for each position it computes, d values beside
 * its KV cache: the inputs of the head's three layers projected by the head's fc (EAGLE-3), or
 * its last state after its final norm (EAGLE-1). The head's
 * pair at position t is (features of t, token at t + 1), so it can run a position only once the
 * token after it is known: its cache lags the target's by at least one position, and it catches
 * up when it drafts (speculative/eagle-draft.ts). A truncation cuts both; since the features of
 * every position stay with the target's sequence, the head can always catch up from them.
 *
 * A prefix read and written (the prefix store) holds the target's KV rows and features; the
 * head's own cache, one layer computed from them, is recomputed when it next drafts.
 * `referenceEagle` builds the pair on the reference model; model/pair.ts builds it on the GPU.
 */

import type { ModelConfig } from '../loader/config';
import type { EagleHead } from '../loader/eagle';
import type { ModelWeights } from '../loader/weights';
import { type FeatureExport, type HiddenInput, ReferenceModel, type ReferenceSequence } from '../ref/model';
import type { SamplingParams } from '../sampling/sampling';
import type { CausalLM, Rows, Sequence } from './types';

/** A model that runs an EAGLE head: passes whose tokens come with hidden inputs. */
export interface HeadModel<H extends Sequence, S extends Sequence> extends CausalLM<H> {
  /** The last row's logits over the draft vocabulary (read back). */
  forwardHidden(sequence: H, tokens: ArrayLike<number>, hidden: HiddenInput<S>): Promise<Float32Array>;
  /** The last row's argmax, a draft id (only the id is read back). */
  greedyHidden(sequence: H, tokens: ArrayLike<number>, hidden: HiddenInput<S>): Promise<number>;
}

export class EagleSequence<S extends Sequence, H extends Sequence> implements Sequence {
  constructor(
    readonly target: S,
    readonly head: H,
  ) {}

  get length(): number {
    return this.target.length;
  }

  get capacity(): number {
    return this.target.capacity;
  }

  /** How far back the target can be cut (a model with Gated DeltaNet layers keeps a window of states). */
  restorable(length: number): number {
    return this.target.restorable?.(length) ?? length;
  }

  truncate(length: number): void {
    this.target.truncate(length);
    // The head's pair at t needs the token at t + 1: it holds at most length - 1 pairs.
    if (this.head.length > Math.max(0, length - 1)) this.head.truncate(Math.max(0, length - 1));
  }

  /** The target's logits follow the request's rules; the head's drafts are only proposals. */
  setLogitRules(...args: Parameters<Sequence['setLogitRules']>): void {
    this.target.setLogitRules(...args);
  }

  /** The target's rows are the ones a grammar masks (a head's drafts are masked through d2t on the CPU). */
  maskNextPass(masks: Uint32Array<ArrayBuffer>): void {
    this.target.maskNextPass(masks);
  }

  /** Frees both caches. */
  release(): void {
    for (const s of [this.target, this.head]) (s as Sequence & { release?: () => void }).release?.();
  }
}

export class EagleTarget<S extends Sequence, H extends Sequence> implements CausalLM<EagleSequence<S, H>> {
  constructor(
    /** The target, built to export the head's features. */
    readonly target: CausalLM<S>,
    readonly head: HeadModel<H, S>,
    /** The target id of each draft id. */
    readonly draftToTarget: Uint32Array,
  ) {
    if (!target.featureWidth) throw new Error('an EAGLE head needs a target built to export its features');
  }

  get config() {
    return this.target.config;
  }

  get kvFormat() {
    return this.target.kvFormat;
  }

  get featureWidth() {
    return this.target.featureWidth;
  }

  get maxBatch() {
    return this.target.maxBatch;
  }

  get maxCutBack() {
    return this.target.maxCutBack;
  }

  get stateBytes() {
    return this.target.stateBytes;
  }

  createSequence(capacity: number): EagleSequence<S, H> {
    return new EagleSequence(this.target.createSequence(capacity), this.head.createSequence(capacity));
  }

  onMemoryShortage(reclaim: (first: boolean) => boolean) {
    this.target.onMemoryShortage?.(reclaim);
    this.head.onMemoryShortage?.(reclaim);
  }

  forward(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>) {
    return this.target.forward(sequence.target, tokens);
  }

  forwardLast(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>) {
    return this.target.forwardLast(sequence.target, tokens);
  }

  greedy(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>, rows?: Rows) {
    return this.target.greedy(sequence.target, tokens, rows);
  }

  sample(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    return this.target.sample(sequence.target, tokens, sampling, seed);
  }

  greedyWithLogits(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>, rows?: Rows) {
    return this.target.greedyWithLogits(sequence.target, tokens, rows);
  }

  sampleWithLogits(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    return this.target.sampleWithLogits(sequence.target, tokens, sampling, seed);
  }

  greedyTree(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>, chain: number, depths?: number) {
    if (!this.target.greedyTree) throw new Error('this target has no tree verify pass');
    return this.target.greedyTree(sequence.target, tokens, chain, depths);
  }

  forwardTree(sequence: EagleSequence<S, H>, tokens: ArrayLike<number>, chain: number, depths?: number) {
    if (!this.target.forwardTree) throw new Error('this target has no tree verify pass');
    return this.target.forwardTree(sequence.target, tokens, chain, depths);
  }

  moveSlot(sequence: EagleSequence<S, H>, from: number, to: number): void {
    this.target.moveSlot?.(sequence.target, from, to);
  }

  async copyPrefix(from: EagleSequence<S, H>, to: EagleSequence<S, H>, length: number): Promise<void> {
    await this.target.copyPrefix(from.target, to.target, length);
    await this.head.copyPrefix(from.head, to.head, Math.min(from.head.length, Math.max(0, length - 1)));
  }

  readPrefix(sequence: EagleSequence<S, H>, length: number) {
    return this.target.readPrefix(sequence.target, length);
  }

  async writePrefix(
    sequence: EagleSequence<S, H>,
    tokens: ArrayLike<number>,
    rows: Uint8Array<ArrayBuffer>,
  ): Promise<void> {
    sequence.head.truncate(0); // recomputed from the features when the head next drafts
    await this.target.writePrefix(sequence.target, tokens, rows);
  }
}

/**
 * What a target exports for `head`: EAGLE-3, the inputs of its layers projected by the head's
 * fc; EAGLE-1 and an MTP layer, its last state after its final norm (the head applies its fc itself).
 */
export function featureExport(head: EagleHead): FeatureExport {
  if (head.layout !== 'eagle3') return { normedOutput: true };
  const fc = head.weights.get('fc.weight');
  if (!fc) throw new Error("the head's fc is missing");
  return { layers: head.layerIds, fc };
}

/** A target and its EAGLE head on the reference model: the target built to export the head's features. */
export function referenceEagle(
  target: { config: ModelConfig; weights: ModelWeights },
  head: EagleHead,
): EagleTarget<ReferenceSequence, ReferenceSequence> {
  const model = new ReferenceModel(target.config, target.weights, { features: featureExport(head) });
  return new EagleTarget(model, new ReferenceModel(head.config, head.weights), head.draftToTarget);
}

/** Whether `model` is a target with an EAGLE head. */
export function isEagleTarget<S extends Sequence>(
  model: CausalLM<S>,
): model is CausalLM<S> & EagleTarget<Sequence, Sequence> {
  return model instanceof EagleTarget;
}
