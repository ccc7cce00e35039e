/**
 * Per-device kernel choices. A GPU hides memory latency with parallelism: several lanes
 * cooperate on each weight row so reads coalesce, and a small layer gets more lanes a row until
 * it spreads over enough workgroups to fill the device (with 4 lanes a row, SmolLM2-135M's
 * 576x1536 layer ran as 36 workgroups and took 33 us on an H100, 11 us with 64; bench --profile
 * shows such costs). Lanes are not added beyond that: the more lanes, the longer the reduction
 * of a tile of 16 tokens (Llama-3.2-1B's 16384x2048 layer over 5 tokens took 124 us with 16
 * lanes, 211 us with 64). A tile of up to 16 tokens shares each weight read (a step runs the
 * smallest tile that holds it, and verify passes of 2 to 9 tokens have a tile each, so a thread
 * computes no more products than it must), a longer step stages tiles of rows and tokens in
 * workgroup memory, row reductions use
 * wide workgroups, and a step is recorded in several command buffers, each submitted as soon as
 * it is recorded, so the GPU starts on the first layers while the CPU records the rest.
 *
 * A CPU adapter (SwiftShader, or another software rasteriser) runs invocations as SIMD lanes,
 * pays for every load instruction and dearly for workgroup barriers: each thread computes a
 * block of 4 rows for a tile of up to 6 tokens with no barrier (linear_blocked.wgsl: 2-3x
 * faster than one row a thread on SwiftShader), a tile for each verify length from 2 to 6 (on
 * SwiftShader a verify pass over 5 tokens of the fixture target took 23-24 ms in a tile of 5,
 * 31-32 ms in two tiles of 4; one token 10-12 ms), attention runs a thread per head and token, a row's
 * reduction (RMSNorm, argmax, sampling) 4 threads (with 256, argmax over 1024 logits took 15x
 * longer), and recording is cheap next to its kernels.
 *
 * Where the device has subgroups, the GPU kernels end a row's reduction with shuffles inside a
 * subgroup instead of barriers (src/gpu/subgroups.ts says how far they reach), bit-identical.
 *
 * Choices depend on the device only, never on the batch, so kernels stay batch-invariant.
 */

import type { GpuInfo } from '../gpu/device';

export interface KernelProfile {
  /** Rows of a linear layer each thread computes: 1 (lanes share a row) or 4 (CPU adapters). */
  rowBlock: 1 | 4;
  /** Words of a weight row each lane adds at least, before more lanes join (linear.wgsl). */
  wordsPerLane: number;
  /** More lanes join a row (down to two words each) until a layer spans this many workgroups. */
  minWorkgroups: number;
  /** End the lanes' reduction with subgroup shuffles where the device has them (linear.wgsl). */
  subgroups: boolean;
  /**
   * Token tiles of the linear layers' pipelines besides the one-token one, ascending (2 to 16;
   * up to 8 with blocks of 4 rows). A step runs the smallest tile that holds its tokens, else the
   * prefill kernel (below), or without it as few tiles as the largest needs, each the smallest
   * that gives that many (`tileFor`). A thread computes a product and keeps
   * a sum for every token of its tile, live or not, so a tile a verify pass fills exactly costs
   * least: on an H100, Llama-3.2-1B's 16384x2048 layer took 61 us over 5 tokens in a tile of 5
   * against 102 us in a tile of 8 (34 us for one token; bench --profile).
   */
  tiles: number[];
  /**
   * Steps of more tokens than the largest tile run linear_prefill.wgsl: tiles of rows and
   * tokens staged in workgroup memory, a thread 4 rows x 4 tokens of them.
   */
  prefill: boolean;
  /** Attention by a thread per head and token with no barriers (CPU adapters), not a workgroup. */
  serialAttention: boolean;
  /** Threads per workgroup of a kernel that reduces a row alone (RMSNorm, argmax, sampling). */
  rowWorkgroup: number;
  /** Command buffers a forward step is recorded and submitted in (the layers split evenly). */
  commandBuffers: number;
}

export const GPU_PROFILE: KernelProfile = {
  rowBlock: 1,
  wordsPerLane: 16,
  minWorkgroups: 1024,
  subgroups: true,
  tiles: [2, 3, 4, 5, 6, 7, 8, 9, 16],
  prefill: true,
  serialAttention: false,
  rowWorkgroup: 256,
  commandBuffers: 8,
};
export const CPU_PROFILE: KernelProfile = {
  rowBlock: 4,
  wordsPerLane: Number.POSITIVE_INFINITY,
  minWorkgroups: 0,
  subgroups: false,
  tiles: [2, 3, 4, 5, 6],
  prefill: false,
  serialAttention: true,
  rowWorkgroup: 4,
  commandBuffers: 1,
};

export function isCpuAdapter(info: GpuInfo): boolean {
  return /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.architecture} ${info.description} ${info.vendor}`);
}

export function kernelProfile(info: GpuInfo): KernelProfile {
  return isCpuAdapter(info) ? CPU_PROFILE : GPU_PROFILE;
}

/** The profile's choices for a linear layer (see LinearShape) on a device with `subgroupShuffle`. */
export function linearChoices(profile: KernelProfile, subgroupShuffle: number) {
  const { wordsPerLane, minWorkgroups, rowBlock, subgroups } = profile;
  return { wordsPerLane, minWorkgroups, rowBlock, shuffle: subgroups ? subgroupShuffle : 1 };
}

/**
 * Which of `tiles` (token tiles, ascending; 1 first) runs a step of `tokens` tokens, as an
 * index: as few tiles along z as the largest tile needs, each the smallest tile that gives that
 * many. Up to the largest tile that is the smallest tile holding the step; with tiles up to 6,
 * 9 tokens run two tiles of 5 (10 tokens' work) rather than two of 6 (12). Any choice gives the
 * same bits: tiles share out the tokens, never a sum.
 */
export function tileFor(tiles: readonly number[], tokens: number): number {
  const largest = tiles[tiles.length - 1];
  const need = Math.ceil(tokens / Math.ceil(tokens / largest));
  let at = 0;
  while (tiles[at] < need) at++;
  return at;
}
