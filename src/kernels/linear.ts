/**
 * The linear layer on the GPU: y = x W^T + bias for f32, f16 or bf16 weights, stored, added
 * into y, or finished by an epilogue (linear-shape.ts). One pipeline per weight shape, output
 * and variant, built at load: `new LinearKernel(device, shape, output, variant)` with the
 * variant named explicitly (linear-lanes.ts, linear-blocked.ts, linear-prefill.ts). Bind groups
 * are made at load; `encode` only records a dispatch. Which variants a layer has, and which
 * one runs a step, is linear-layer.ts's choice.
 */

import { ComputeKernel } from './kernel';
import { blockedPlan } from './linear-blocked';
import { lanesPlan } from './linear-lanes';
import { prefillPlan } from './linear-prefill';
import type { LinearBuffers, LinearOutput, LinearShape, LinearVariant } from './linear-shape';

export { linearLanes } from './linear-lanes';
export { prefillTile } from './linear-prefill';
export type { LinearBuffers, LinearOutput, LinearShape, LinearVariant } from './linear-shape';

const MAX_GRID = 65535;

export class LinearKernel extends ComputeKernel {
  /** Tokens a workgroup serves: a step of n tokens runs ceil(n / tileN) workgroups along z. */
  readonly tileN: number;
  private readonly gridX: number;
  private readonly gridY: number;

  constructor(
    device: GPUDevice,
    readonly shape: LinearShape,
    readonly output: LinearOutput,
    readonly variant: LinearVariant,
  ) {
    const plan =
      variant.kind === 'lanes'
        ? lanesPlan(shape, output, variant)
        : variant.kind === 'blocked'
          ? blockedPlan(shape, output, variant)
          : prefillPlan(device, shape, output, variant);
    const groups = Math.ceil(shape.rows / plan.rowsPerGroup); // workgroups along the rows
    const gridX = Math.min(groups, MAX_GRID);
    super(device, plan.label, plan.code, { ...plan.constants, GRID_X: gridX });
    this.tileN = plan.tileN;
    this.gridX = gridX;
    this.gridY = Math.ceil(groups / gridX);
  }

  /**
   * Binds the buffers (see LinearBuffers; `rope` with the 'rope' output only, `norm` with a
   * folded norm: token tiles read its x and weight, the prefill kernel `x` and its scale).
   */
  bind(b: LinearBuffers): GPUBindGroup {
    const { variant } = this;
    const folds = variant.kind !== 'blocked' && variant.norm !== undefined;
    if (folds && !b.norm) throw new Error(`${this.label}: a folded norm needs its input, weight and scale`);
    const tiles = folds && variant.kind === 'lanes';
    const buffers = [b.step, b.weight, b.bias, tiles && b.norm ? b.norm.x : b.x, b.y];
    if (this.output.kind === 'rope') {
      if (!b.rope) throw new Error(`${this.label}: the rope epilogue needs its tables and the KV cache`);
      buffers.push(b.rope.cos, b.rope.sin, b.rope.kCache, b.rope.vCache);
    }
    if (folds && b.norm) buffers.push(tiles ? b.norm.weight : b.norm.scale);
    return this.bindAll(buffers);
  }

  /** Records the layer for `tokens` tokens (the same count the step uniform holds). */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number): void {
    this.dispatch(pass, bindGroup, this.gridX, this.gridY, Math.ceil(tokens / this.tileN));
  }
}
