/**
 * The dispatch profiler on a real adapter: every dispatch timed under its pipeline's label in
 * `dispatches` mode, the step's span in `passes` mode, and a named error from a device that
 * was created without timestamp queries.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { ArgmaxKernel, NormKernel } from '../kernels/ops';
import { StepUniform } from '../kernels/step';
import { testGpu } from '../testing/gpu';
import { createStorage } from './buffers';
import type { Gpu } from './device';
import { DispatchProfiler } from './dispatch-profiler';
import { nodeNavigatorGpu } from './node';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

describe('DispatchProfiler', () => {
  it('times each dispatch under its pipeline label, and the span of the passes', async () => {
    const { device } = gpu;
    expect(gpu.hasTimestamps).toBe(true); // SwiftShader and the GPUs we target offer it
    const step = new StepUniform(device);
    step.write(2);
    const norm = new NormKernel(device, 64, 1e-5);
    const argmax = new ArgmaxKernel(device, 5000, 2);
    const x = createStorage(device, 2 * 64 * 4, 'x');
    const normed = createStorage(device, 2 * 64 * 4, 'normed');
    const normBind = norm.bind({ step: step.buffer, weight: createStorage(device, 256, 'w'), x, out: normed });
    const ids = createStorage(device, 2 * 4, 'ids');
    const argmaxBinds = argmax.bind({ step: step.buffer, logits: createStorage(device, 2 * 5000 * 4, 'l'), ids });
    const profiler = new DispatchProfiler(device);
    const record = () => {
      const encoder = device.createCommandEncoder();
      const pass = profiler.pass(encoder);
      norm.encode(pass, normBind, 2);
      argmax.encode(pass, argmaxBinds, 2);
      pass.end();
      profiler.resolve(encoder);
      device.queue.submit([encoder.finish()]);
      return profiler.read();
    };

    const split = await record();
    expect(split.passes.map((p) => p.label)).toEqual(['rmsnorm 64', 'argmax 5000 slices', 'argmax 5000']);
    for (const p of split.passes) expect(p.ns).toBeGreaterThanOrEqual(0);
    expect(split.recordMs).toBeGreaterThanOrEqual(0);

    profiler.mode = 'passes';
    const whole = await record();
    expect(whole.passes.map((p) => p.label)).toEqual(['pass']);
    expect(whole.spanNs).toBe(whole.passes[0].ns);
    profiler.destroy();
    argmax.destroy();
  });

  it('raises GPUFeatureMissingError on a device created without timestamp-query', async () => {
    const adapter = await (await nodeNavigatorGpu()).requestAdapter();
    const plain = await (adapter as GPUAdapter).requestDevice(); // no optional features asked for
    const error = (() => {
      try {
        new DispatchProfiler(plain);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.name).toBe('GPUFeatureMissingError');
    expect(error?.message).toMatch(/timestamp-query/);
    plain.destroy();
  });
});
