/**
 * A sequence's logit rules on the GPU (sampling/logit-rules.ts has their definition,
 * kernels/logit_rules.wgsl applies them): the rules uniform, the bias of every token, and the
 * count of every token generated so far (from `countFrom` up to the sequence's length). The
 * counts follow the sequence: tokens appended by a pass are added once the pass is submitted,
 * tokens cut by a truncate are taken away, each change a 4-byte write queued before the next
 * pass. The buffers are made the first time a sequence is given rules, never in the decode loop.
 */

import { createStorage, createUniform } from '../gpu/buffers';
import { type LogitRulesKernel, writeLogitRules } from '../kernels/ops';
import type { LogitRules } from '../sampling/logit-rules';

export class SequenceRules {
  private readonly params: GPUBuffer;
  private readonly counts: GPUBuffer; // (vocab) u32
  private readonly bias: GPUBuffer; // (vocab) f32
  private readonly mirror: Uint32Array<ArrayBuffer>; // the counts, as the GPU holds them
  private readonly one = new Uint32Array(1);
  countFrom = 0;
  active = false;
  bind: GPUBindGroup | undefined;

  constructor(
    private readonly device: GPUDevice,
    private readonly vocabSize: number,
  ) {
    this.params = createUniform(device, 32, 'logit rules');
    this.counts = createStorage(device, vocabSize * 4, 'generated token counts');
    this.bias = createStorage(device, vocabSize * 4, 'logit bias');
    this.mirror = new Uint32Array(vocabSize);
  }

  /** Takes `rules` from `countFrom` on; `tokens` are the sequence's first `length` tokens. */
  set(rules: LogitRules, countFrom: number, tokens: Uint32Array, length: number): void {
    this.countFrom = countFrom;
    this.active = true;
    this.mirror.fill(0);
    for (let p = countFrom; p < length; p++) this.mirror[tokens[p]]++;
    this.device.queue.writeBuffer(this.counts, 0, this.mirror);
    const bias = new Float32Array(this.vocabSize);
    for (const [token, value] of rules.logitBias) if (token < this.vocabSize) bias[token] = value;
    this.device.queue.writeBuffer(this.bias, 0, bias);
    writeLogitRules(this.device, this.params, rules, countFrom);
  }

  /** The bind group of `kernel` over this sequence's buffers and the model's. */
  bindTo(kernel: LogitRulesKernel, model: { head: GPUBuffer; step: GPUBuffer; tokens: GPUBuffer; logits: GPUBuffer }) {
    this.bind ??= kernel.bind({ ...model, rules: this.params, counts: this.counts, bias: this.bias });
    return this.bind;
  }

  /** Counts the tokens at positions [from, to) of `tokens` (+1), or takes them back (-1). */
  change(tokens: Uint32Array, from: number, to: number, by: 1 | -1): void {
    for (let p = Math.max(from, this.countFrom); p < to; p++) {
      const token = tokens[p];
      this.mirror[token] += by;
      this.one[0] = this.mirror[token];
      this.device.queue.writeBuffer(this.counts, token * 4, this.one);
    }
  }

  destroy(): void {
    for (const buffer of [this.params, this.counts, this.bias]) buffer.destroy();
  }
}
