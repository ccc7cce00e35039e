/**
 * The busy timer on a real adapter: the GPU time of the passes begun since a mark, nothing for
 * a pass never submitted (even where an earlier window's pass wrote its queries), no figure
 * when more passes ran than its queries hold, and a model's passes timed through it.
 */

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ArgmaxKernel } from '../kernels/ops';
import { StepUniform } from '../kernels/step';
import { loadGpuPair } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { createStorage } from './buffers';
import { beginComputePass, GpuBusyTimer } from './busy-timer';
import type { Gpu } from './device';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterEach(() => {
  gpu.busyTimer?.destroy();
  gpu.busyTimer = undefined;
});

describe('GpuBusyTimer', () => {
  it('times the passes begun since a mark, and nothing for a pass never submitted', async () => {
    const { device } = gpu;
    const timer = new GpuBusyTimer(device);
    gpu.busyTimer = timer;
    // Work worth timing: the argmax of 4 rows of a million logits.
    const vocab = 1 << 20;
    const step = new StepUniform(device);
    step.write(4);
    const argmax = new ArgmaxKernel(device, vocab, 4);
    const logits = createStorage(device, 4 * vocab * 4, 'logits');
    const binds = argmax.bind({ step: step.buffer, logits, ids: createStorage(device, 16, 'ids') });
    const record = (passes: number) => {
      const encoder = device.createCommandEncoder();
      for (let i = 0; i < passes; i++) {
        const pass = beginComputePass(gpu, encoder);
        argmax.encode(pass, binds, 4);
        pass.end();
      }
      return encoder.finish();
    };

    const started = performance.now();
    device.queue.submit([record(3)]);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - started;
    const three = (await timer.readMs()) as number;
    expect(three).toBeGreaterThan(0);
    expect(three).toBeLessThanOrEqual(wall);

    // A window after a read holds the timestamps of the passes before it in the same queries:
    // a pass never submitted, where one of them ran, counts nothing.
    device.queue.submit([record(1)]);
    const mark = timer.mark();
    record(2); // never submitted: the second's queries are those of the first window's third pass
    expect(await timer.readMs(mark)).toBe(0);

    // The passes before a mark count nothing either.
    device.queue.submit([record(3)]);
    const later = timer.mark();
    device.queue.submit([record(1)]);
    const one = (await timer.readMs(later)) as number;
    expect(one).toBeGreaterThan(0);
    expect(one).toBeLessThan(three);
    argmax.destroy();
    logits.destroy();
  });

  it('gives no figure when more passes ran than its queries hold', async () => {
    const { device } = gpu;
    const timer = new GpuBusyTimer(device);
    gpu.busyTimer = timer;
    const encoder = device.createCommandEncoder();
    for (let i = 0; i < 2048; i++) beginComputePass(gpu, encoder).end(); // with the first marker: 2,049
    device.queue.submit([encoder.finish()]);
    expect(await timer.readMs()).toBeUndefined();
  });

  it("times every pass of a model's forward step", async () => {
    const { target: model, draft, tokenizer } = await loadGpuPair(gpu, 64);
    const sequence = model.createSequence(64);
    await model.greedy(sequence, [1, 2, 3], 'last'); // compiled, untimed
    gpu.busyTimer = new GpuBusyTimer(gpu.device);
    const mark = gpu.busyTimer.mark();
    await model.greedy(sequence, [4], 'last');
    expect(gpu.busyTimer.mark()).toBeGreaterThan(mark + 1);
    expect(await gpu.busyTimer.readMs(mark)).toBeGreaterThan(0);
    sequence.release();
    model.destroy();
    draft.destroy();
    tokenizer.dispose();
  });
});
