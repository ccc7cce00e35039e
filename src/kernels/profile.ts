/**
 * Per-device kernel choices. A GPU is memory-bound: several lanes cooperate on a weight row
 * so reads coalesce, and a tile of tokens shares each weight read. A CPU adapter (SwiftShader,
 * or another software rasteriser) is compute-bound and pays dearly for workgroup barriers
 * and private arrays: one lane per row and one token per workgroup suit it best.
 *
 * Choices depend on the device only, never on the batch, so kernels stay batch-invariant.
 */

import type { GpuInfo } from '../gpu/device';

export interface KernelProfile {
  /** Words of a weight row each lane adds at least, before more lanes join (linear.wgsl). */
  wordsPerLane: number;
  /** Tokens per workgroup for multi-token linear layers. */
  tileN: number;
}

export const GPU_PROFILE: KernelProfile = { wordsPerLane: 16, tileN: 16 };
export const CPU_PROFILE: KernelProfile = { wordsPerLane: Number.POSITIVE_INFINITY, tileN: 1 };

export function isCpuAdapter(info: GpuInfo): boolean {
  return /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.architecture} ${info.description} ${info.vendor}`);
}

export function kernelProfile(info: GpuInfo): KernelProfile {
  return isCpuAdapter(info) ? CPU_PROFILE : GPU_PROFILE;
}
