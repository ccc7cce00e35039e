/**
 * Dawn's polls on a real adapter: paced on a CPU adapter, where a wait for long work polls a few
 * hundred times, not tens of thousands, and left as Dawn makes them on a GPU.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from '../testing/gpu';
import { createStorage } from './buffers';
import { dawnPollingPaced, isDawnPoll } from './dawn-polling';
import { type Gpu, isCpuAdapter } from './device';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

describe("Dawn's polling", () => {
  it('is paced on a CPU adapter only', () => {
    expect(dawnPollingPaced()).toBe(isCpuAdapter(gpu.info));
  });

  it('polls a few times a millisecond while a CPU adapter works, not thousands', async (context) => {
    if (!isCpuAdapter(gpu.info)) context.skip(); // a GPU's polls are Dawn's own: the test above
    const { device } = gpu;
    // Work for a CPU adapter: 4,096 threads of an 80,000-step loop (about 0.25 s on 2 cores).
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  var x = id.x;
  for (var i = 0u; i < 80000u; i++) { x = x * 1664525u + 1013904223u; }
  out[id.x % 64u] = x;
}`,
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const out = createStorage(device, 256, 'out');
    const readback = device.createBuffer({ size: 256, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: out } }],
    });

    const paced = globalThis.setImmediate;
    let polls = 0;
    globalThis.setImmediate = ((callback: () => void, ...args: []) => {
      if (isDawnPoll(callback)) polls++;
      return paced(callback, ...args);
    }) as typeof setImmediate;
    try {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(64);
      pass.end();
      encoder.copyBufferToBuffer(out, 0, readback, 0, 256);
      device.queue.submit([encoder.finish()]);
      const started = performance.now();
      await readback.mapAsync(GPUMapMode.READ);
      const waited = performance.now() - started;
      readback.unmap();
      expect(waited).toBeGreaterThan(20); // long enough for the pacing to show
      // Paced: about one poll a millisecond once a wait passes 8 ms, and ~45 before (sleeps of
      // an eighth of the time so far). As Dawn polls, one every few microseconds.
      expect(polls).toBeLessThan(60 + 2 * waited);
    } finally {
      globalThis.setImmediate = paced;
      out.destroy();
      readback.destroy();
    }
  });
});
