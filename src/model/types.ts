/**
 * The interface every model implements, the reference (CPU) one and the GPU one, so that
 * generation, speculative decoding and the prefix cache run on either.
 *
 * A model holds weights; a Sequence holds one stream's KV cache. The sequence's length is the
 * single truth about its state: it is the number of tokens whose keys and values are cached,
 * and so the position of the next token. `truncate(n)` is the only rollback: rejected draft
 * tokens and a reused prefix are both just a shorter length; nothing is copied or cleared.
 *
 * A sequence may carry a request's logit rules (bias and penalties, sampling/logit-rules.ts):
 * every row of logits it gives is then adjusted by them, counting the tokens from `countFrom`
 * (the first generated position) up to that row's own token.
 */

import { prefixEndBytes } from '../kernels/gated-delta';
import { type KvFormat, kvValueBytes } from '../kernels/kv-cache';
import { attentionLayerCount, type ModelConfig } from '../loader/config';
import type { LogitRules } from '../sampling/logit-rules';
import type { SamplingParams } from '../sampling/sampling';

export interface Sequence {
  readonly length: number;
  readonly capacity: number;
  /** Memory its cache takes now, where it grows as it fills (GPU sequences); else its capacity's worth. */
  readonly bytes?: number;
  truncate(length: number): void;
  /**
   * The longest length up to `length` that `truncate` can cut it back to: `length` where it
   * keeps every position's state (absent: so), else (Gated DeltaNet layers on the GPU keep their
   * last few) `length` or 0.
   */
  restorable?(length: number): number;
  /** Applies `rules` to the logits of this sequence's later passes (none: `undefined`); tokens count from `countFrom`. */
  setLogitRules(rules: LogitRules | undefined, countFrom: number): void;
  /**
   * Masks the rows of the next pass, and of that pass only, after the logit rules: row r keeps
   * the tokens its mask allows (`masks`: a mask a row, sampling/token-mask.ts), the others can
   * be neither chosen nor drawn, and rows read back hold -Infinity for them. A grammar's masks:
   * the GPU applies them where the logits are, so a constrained step reads back ids only.
   */
  maskNextPass(masks: Uint32Array<ArrayBuffer>): void;
}

/** Which tokens of a forward pass the output is wanted for: each of them, or the last one. */
export type Rows = 'all' | 'last';

/**
 * Every method runs `tokens` at positions sequence.length, sequence.length + 1, ..., and
 * appends their keys and values; they differ in what they return.
 */
