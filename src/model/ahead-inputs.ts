/**
 * The inputs of passes recorded ahead (GpuModel.recordAhead), staged so that a speculative
 * step's passes, the draft's k and the target's verify, go to the GPU in one submission.
 *
 * A pass reads its step uniform (how many tokens, from which position), its head's, and its
 * tokens from the CPU. `queue.writeBuffer` into those buffers takes effect between
 * submissions, so passes submitted together would all read the values written last. Each
 * pass of a step therefore has a slot here, written when it is staged (one `writeBuffer`), and
 * its commands begin by copying the slot into the buffers the kernels read:
 *
 *   slot s at s * stride bytes:  step (4 u32) | head step (4 u32) | tokens from the CPU (the batch's u32s)
 */

import { MAX_DEVICE_DRAFTS } from './gpu-step-buffers';

/** The passes of one model a submission holds at most: a step's drafts. */
export const AHEAD_SLOTS = MAX_DEVICE_DRAFTS;

/** Where a pass's staged inputs go: the buffers its kernels read. */
export interface PassInputBuffers {
  step: GPUBuffer;
  headStep: GPUBuffer;
  tokens: GPUBuffer;
}

export class AheadInputs {
  readonly buffer: GPUBuffer;
  private readonly stride: number;
  private readonly words: Uint32Array<ArrayBuffer>;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBatch: number,
  ) {
    this.stride = 32 + 4 * maxBatch;
    this.buffer = device.createBuffer({
      label: 'inputs of passes recorded ahead',
      size: AHEAD_SLOTS * this.stride,
      usage: 0x04 | 0x08, // COPY_SRC | COPY_DST
    });
    this.words = new Uint32Array(8 + maxBatch);
  }

  /** Throws unless `slot` is one of the slots. */
  check(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= AHEAD_SLOTS) {
      throw new RangeError(`a pass recorded ahead takes a slot from 0 to ${AHEAD_SLOTS - 1}, not ${slot}`);
    }
  }

  /**
   * Records the copies that begin a pass staged in `slot`: its step uniform, its head's when it
   * has a head (`head`), and its `cpuTokens` tokens from the CPU, into `to`.
   */
  encodeCopies(encoder: GPUCommandEncoder, slot: number, to: PassInputBuffers, head: boolean, cpuTokens: number) {
    const at = slot * this.stride;
    encoder.copyBufferToBuffer(this.buffer, at, to.step, 0, 16);
    if (head) encoder.copyBufferToBuffer(this.buffer, at + 16, to.headStep, 0, 16);
    if (cpuTokens > 0) encoder.copyBufferToBuffer(this.buffer, at + 32, to.tokens, 0, cpuTokens * 4);
  }

  /**
   * Writes a pass's slot: its step uniform's four words (kernels/step.ts), its head's
   * (rows, start) and its tokens from the CPU.
   */
  write(slot: number, step: readonly number[], head: readonly [number, number], tokens: ArrayLike<number>): void {
    if (tokens.length > this.maxBatch) throw new RangeError(`${tokens.length} tokens for a batch of ${this.maxBatch}`);
    const { words } = this;
    words.fill(0, 0, 8);
    words.set(step, 0);
    words.set(head, 4);
    for (let i = 0; i < tokens.length; i++) words[8 + i] = tokens[i];
    this.device.queue.writeBuffer(this.buffer, slot * this.stride, words, 0, 8 + tokens.length);
  }
}
