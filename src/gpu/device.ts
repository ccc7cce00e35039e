/**
 * Acquiring a GPU device, the same way in a page, a worker and Node.
 *
 * `requestGpu(navigator.gpu)` asks for the adapter, requests the optional features Tandem
 * can use (`shader-f16`, `subgroups`, `timestamp-query`) and the adapter's own maxima for
 * the limits that bound model size, and returns the device with a description of what it
 * got, and how far its subgroup shuffles reach (src/gpu/subgroups.ts). Device loss and
 * uncaptured errors are turned into named errors: the first one is kept as `gpu.failure`,
 * and `gpu.assertHealthy()` rethrows it where the caller can act.
 */

import { GPUDeviceLostError, GPUOutOfMemoryError, GPUValidationError, WebGPUUnavailableError } from '../errors';
import type { GpuBusyTimer } from './busy-timer';
import { subgroupShuffleWidth } from './subgroups';

/** Optional features we use when the adapter has them. */
const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** Limits that decide how large a model fits; we ask for whatever the adapter allows. */
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

export interface GpuInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
}

/** Whether the adapter runs on the CPU (SwiftShader, llvmpipe, WARP): its kernels share the host's cores. */
export function isCpuAdapter(info: GpuInfo): boolean {
  return /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.architecture} ${info.description} ${info.vendor}`);
}

export interface Gpu {
  adapter: GPUAdapter;
  device: GPUDevice;
  info: GpuInfo;
  hasF16: boolean;
  /** Aligned blocks of this many consecutive lanes share a subgroup (1: no subgroup shuffles). */
  subgroupShuffle: number;
  hasTimestamps: boolean;
  /** Where set (benchmarks), times the GPU's busy time in every compute pass the models begin (busy-timer.ts). */
  busyTimer?: GpuBusyTimer;
  /** The first fatal error seen (device lost, out of memory, validation), if any. */
  readonly failure: Error | undefined;
  /** Throws `failure` if the device can no longer be trusted. */
  assertHealthy(): void;
  /** Called once for every fatal error, in addition to recording it. */
  onFailure(listener: (error: Error) => void): void;
  destroy(): void;
}

export const NO_WEBGPU_HELP =
  'WebGPU is not available. Use a recent Chrome or Edge (113+) on a machine with a GPU, ' +
  'or enable it: chrome://flags/#enable-unsafe-webgpu (Linux: also start Chrome with ' +
  '--enable-unsafe-webgpu, or --use-webgpu-adapter=swiftshader for a software adapter). ' +
  'Safari 26 and Firefox 141+ ship WebGPU on some platforms. Pages must be served from ' +
  'https:// or http://localhost.';

export async function requestGpu(gpu: GPU | undefined): Promise<Gpu> {
  if (!gpu) throw new WebGPUUnavailableError(NO_WEBGPU_HELP);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(`WebGPU is present but no GPU adapter was found. ${NO_WEBGPU_HELP}`);
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];

  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (cause) {
    throw new WebGPUUnavailableError(`The GPU adapter refused to create a device: ${String(cause)}`, { cause });
  }
  const subgroupShuffle = await subgroupShuffleWidth(device, adapter.info);
  return wrapDevice(adapter, device, describe(adapter.info, device), subgroupShuffle);
}

function describe(adapterInfo: GPUAdapterInfo, device: GPUDevice): GpuInfo {
  const limits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) limits[name] = device.limits[name];
  return {
    vendor: adapterInfo.vendor || 'unknown',
    architecture: adapterInfo.architecture || 'unknown',
    device: adapterInfo.device || '',
    description: adapterInfo.description || '',
    features: [...device.features].map(String).sort(),
    limits,
  };
}

function wrapDevice(adapter: GPUAdapter, device: GPUDevice, info: GpuInfo, subgroupShuffle: number): Gpu {
  let failure: Error | undefined;
  let destroyed = false;
  const listeners: ((error: Error) => void)[] = [];
  const fail = (error: Error) => {
    if (!failure) failure = error;
    for (const listener of listeners) listener(error);
  };

  device.lost.then((lost) => {
    if (destroyed) return;
    fail(
      new GPUDeviceLostError(
        `The GPU device was lost (${lost.reason}): ${(lost.message || 'no details').replace(/\.$/, '')}. ` +
          'Reload the model to continue; if it keeps happening, close other GPU-heavy tabs or use a smaller model.',
      ),
    );
  });
  device.addEventListener('uncapturederror', (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    if (isOutOfMemory(error)) {
      fail(
        new GPUOutOfMemoryError(`The GPU ran out of memory: ${error.message}. Try a smaller model or cache budget.`),
      );
    } else {
      fail(new GPUValidationError(`WebGPU reported an error: ${error.message}`));
    }
  });

  return {
    adapter,
    device,
    info,
    hasF16: device.features.has('shader-f16'),
    subgroupShuffle,
    hasTimestamps: device.features.has('timestamp-query'),
    get failure() {
      return failure;
    },
    assertHealthy() {
      if (failure) throw failure;
    },
    onFailure(listener) {
      listeners.push(listener);
    },
    destroy() {
      destroyed = true;
      device.destroy();
    },
  };
}

/** Checked late: in Node the WebGPU globals are installed after this module loads. */
function isOutOfMemory(error: GPUError): boolean {
  const OutOfMemory = globalThis.GPUOutOfMemoryError;
  return OutOfMemory ? error instanceof OutOfMemory : error.constructor?.name === 'GPUOutOfMemoryError';
}