export interface CausalLM<S extends Sequence = Sequence> {
  readonly config: ModelConfig;
  /** How its KV caches store keys and values (f32, or f16: half the memory). */
  readonly kvFormat: KvFormat;
  /**
   * Values a position's exported features take (an EAGLE head's width, float32), kept in the
   * sequence beside its KV cache and copied, read and written with it; 0 or absent: none.
   */
  readonly featureWidth?: number;
  /**
   * Positions a sequence can be cut back by from its length after a pass (`truncate`): a GPU
   * model with Gated DeltaNet layers keeps their last states only. Absent: any number.
   */
  readonly maxCutBack?: number;
  /** Bytes a sequence's recurrent states take whatever its length (a GPU model's Gated DeltaNet rings); absent: 0. */
  readonly stateBytes?: number;
  /** Tokens one pass of a tree takes at most (GPU models run longer inputs in chunks; a tree pass is one). */
  readonly maxBatch?: number;
  createSequence(capacity: number): S;
  /**
   * Has `reclaim` called when a sequence cannot grow for want of GPU memory, where a model's
   * sequences grow (GpuModel.makeRoom): it frees what it can give up and says whether it did
   * (`first`: the first call for this shortage).
   */
  onMemoryShortage?(reclaim: (first: boolean) => boolean): void;
  /** Logits for each token: (tokens.length, vocabSize). */
  forward(sequence: S, tokens: ArrayLike<number>): Promise<Float32Array>;
  /** Logits for the last token only: (vocabSize). */
  forwardLast(sequence: S, tokens: ArrayLike<number>): Promise<Float32Array>;
  /** The argmax after each token ('all') or after the last one ('last'). */
  greedy(sequence: S, tokens: ArrayLike<number>, rows?: Rows): Promise<Uint32Array>;
  /**
   * A token drawn from the last token's next-token distribution under `sampling` (temperature,
   * top-k, top-p), with randomness fixed by `seed` and the position: reproducible.
   */
  sample(sequence: S, tokens: ArrayLike<number>, sampling: SamplingParams, seed: number): Promise<number>;
  /** As `greedy`, with the logits of the rows the choices were made from (for log-probabilities). */
  greedyWithLogits(
    sequence: S,
    tokens: ArrayLike<number>,
    rows?: Rows,
  ): Promise<{ ids: Uint32Array; logits: Float32Array }>;
  /** As `sample`, with the logits of the row drawn from (for log-probabilities). */
  sampleWithLogits(
    sequence: S,
    tokens: ArrayLike<number>,
    sampling: SamplingParams,
    seed: number,
  ): Promise<{ id: number; logits: Float32Array }>;
  /**
   * A tree verify pass (speculative/tree.ts), where a model has one: the first `chain` tokens
   * are the newest token and its chain of drafts; after them leaves, rank by rank, each rank a
   * leaf beside each of the chain's first `depths` drafts (leaf j at depth j mod depths + 1; one
   * rank when `depths` is not given), at that draft's position, seeing what it sees. Every
   * token's keys and values go to the next slot. The argmax after each token.
   */
  greedyTree?(sequence: S, tokens: ArrayLike<number>, chain: number, depths?: number): Promise<Uint32Array>;
  /** As `greedyTree`, the logits of every row (sampling). */
  forwardTree?(sequence: S, tokens: ArrayLike<number>, chain: number, depths?: number): Promise<Float32Array>;
  /** Makes slot `to` hold slot `from`'s keys, values and features: an accepted leaf moved to its position. */
  moveSlot?(sequence: S, from: number, to: number): void;
  /**
   * Makes `to` hold the first `length` positions of `from` (a copy of their keys and values).
   * Where `to` must grow and the GPU has no memory for it, rejects with GPUOutOfMemoryError,
   * `to` emptied and the device unharmed.
   */
  copyPrefix(from: S, to: S, length: number): Promise<void>;
  /**
   * The keys and values of the first `length` positions as the cache holds them (f32 values, or
   * f16 bit patterns): layer by layer, its keys then its values, each (length, kvHeads, headDim);
   * then the exported features, (length, featureWidth) f32, if the model exports any; then each
   * Gated DeltaNet layer's end (its q|k|v rows of positions length - tail .. length - 1, zeros
   * before position 0, and its state after position length - 1, f32 as its rings hold them),
   * which needs the sequence to be restorable at `length`. What is read is fixed at the call:
   * passes run after it do not change it.
   */
  readPrefix(sequence: S, length: number): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * Makes `sequence` hold `tokens`, with the keys and values `rows` laid out as `readPrefix`
   * gives them; out of GPU memory, as `copyPrefix`.
   */
  writePrefix(sequence: S, tokens: ArrayLike<number>, rows: Uint8Array<ArrayBuffer>): Promise<void>;
}

/**
 * Bytes `readPrefix` gives for `length` positions of a model: its keys, values and features
 * (`prefixBytes`), then, for a prefix that is not empty, each Gated DeltaNet layer's end.
 */
export function storedPrefixBytes(model: Pick<CausalLM, 'config' | 'kvFormat' | 'featureWidth'>, length: number) {
  const shape = model.config.linearAttention;
  const linearLayers = model.config.numLayers - attentionLayerCount(model.config);
  return prefixBytes(model, length) + (shape && length > 0 ? linearLayers * prefixEndBytes(shape) : 0);
}

/** Bytes of the keys, values and features of `length` positions of a model (what a sequence's KV cache and features hold). */
export function prefixBytes(model: Pick<CausalLM, 'config' | 'kvFormat' | 'featureWidth'>, length: number): number {
  const { numKvHeads, headDim } = model.config;
  const features = length * (model.featureWidth ?? 0) * 4;
  const layers = attentionLayerCount(model.config); // Gated DeltaNet layers keep no keys and values
  return 2 * layers * length * numKvHeads * headDim * kvValueBytes(model.kvFormat) + features;
}
