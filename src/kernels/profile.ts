/**
 * Per-device kernel choices, made by measurement (bench/README.md has the figures behind each).
 *
 * A GPU hides memory latency with parallelism: several lanes share each weight row so reads
 * coalesce, and a small layer gets more lanes until it spreads over enough workgroups to fill
 * the device, but no more (the reduction of a tile grows with the lanes). Verify passes of 2 to
 * 9 tokens have a tile each, longer steps run the prefill kernel, row reductions use wide
 * workgroups, and a step on an idle GPU is recorded in several command buffers, each submitted
 * as soon as it is recorded, so the GPU starts on the first layers while the CPU records the
 * rest (a step queued behind others goes whole: model/gpu-model.ts).
 *
 * A CPU adapter (SwiftShader, or another software rasteriser) runs threads as SIMD lanes, pays
 * for every load instruction and dearly for workgroup barriers: each thread computes a block
 * of 4 rows with no barrier, a tile for each verify length from 2 to 6, attention takes a
 * thread per head and token, a row's reduction 4 threads, and a step is one command buffer.
 * Its memory is the CPU's, so reading rows back costs a copy: sampled speculative steps read
 * them back and apply the acceptance rule in JavaScript, faster than its kernels would.
 *
 * Where the device has subgroups, the GPU kernels end a row's reduction with shuffles inside a
 * subgroup instead of barriers (src/gpu/subgroups.ts says how far they reach), bit-identical.
 *
 * Choices depend on the device only, never on the batch, so kernels stay batch-invariant. A
 * benchmark that compares choices builds a model with another profile; it never changes one.
 */

import { type GpuInfo, isCpuAdapter } from '../gpu/device';

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
   * prefill kernel (below), or without it as few tiles as the largest needs (linear-layer.ts).
   * A thread computes a product for every token of its tile, live or not, so a tile a verify
   * pass fills exactly costs least.
   */
  tiles: number[];
  /**
   * Token tiles of at least this many tokens sum two weight rows a thread (linear.wgsl's
   * TWO_ROWS): each input chunk a thread loads serves both rows, which halves a verify tile's
   * input loads. The bits are the same either way. Infinity: one row a thread in every tile.
   */
  twoRowsFrom: number;
  /**
   * Decode steps (and the verify tiles `fourRowsTiles` names) sum four weight rows a thread
   * (linear.wgsl's FOUR_ROWS) in the quantized layers that still run at least this many threads
   * that way: each input chunk serves four rows, a quarter of one row a thread's input loads,
   * where a smaller layer would leave the device short of threads. The same bits. Infinity:
   * never. (Float layers, whose values cost less work each, keep two rows: four are untimed
   * there.)
   */
  fourRowsMinThreads: number;
  /**
   * Token tiles of up to this many tokens may sum four rows a thread (`fourRowsMinThreads`), at
   * most 12 (linear-lanes.ts): 1, decode steps alone. A verify tile of n tokens loads n input
   * chunks for each chunk of its rows' weights: four rows a thread halve those loads again.
   */
  fourRowsTiles: number;
  /**
   * A lane of a quantized row takes a u32 of a group's word at a time (8 values of a 4- to 6-bit
   * group), not the whole word (quantized.wgsl's SPLIT_GROUPS): the row's lanes then read their
   * inputs side by side, 32 bytes apart as an f16 row's do, where whole 4-bit words put them
   * 128 bytes apart. The order of a row's sum follows the unit, the same in every kernel of a
   * profile. Blocks of 4 rows (one lane a row) sum in the same order either way.
   */
  splitGroups: boolean;
  /**
   * Units (quantized.wgsl: a u32 of a group with `splitGroups`) of each of its rows a lane of a
   * quantized layer loads before it adds the first (linear.wgsl's UNITS_IN_FLIGHT): 1, 2 or 4.
   * A GPU hides memory latency with loads in flight, and a 4-bit unit is only 4 bytes: one at a
   * time, a thread of two rows waits on 8 bytes where an f16 thread waits on 32. The same bits.
   */
  unitsInFlight: number;
  /**
   * Steps of more tokens than the largest tile run linear_prefill.wgsl: tiles of rows and
   * tokens staged in workgroup memory, a thread 4 rows x 4 tokens of them.
   */
  prefill: boolean;
  /**
   * Quantized layers run the prefill kernel too (with `prefill`); else their longer steps run
   * as few tiles of the largest size as they need, which give the same bits.
   */
  prefillQuantized: boolean;
  /** Attention by a thread per head and token with no barriers (CPU adapters), not a workgroup. */
  serialAttention: boolean;
  /**
   * Prefill steps (TILED_ATTENTION_MIN_TOKENS or more tokens) attend in workgroups of several
   * (token, head) rows that share each key and value they read (attention_tiled.wgsl).
   */
  tiledAttention: boolean;
  /**
   * Positions a workgroup of attention walks past the first `attentionFine`: longer contexts
   * split into segments of this many, walked side by side and merged in order (a multiple of the
   * attention workgroup's width).
   */
  attentionSplit: number;
  /**
   * Positions before the SPLIT-wide segments that fall in segments of one workgroup's width (a
   * multiple of it, 0: none): a short context over a workgroup per tile, a long one in few
   * segments to merge (attention_segments.wgsl).
   */
  attentionFine: number;
  /**
   * Decode and verify steps whose context reaches this many positions attend with a workgroup
   * for each token's heads of a KV head (attention_tiled.wgsl with G = NH / NKV rows), reading
   * each cached key and value once for the G heads where attention.wgsl reads it G times. The
   * same bits. Infinity: never.
   */
  attentionGroupedFrom: number;
  /** Threads per workgroup of a kernel that reduces a row alone (RMSNorm, argmax, sampling). */
  rowWorkgroup: number;
  /**
   * RMSNorm folded into the projection that reads it (linear_norm.wgsl): the projection reads
   * the residual stream, times the norm's weight, sums its squares from the chunks it loads,
   * and scales each finished sum by the token's inverse RMS, so that decode and verify steps run
   * no norm dispatch (a Llama layer is 5 dispatches, not 7); prefill steps run norm_lanes.wgsl
   * before the prefill kernel, with the same sums. Blocks of 4 rows fold no norm.
   */
  fusedNorm: boolean;
  /**
   * A sampled speculative step applies the acceptance rule on the device (sampled-acceptance.ts)
   * and reads back its verdict; else it reads back the rows and the rule runs on the CPU, which
   * a software adapter, copying rows as fast as it runs kernels, is quicker at.
   */
  deviceAcceptance: boolean;
  /** Command buffers a forward step on an idle GPU is recorded and submitted in (the layers split evenly). */
  commandBuffers: number;
  /**
   * A speculative chain step on the device (a draft model's or an EAGLE head's, greedy or
   * sampled) records the next step's passes
   * while the GPU runs this one, so that after the readback they only need their uniforms
   * written and submitting (model/gpu-speculation.ts).
   */
  recordAhead: boolean;
}

