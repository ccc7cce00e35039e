/**
 * The step uniform: the values that change from one forward pass to the next (how many
 * tokens it covers, where they start in the sequence). Every kernel binds the same small
 * buffer at binding 0 and declares the same `Step` struct, so a forward pass writes it once
 * and encodes all its dispatches against it. Shapes are `override` constants, fixed at load.
 *
 *   struct Step { tokens: u32, start: u32, _pad0: u32, _pad1: u32 }   (uniforms come in 16 bytes)
 */

import { createUniform } from '../gpu/buffers';

export const STEP_BYTES = 16;

export class StepUniform {
  readonly buffer: GPUBuffer;
  private readonly values = new Uint32Array(4);

  constructor(private readonly device: GPUDevice) {
    this.buffer = createUniform(device, STEP_BYTES, 'step');
  }

  /** `tokens` new tokens at positions start..start+tokens-1. */
  write(tokens: number, start = 0): void {
    this.values[0] = tokens;
    this.values[1] = start;
    this.device.queue.writeBuffer(this.buffer, 0, this.values);
  }
}
