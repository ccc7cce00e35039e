/**
 * GPU times of a forward step through timestamp queries, to find where the step spends its
 * time (bench --profile). In `dispatches` mode, `pass(encoder)` returns a stand-in for a compute
 * pass that records each dispatch in a pass of its own, timestamped at its start and end; in
 * `passes` mode it returns a real pass, timestamped likewise, so the step runs as it always
 * does and its span on the GPU can be read. After the command buffer is submitted, `read()`
 * gives each timed pass under its pipeline's label (or 'pass'), the GPU span of the step, and
 * how long the CPU took to record it (first pass to `resolve`).
 *
 * One pass per dispatch keeps the GPU from overlapping neighbouring dispatches and adds a
 * pass's fixed cost to each, so those times add up to more than the step's span: they say
 * where the time goes, the span and the wall-clock time say how much there is.
 */

import { GPUFeatureMissingError } from '../errors';

export interface DispatchTime {
  label: string;
  ns: number;
}

export interface StepTimes {
  /** One entry per timed pass, in recording order */
  passes: DispatchTime[];
  /** From the first pass's start to the last pass's end, on the GPU */
  spanNs: number;
  /** CPU time from the first pass begun to `resolve` (recording the step's commands) */
  recordMs: number;
}

export type ProfileMode = 'dispatches' | 'passes';

const TIMESTAMP_BYTES = 8;

export class DispatchProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly readback: GPUBuffer;
  private labels: string[] = [];
  private recordStart = 0;
  private recordEnd = 0;
  mode: ProfileMode = 'dispatches';
  /** While set, passes run untimed (a context's prefill before the step that is profiled). */
  paused = false;

  /** Needs a device with the `timestamp-query` feature; `capacity` dispatches per step at most. */
  constructor(
    device: GPUDevice,
    private readonly capacity = 2048, // WebGPU allows 4096 queries in a set
  ) {
    if (!device.features.has('timestamp-query')) {
      throw new GPUFeatureMissingError(
        'Profiling needs the timestamp-query feature, which this GPU does not offer; ' +
          'the benchmark without --profile still runs.',
      );
    }
    const count = 2 * capacity;
    this.querySet = device.createQuerySet({ label: 'dispatch times', type: 'timestamp', count });
    this.resolved = device.createBuffer({
      label: 'dispatch times',
      size: count * TIMESTAMP_BYTES,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.readback = device.createBuffer({
      label: 'dispatch times readback',
      size: count * TIMESTAMP_BYTES,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** A compute pass for `encoder`, timed as `mode` says (in `dispatches` mode it offers only what kernels call). */
  pass(encoder: GPUCommandEncoder): GPUComputePassEncoder {
    if (this.paused) return encoder.beginComputePass();
    if (this.labels.length === 0) this.recordStart = performance.now();
    if (this.mode === 'passes') return this.timedPass(encoder, 'pass');
    let pipeline: GPUComputePipeline | undefined;
    const bindGroups: (GPUBindGroup | null)[] = [];
    const split = {
      setPipeline: (p: GPUComputePipeline) => {
        pipeline = p;
      },
      setBindGroup: (index: number, group: GPUBindGroup | null) => {
        bindGroups[index] = group;
      },
      dispatchWorkgroups: (x: number, y = 1, z = 1) => {
        if (!pipeline) throw new Error('dispatch before setPipeline');
        const pass = this.timedPass(encoder, pipeline.label);
        pass.setPipeline(pipeline);
        for (const [i, group] of bindGroups.entries()) pass.setBindGroup(i, group ?? null);
        pass.dispatchWorkgroups(x, y, z);
        pass.end();
      },
      end: () => {},
    };
    return split as unknown as GPUComputePassEncoder;
  }

  private timedPass(encoder: GPUCommandEncoder, label: string): GPUComputePassEncoder {
    const index = this.labels.length;
    if (index >= this.capacity) throw new RangeError(`more than ${this.capacity} passes in one profiled step`);
    this.labels.push(label);
    return encoder.beginComputePass({
      timestampWrites: {
        querySet: this.querySet,
        beginningOfPassWriteIndex: 2 * index,
        endOfPassWriteIndex: 2 * index + 1,
      },
    });
  }

  /** Records copying this step's timestamps out; call once, after the step's last pass. */
  resolve(encoder: GPUCommandEncoder): void {
    if (this.paused) return;
    this.recordEnd = performance.now();
    const count = 2 * this.labels.length;
    if (count === 0) return;
    encoder.resolveQuerySet(this.querySet, 0, count, this.resolved, 0);
    encoder.copyBufferToBuffer(this.resolved, 0, this.readback, 0, count * TIMESTAMP_BYTES);
  }

  /** The times of the step recorded since the last read. */
  async read(): Promise<StepTimes> {
    const labels = this.labels;
    this.labels = [];
    const recordMs = this.recordEnd - this.recordStart;
    if (labels.length === 0) return { passes: [], spanNs: 0, recordMs };
    const bytes = 2 * labels.length * TIMESTAMP_BYTES;
    await this.readback.mapAsync(GPUMapMode.READ, 0, bytes);
    const stamps = new BigUint64Array(this.readback.getMappedRange(0, bytes).slice(0));
    this.readback.unmap();
    return {
      passes: labels.map((label, i) => ({ label, ns: Number(stamps[2 * i + 1] - stamps[2 * i]) })),
      spanNs: Number(stamps[2 * labels.length - 1] - stamps[0]),
      recordMs,
    };
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolved.destroy();
    this.readback.destroy();
  }
}
