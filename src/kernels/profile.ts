/**
 * Per-device kernel choices. A GPU is memory-bound: several lanes cooperate on a weight row
 * so reads coalesce, and a tile of up to 16 tokens shares each weight read. A CPU adapter (SwiftShader,
 * or another software rasteriser) is compute-bound and pays dearly for workgroup barriers
 * and for work its SIMD lanes cannot skip: one lane per row and tiles of 4 tokens suit it.
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
export const CPU_PROFILE: KernelProfile = { wordsPerLane: Number.POSITIVE_INFINITY, tileN: 4 };

export function isCpuAdapter(info: GpuInfo): boolean {
  return /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.architecture} ${info.description} ${info.vendor}`);
}

export function kernelProfile(info: GpuInfo): KernelProfile {
  return isCpuAdapter(info) ? CPU_PROFILE : GPU_PROFILE;
}
