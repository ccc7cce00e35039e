/**
 * What every kernel wrapper shares: a pipeline specialised by override constants (compiled
 * once, from the pipeline cache, at its first dispatch or with its model's at load), bind
 * groups made at load from buffers in binding order, and a dispatch. Each op's wrapper adds
 * typed buffers and its own grid.
 */

import { bindBuffers, Pipeline } from '../gpu/pipelines';

export class ComputeKernel {
  private readonly pipelineHandle: Pipeline;

  constructor(
    protected readonly device: GPUDevice,
    label: string,
    code: string,
    constants: Record<string, number | boolean>,
  ) {
    this.pipelineHandle = new Pipeline(device, label, code, constants);
  }

  get label(): string {
    return this.pipelineHandle.label;
  }

  /** The compiled pipeline (compiled now if it has not been). */
  get pipeline(): GPUComputePipeline {
    return this.pipelineHandle.get();
  }

  /** A bind group with `buffers` at bindings 0, 1, 2, ...; binding 0 is always the step uniform. */
  bindAll(buffers: GPUBuffer[]): GPUBindGroup {
    return bindBuffers(this.device, this.pipelineHandle.layout, this.label, buffers);
  }

  protected dispatch(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, x: number, y = 1, z = 1): void {
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
  }
}

/** A kernel of one workgroup: a speculative step's bookkeeping between passes (a verdict, an id moved). */
export class OneWorkgroupKernel extends ComputeKernel {
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup): void {
    this.dispatch(pass, bindGroup, 1);
  }
}
