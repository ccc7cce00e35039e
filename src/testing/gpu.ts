/**
 * The GPU for GPU tests: a real adapter through Dawn (SwiftShader where the machine has no
 * GPU). There is no fallback and no mock: without an adapter the tests fail, unless
 * TANDEM_SKIP_GPU=1 says to leave the GPU test project out (see vitest.config.ts).
 */

import { readBuffer } from '../gpu/buffers';
import type { Gpu } from '../gpu/device';
import { requestNodeGpu } from '../gpu/node';
import { runComputePass } from '../gpu/passes';
import type { KvFormat } from '../kernels/kv-cache';
import { f16ToF32, f32ToF16, widenF16 } from '../loader/half';

let shared: Promise<Gpu> | undefined;

/**
 * One device for the whole GPU project (its files share a process: vite.config.ts), so the
 * pipelines one file compiles serve the next; tests that lose a device request their own.
 */
export function testGpu(): Promise<Gpu> {
  shared ??= requestNodeGpu().then((gpu) => {
    const { vendor, architecture, description } = gpu.info;
    console.info(`GPU tests on adapter: ${vendor} / ${architecture} ${description}`.trim());
    return gpu;
  });
  return shared;
}

/**
 * The error the shared device has recorded, if any, and a fresh device for the tests after it:
 * WebGPU reports a validation error asynchronously, to the device rather than to the call, so
 * without this check a test that makes one passes and a later test that uses the device fails.
 */
export async function takeSharedGpuFailure(): Promise<Error | undefined> {
  const failure = shared && (await shared).failure;
  if (failure) shared = undefined;
  return failure;
}

/** Runs `fn` inside validation and out-of-memory error scopes and fails on any error they catch. */
export async function expectNoGpuErrors<T>(device: GPUDevice, fn: () => Promise<T> | T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const result = await fn();
  const validation = await device.popErrorScope();
  const memory = await device.popErrorScope();
  if (validation) throw new Error(`WebGPU validation error: ${validation.message}`);
  if (memory) throw new Error(`WebGPU out-of-memory error: ${memory.message}`);
  return result;
}

/** Records one compute pass with `record`, submits it, and checks no GPU error was raised. */
export async function runPass(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void): Promise<void> {
  await expectNoGpuErrors(device, () => runComputePass(device, record));
}

export async function readFloats(device: GPUDevice, buffer: GPUBuffer, count: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(device, buffer, count * 4));
}

/** The first `count` values of a KV cache in `kv` (an f16 cache widened to f32). */
export async function readKvCache(device: GPUDevice, buffer: GPUBuffer, kv: KvFormat, count: number) {
  if (kv === 'f32') return readFloats(device, buffer, count);
  return widenF16(new Uint16Array(await readBuffer(device, buffer, count * 2)));
}

/** What a KV cache in `kv` holds of f32 `values`: an f16 cache rounds them to halves. */
export function asKvCache(values: Float32Array, kv: KvFormat): Float32Array {
  return kv === 'f32' ? values : values.map((x) => f16ToF32(f32ToF16(x)));
}
