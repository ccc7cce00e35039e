/**
 * WebGPU calls timed one by one, on a real adapter: every call a pass makes counted under its
 * class and method, the calls still doing their work, and the methods put back afterwards,
 * also when the run throws.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { createStorage, readBuffer, STORAGE, uploadBuffer } from '../src/gpu/buffers';
import type { Gpu } from '../src/gpu/device';
import { ArgmaxKernel } from '../src/kernels/ops';
import { StepUniform } from '../src/kernels/step';
import { testGpu } from '../src/testing/gpu';
import { callCosts, TIMED_CALLS, timeCalls, withCallCosts } from './webgpu-calls';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

const scope = globalThis as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>;

/** The methods TIMED_CALLS names, as the prototypes hold them now. */
function methodsNow(): unknown[] {
  return Object.entries(TIMED_CALLS).flatMap(([name, methods]) =>
    methods.map((method) => scope[name]?.prototype[method]),
  );
}

/** The argmax of two rows of logits, dispatched `times` times in one pass, and the ids read back. */
async function argmaxPass(times: number): Promise<number[]> {
  const { device } = gpu;
  const vocab = 1000;
  const logits = new Float32Array(2 * vocab);
  logits[417] = 5; // row 0's best
  logits[vocab + 3] = 2; // row 1's
  const step = new StepUniform(device);
  step.write(2);
  const argmax = new ArgmaxKernel(device, vocab, 2);
  const ids = createStorage(device, 8, 'ids');
  const binds = argmax.bind({ step: step.buffer, logits: uploadBuffer(device, logits, STORAGE, 'logits'), ids });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let i = 0; i < times; i++) argmax.encode(pass, binds, 2);
  pass.end();
  device.queue.submit([encoder.finish()]);
  return [...new Uint32Array(await readBuffer(device, ids, 8))];
}

describe('WebGPU calls timed one by one', () => {
  it('counts each call of a pass under its class and method, and the calls still do their work', async () => {
    const before = methodsNow();
    const costs = new Map<string, { calls: number; ms: number }>();
    const restore = timeCalls(scope as Record<string, unknown>, costs);
    let ids: number[];
    try {
      expect(methodsNow().filter((method, i) => method !== before[i]).length).toBeGreaterThan(0);
      ids = await argmaxPass(3);
    } finally {
      restore();
    }
    expect(ids).toEqual([417, 3]);
    expect(methodsNow()).toEqual(before);
    const calls = Object.fromEntries(callCosts(costs).map(({ name, calls }) => [name, calls]));
    // One slice of the vocabulary: one dispatch an argmax.
    expect(calls['GPUComputePassEncoder.dispatchWorkgroups']).toBe(3);
    expect(calls['GPUComputePassEncoder.setPipeline']).toBe(3);
    expect(calls['GPUComputePassEncoder.setBindGroup']).toBe(3);
    expect(calls['GPUCommandEncoder.beginComputePass']).toBe(1);
    // The pass's submission and readBuffer's copy.
    expect(calls['GPUQueue.submit']).toBe(2);
    expect(calls['GPUBuffer.mapAsync']).toBe(1);
    for (const cost of callCosts(costs)) {
      expect(cost.ms).toBeGreaterThanOrEqual(0);
      expect(cost.usEach).toBeCloseTo((1000 * cost.ms) / cost.calls, 9);
    }
  });

  it('logs the calls most time first, and puts the methods back when the run throws', async () => {
    const before = methodsNow();
    const lines: string[] = [];
    await expect(
      withCallCosts(
        (line) => lines.push(line),
        async () => {
          await argmaxPass(2);
          throw new Error('the run failed');
        },
      ),
    ).rejects.toThrow('the run failed');
    expect(methodsNow()).toEqual(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^WebGPU calls, each timed to its return: /);
    expect(lines[0]).toMatch(/GPUComputePassEncoder\.dispatchWorkgroups 2 x \d+\.\d\d us = \d+\.\d ms/);
    const ms = [...lines[0].matchAll(/= (\d+\.\d) ms/g)].map((match) => Number(match[1]));
    expect(ms).toEqual([...ms].sort((a, b) => b - a));
  });
});
