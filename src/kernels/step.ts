/**
 * The step uniform: the values that change from one forward pass to the next (how many
 * tokens it covers, where they start in the sequence). Every kernel binds the same small
 * buffer at binding 0 and declares the same `Step` struct, so a forward pass writes it once
 * and encodes all its dispatches against it. Shapes are `override` constants, fixed at load.
 *
 *   struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }   (uniforms come in 16 bytes)
 *
 * `chain` is 0 but in a tree verify pass (speculative/tree.ts): there the step's first `chain`
 * tokens are a chain (the newest token and its drafts) and the rest are leaves beside it, rank
 * by rank: each rank one leaf at each of the first `depths` depths. A token's KV goes to slot
 * start + n whatever it is; its position (RoPE's angle, what it attends to) is `position_of(n)`,
 * which the kernels that need it take from TREE_POSITION_CODE.
 */

import { createUniform } from '../gpu/buffers';

export const STEP_BYTES = 16;

export class StepUniform {
  readonly buffer: GPUBuffer;
  private readonly values = new Uint32Array(4);

  constructor(private readonly device: GPUDevice) {
    this.buffer = createUniform(device, STEP_BYTES, 'step');
  }

  /**
   * `tokens` new tokens at positions start..start+tokens-1; in a tree pass, the first `chain`
   * are the chain and the rest leaves at its first `depths` depths, rank by rank.
   */
  write(tokens: number, start = 0, chain = 0, depths = 0): void {
    this.values[0] = tokens;
    this.values[1] = start;
    this.values[2] = chain;
    this.values[3] = depths;
    this.device.queue.writeBuffer(this.buffer, 0, this.values);
  }
}

/**
 * WGSL: a step's token's position. Token n sits in slot start + n of the KV cache; in a tree
 * pass (step.chain > 0) a token from `chain` on is leaf j = n - chain, at depth
 * j mod depths + 1 below the step's first token: at position start + j mod depths + 1, beside
 * the chain token there. It attends to the positions before its own (the chain up to its
 * parent) and to its own slot.
 */
export const TREE_POSITION_CODE = `
fn position_of(n: u32) -> u32 {
  if (step.chain == 0u || n < step.chain) { return step.start + n; }
  return step.start + (n - step.chain) % step.depths + 1u;
}
`;