export const GPU_PROFILE: KernelProfile = {
  rowBlock: 1,
  wordsPerLane: 16,
  minWorkgroups: 1024,
  subgroups: true,
  tiles: [2, 3, 4, 5, 6, 7, 8, 9, 16],
  // A verify tile of n tokens loads n input chunks for each weight chunk (H200: a 5-token pass
  // cost 1.46-1.73 decode steps, a 9-token one 4.08 of Llama-3.2-1B's). Decode too: on an H200
  // a q4f16_1 layer of Llama-3.1-8B's shapes read 0.99 TB/s two rows a thread against 0.82 one
  // (28672x4096), 0.81 against 0.52 (4096x14336), 0.61 against 0.50 (6144x4096), 0.38 against
  // 0.40 (4096x4096); Llama-3.2-1B's f16 decode step took 1.86 ms against 1.91
  // (bench/results/2026-12-04-h200-bench.txt, -profile.txt). --profile times one row a thread.
  twoRowsFrom: 1,
  // H200, q4f16_1 at Llama-3.1-8B's shapes, four rows a thread against two: 6144x4096 0.62
  // TB/s against 0.51 (49,152 threads that way), 4096x14336 0.88 against 0.82 (65,536),
  // 28672x4096 1.02 against 0.97 (229,376), but 4096x4096 0.42 against 0.50 (32,768); Q4_K
  // alike (bench/results/2026-12-04-h200-rerun-bench.json).
  fourRowsMinThreads: 49152,
  // Chosen by reading, not yet timed: an H200's 5-token verify of Llama-3.2-1B q4f16_1 took 1147
  // us in its gate|up layers two rows a thread where the decode step took 459 four rows a thread
  // (2.5 times; its other layers, two rows a thread both ways, 1.5-1.9 times: bench/results/
  // 2026-12-04-h200-fold-profile.json). --profile times a verify step's tile two rows a thread
  // beside.
  fourRowsTiles: 9,
  // H200, whole words: a q4 layer of Llama-3.1-8B's shapes read 0.37-0.40 TB/s where the same
  // f16 layer read 2.1-2.9 (bench/results/2026-12-01-h200-bench.txt), taking longer for a
  // quarter of the bytes. Each of a lane's 8 input loads for a word lands on a cache line of
  // its own; split units load their inputs as f16's lanes do. Chosen by that reading, not yet
  // timed: --profile and the kernel suite time whole words beside split units on a GPU.
  splitGroups: true,
  // Chosen by reading, not yet timed: on an H200 q4f16_1 layers of Llama-3.1-8B's shapes read
  // 0.40-1.02 TB/s one to four rows a thread (4 to 16 bytes of weights in flight a thread), the
  // same f16 layers 2.1-2.9 (32 bytes). --profile times one unit at a time beside this, and the
  // kernel suite the q4 layers both ways.
  unitsInFlight: 4,
  prefill: true,
  // H200, Llama-3.2-1B q4f16_1 after 1,024 positions, a 64-token step: 24.1 and 26.4 ms in tiles
  // of 16 against 32.9 and 33.0 with the prefill kernel, in two runs (25.0 against 26.5 in an
  // earlier one); its f16 layers ran faster with it (18.1 against 22.7 ms after 64 positions).
  // The fixtures' small q4 layers ran faster with it as well (0.7 against 0.9 ms): untimed
  // between those sizes (bench/results/2026-12-04-h200-*profile*.json).
  prefillQuantized: false,
  serialAttention: false,
  tiledAttention: true,
  // H200, a layer's attention past the one-tile segments (kernels.attention[]): Llama-3.2-1B
  // after 8,192 positions 0.155 ms in segments of 512, 0.094 in segments of 256 (5 tokens 0.185,
  // 0.127), after 32,768 0.180 and 0.133 (5 tokens 0.369, 0.359); Llama-3.1-8B q4f16_1 after
  // 8,192 0.124 and 0.079, after 32,768 0.165 and 0.176 (bench/results/2026-12-04-h200-fold-
  // bench.json). A workgroup walks four tiles, not eight; 32k positions merge 152 segments.
  attentionSplit: 256,
  // H200, Llama-3.2-1B q4f16_1 after 1,024 positions: a decode step took 2.16 ms in segments of
  // 64 and 3.55 in segments of 512, a 5-token verify 3.21 and 4.34, attention then 1.83 of the
  // step's 3.81 ms kernel by kernel (bench/results/2026-12-04-h200-profile-1024.txt). 32 tiles'
  // segments up to 2,048 positions; longer contexts merge 28 segments more than before.
  attentionFine: 2048,
  // Past the one-tile segments each cached key and value is read once for the G heads of its
  // KV head. H200, a layer's attention grouped against apart (segments of 512, same file as
  // attentionSplit's): Llama-3.1-8B q4f16_1 after 32,768 positions 0.165 ms against 0.274, its
  // 5-token verify 0.54 against 1.02; Llama-3.2-1B's 5-token verify 0.369 against 0.576, though
  // its decode step 0.180 against 0.171 (after 8,192: 0.155 against 0.140).
  attentionGroupedFrom: 2048,
  rowWorkgroup: 256,
  // H200, Llama-3.2-1B q4f16_1 after 1,024 positions: a decode step 1.86 ms folded against 1.98
  // with the norms apart, a 5-token verify 3.37 against 3.30; the fixture target's decode step
  // 0.35 against 0.81, the draft's 0.18 against 0.22 (bench/results/2026-12-04-h200-fold-
  // profile.txt). A prologue that formed norm.wgsl's sum before the weights streamed had cost
  // more than the dispatches it saved (2.09 ms against 1.92).
  fusedNorm: true,
  deviceAcceptance: true,
  commandBuffers: 8,
  recordAhead: true,
};
export const CPU_PROFILE: KernelProfile = {
  rowBlock: 4,
  wordsPerLane: Number.POSITIVE_INFINITY,
  minWorkgroups: 0,
  subgroups: false,
  tiles: [2, 3, 4, 5, 6],
  twoRowsFrom: Number.POSITIVE_INFINITY, // blocks of 4 rows a thread have no lanes
  fourRowsMinThreads: Number.POSITIVE_INFINITY, // blocks of 4 rows a thread have no lanes
  fourRowsTiles: 1,
  splitGroups: false, // one lane a row: the same order either way
  unitsInFlight: 1, // blocks of 4 rows have no lanes
  prefill: false,
  prefillQuantized: false,
  serialAttention: true,
  tiledAttention: false,
  attentionSplit: 512, // unused: the serial kernel walks every position itself
  attentionFine: 0,
  attentionGroupedFrom: Number.POSITIVE_INFINITY, // unused: the serial kernel serves every step
  rowWorkgroup: 4,
  fusedNorm: false, // blocks of 4 rows fold no norm; a barrier-free norm costs little here
  deviceAcceptance: false,
  commandBuffers: 1,
  recordAhead: true,
};

export function kernelProfile(info: GpuInfo): KernelProfile {
  return isCpuAdapter(info) ? CPU_PROFILE : GPU_PROFILE;
}
