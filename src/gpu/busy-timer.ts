/**
 * The GPU's busy time over many steps, through timestamp queries (the benchmark's decode runs:
 * a step's wall time split into GPU time and the CPU's). While a timer is set on a `Gpu`, every
 * compute pass the models begin (`beginComputePass`) writes a timestamp at its start and end;
 * `readMs` gives the time the passes' spans since a `mark` cover together: the time the GPU
 * spent on them, the gaps where it waited for the CPU left out, and time where passes
 * overlapped (a software adapter runs neighbours side by side) counted once. The copies
 * between passes (a few bytes each) are not timed.
 *
 * The timestamps are resolved only when read, not with each step, so timing adds no command and
 * no readback to a step: a pass's timestamps land in the query set when the GPU runs it, and a
 * resolve submitted later reads them in queue order. A pass recorded but never submitted (a
 * step recorded ahead for a reply that ended) leaves its queries as they were: zeros, or what
 * an earlier window wrote there, older than the window's marker (`mark`), and so left out.
 */

import type { Gpu } from './device';

const TIMESTAMP_BYTES = 8;
/** WebGPU's limit on the queries of a set: two per pass. */
const MAX_QUERIES = 4096;

export class GpuBusyTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly readback: GPUBuffer;
  /** Passes begun since the last read, markers included: the query set's pairs in use. */
  private passes = 0;
  /** Passes begun untimed since then, the query set being full. */
  private missed = 0;

  /** Needs a device with the `timestamp-query` feature (`Gpu.hasTimestamps`). */
  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ label: 'busy times', type: 'timestamp', count: MAX_QUERIES });
    const size = MAX_QUERIES * TIMESTAMP_BYTES;
    const usage = GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC;
    this.resolved = device.createBuffer({ label: 'busy times', size, usage });
    const readUsage = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    this.readback = device.createBuffer({ label: 'busy times readback', size, usage: readUsage });
    this.reset();
  }

  /** A compute pass for `encoder`, timed while the query set has room. */
  pass(encoder: GPUCommandEncoder): GPUComputePassEncoder {
    if (2 * (this.passes + 1) > MAX_QUERIES) {
      this.missed++;
      return encoder.beginComputePass();
    }
    const index = 2 * this.passes++;
    const timestampWrites = {
      querySet: this.querySet,
      beginningOfPassWriteIndex: index,
      endOfPassWriteIndex: index + 1,
    };
    return encoder.beginComputePass({ timestampWrites });
  }

  /**
   * Forgets the passes begun so far (call when none of them is still to be submitted), and
   * starts a window at a marker.
   */
  reset(): void {
    this.passes = 0;
    this.missed = 0;
    this.mark();
  }

  /**
   * Starts a window at a marker, for `readMs`: an empty pass submitted now, whose timestamp
   * says when the window began on the GPU. A query the window's passes left unwritten (a pass
   * never submitted) still holds what an earlier window wrote there; earlier than the marker,
   * it is told apart and left out.
   */
  mark(): number {
    const at = this.passes;
    const encoder = this.device.createCommandEncoder();
    this.pass(encoder).end();
    this.device.queue.submit([encoder.finish()]);
    return at;
  }

  /**
   * The GPU's time (ms) in the passes begun since the marker at `from` (`mark`; 0: the one the
   * last read or reset left), once the work submitted so far is done; undefined if some passes
   * went untimed (more than the query set holds). Starts afresh: call it when the passes begun
   * so far are submitted or dropped.
   */
  async readMs(from = 0): Promise<number | undefined> {
    const [passes, missed] = [this.passes, this.missed];
    if (missed > 0 || passes <= from) {
      this.reset();
      return missed > 0 ? undefined : 0;
    }
    const bytes = 2 * passes * TIMESTAMP_BYTES;
    const encoder = this.device.createCommandEncoder();
    encoder.resolveQuerySet(this.querySet, 0, 2 * passes, this.resolved, 0);
    encoder.copyBufferToBuffer(this.resolved, 0, this.readback, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    await this.readback.mapAsync(GPUMapMode.READ, 0, bytes);
    const stamps = new BigUint64Array(this.readback.getMappedRange(0, bytes).slice(0));
    this.readback.unmap();
    this.reset();
    const began = stamps[2 * from];
    const spans: [bigint, bigint][] = [];
    for (let i = from + 1; i < passes; i++) {
      const [start, end] = [stamps[2 * i], stamps[2 * i + 1]];
      if (start >= began && end > start) spans.push([start, end]);
    }
    return Number(coveredNs(spans)) / 1e6;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolved.destroy();
    this.readback.destroy();
  }
}

/** The time the spans cover together, overlapping time counted once. */
export function coveredNs(spans: [bigint, bigint][]): bigint {
  const sorted = [...spans].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let covered = 0n;
  let reach = 0n; // the end of the time covered so far
  for (const [start, end] of sorted) {
    if (end <= reach) continue;
    covered += end - (start > reach ? start : reach);
    reach = end;
  }
  return covered;
}

/** Begins a compute pass on `gpu`'s device, timed by its busy timer where one is set. */
export function beginComputePass(gpu: Gpu, encoder: GPUCommandEncoder): GPUComputePassEncoder {
  return gpu.busyTimer ? gpu.busyTimer.pass(encoder) : encoder.beginComputePass();
}
