/**
 * The linear layer on the GPU: y = x W^T + bias, optionally added into y (a fused residual
 * add), for f32, f16 or bf16 weights, or with an epilogue that takes the place of the next
 * kernel: SwiGLU's gate after the gate|up projection, RoPE and the KV-cache write after the
 * q|k|v projection. GPUs run linear.wgsl (lanes of a workgroup share each row, and end their
 * reduction with subgroup shuffles where the device has them) and, for steps of many tokens,
 * linear_prefill.wgsl (the same sums over tiles staged in workgroup memory); CPU adapters run
 * linear_blocked.wgsl (each thread a block of 4 rows). One pipeline per weight shape, format,
 * tile and epilogue, built at load; bind groups built at load; `encode` only records a dispatch.
 */

import type { WeightDType } from '../loader/weights';
import ropeCode from './epilogue_rope.wgsl?raw';
import siluGateCode from './epilogue_silu_gate.wgsl?raw';
import { ComputeKernel } from './kernel';
import code from './linear.wgsl?raw';
import blockedCode from './linear_blocked.wgsl?raw';
import prefillCode from './linear_prefill.wgsl?raw';
import type { HeadShape } from './ops';

const MAX_TILE_N = 16;
const MAX_BLOCKED_TILE_N = 8; // linear_blocked.wgsl keeps 4 rows x 8 tokens of sums
const MAX_GRID = 65535;
const FORMATS: Record<WeightDType, number> = { F32: 0, F16: 1, BF16: 2 };

/**
 * What becomes of a pair of rows' sums (linear.wgsl, PAIR_SPAN): 'silu-gate' (weights: gate
 * then up, 2f rows) writes silu(gate) * up, (tokens, f); 'rope' (weights: q, k and v heads)
 * writes rotated queries to y, (tokens, nh, hd), and rotated keys and the values into the KV
 * cache at the step's positions.
 */
export type LinearEpilogue = { kind: 'silu-gate' } | { kind: 'rope'; heads: HeadShape };

export interface LinearBuffers {
  step: GPUBuffer;
  weight: GPUBuffer; // (rows, k)
  bias: GPUBuffer; // (rows)
  x: GPUBuffer; // (tokens, k)
  y: GPUBuffer; // (tokens, rows), or the epilogue's output
  /** The 'rope' epilogue's tables, (positions, hd/2) each, and the KV cache, (capacity, nkv, hd) each */
  rope?: { cos: GPUBuffer; sin: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer };
}

export interface LinearShape {
  rows: number; // weight rows: output features, or twice the outputs with an epilogue
  k: number; // input features: a multiple of 4 (f32) or 8 (f16, bf16)
  dtype?: WeightDType;
  /** Tokens per workgroup: 1 for the decode pipeline, up to 16 for verify passes. */
  tileN?: number;
  /** linear_prefill.wgsl: tiles of rows and tokens in workgroup memory (its tile is chosen, see prefillTile). */
  prefill?: boolean;
  accumulate?: boolean;
  /** At least this many words per lane before lanes are added (see KernelProfile). */
  wordsPerLane?: number;
  /** More lanes until the layer spans this many workgroups (see KernelProfile). */
  minWorkgroups?: number;
  /** Rows a thread computes: 1 (lanes share rows, linear.wgsl) or 4 (linear_blocked.wgsl; tileN up to 8). */
  rowBlock?: 1 | 4;
  /** Lanes that may reduce by subgroup shuffles: `Gpu.subgroupShuffle`, or 1 for none. */
  shuffle?: number;
  epilogue?: LinearEpilogue;
}

// linear.wgsl and linear_prefill.wgsl end their reduction tree with `lane_shuffle_xor` when SHUFFLE > 1.
const WITH_SUBGROUPS = (code: string) =>
  `enable subgroups;\n${code}\nfn lane_shuffle_xor(v: f32, mask: u32) -> f32 { return subgroupShuffleXor(v, mask); }\n`;
const WITHOUT_SUBGROUPS = (code: string) =>
  `${code}\n// Never called: SHUFFLE is 1 without subgroups.\nfn lane_shuffle_xor(v: f32, mask: u32) -> f32 { return v; }\n`;
// Both linear kernels call `store_pair` when PAIR_SPAN > 0.
const EPILOGUES = {
  none: '// Never called: PAIR_SPAN is 0.\nfn store_pair(j: u32, n: u32, a: f32, b: f32) {}\n',
  'silu-gate': siluGateCode,
  rope: ropeCode,
};

const WORKGROUP = 64;
// Threads a workgroup at most, where the device allows them (src/gpu/subgroups.ts probes as many).
const PREFILL_INVOCATIONS = 512;
const PREFILL_STORAGE = 32768; // bytes of workgroup memory at most, where the device has them
const PREFILL_TOKENS = 32; // a prefill runs in chunks of the model's maxBatch (64 by default)
const BLOCKED_WORKGROUP = 32; // threads, 4 rows each: 128 rows a workgroup

/**
 * Threads per row: enough that each adds at least `wordsPerLane` words of the row, and more
 * (while each still gets two words) until the layer spans `minWorkgroups` workgroups, so that
 * a small layer still fills a GPU. Lanes depend on the layer's shape and the device's profile
 * alone (never on the token count), which keeps the summation order, and so every bit of the
 * result, the same for any batch.
 */
export function linearLanes(words: number, wordsPerLane: number, rows = 0, minWorkgroups = 0): number {
  let lanes = 1;
  while (lanes < WORKGROUP && lanes * wordsPerLane * 2 <= words) lanes *= 2;
  while (lanes < WORKGROUP && lanes * 2 * 2 <= words && (rows * lanes) / WORKGROUP < minWorkgroups) lanes *= 2;
  return lanes;
}

export class LinearKernel extends ComputeKernel {
  readonly rows: number;
  readonly k: number;
  /** Tokens a workgroup serves: a step of n tokens runs ceil(n / tileN) workgroups along z. */
  readonly tileN: number;
  readonly epilogue?: LinearEpilogue;
  private readonly gridX: number;
  private readonly gridY: number;

  constructor(device: GPUDevice, shape: LinearShape) {
    const { rows, k, dtype = 'F32', accumulate = false, wordsPerLane = 16, minWorkgroups = 0 } = shape;
    const { epilogue, prefill = false } = shape;
    const blocked = shape.rowBlock === 4;
    const shuffle = shape.shuffle ?? 1;
    if (shuffle < 1 || (shuffle & (shuffle - 1)) !== 0) {
      throw new RangeError(`linear: shuffle = ${shuffle} must be a power of two`);
    }
    const valuesPerWord = dtype === 'F32' ? 4 : 8;
    if (k % valuesPerWord !== 0) {
      throw new RangeError(`linear: k = ${k} must be a multiple of ${valuesPerWord} for ${dtype} weights`);
    }
    if (prefill && (blocked || shape.tileN !== undefined)) {
      throw new RangeError('linear: the prefill kernel chooses its own tile, and has no blocks of 4 rows');
    }
    const pairSpan = epilogue ? pairSpanOf(epilogue, rows, accumulate) : 0;
    // Lanes follow the weight rows, so a layer sums in the same order with or without an
    // epilogue, and in either GPU kernel.
    const lanes = blocked ? 1 : linearLanes(k / valuesPerWord, wordsPerLane, rows, minWorkgroups);
    const storage = Math.min(device.limits.maxComputeWorkgroupStorageSize, PREFILL_STORAGE);
    const invocations = Math.min(device.limits.maxComputeInvocationsPerWorkgroup, PREFILL_INVOCATIONS);
    const tile = prefill ? prefillTile(lanes, valuesPerWord / 4, storage, invocations) : undefined;
    const tileN = tile ? 4 * tile.tokenThreads : (shape.tileN ?? 1);
    if (!tile && !(Number.isInteger(tileN) && tileN >= 1 && tileN <= MAX_TILE_N)) {
      throw new RangeError(`linear: tileN = ${tileN} must be a whole number from 1 to ${MAX_TILE_N}`);
    }
    if (blocked && tileN > MAX_BLOCKED_TILE_N) {
      throw new RangeError(`linear: blocks of 4 rows take tileN 1 to ${MAX_BLOCKED_TILE_N}, not ${tileN}`);
    }
    // A pair's rows share a workgroup (in linear.wgsl as its first and second half of rows), so
    // it takes at least two rows; either way a workgroup computes as many weight rows.
    const workgroup = epilogue ? Math.max(WORKGROUP, 2 * lanes) : WORKGROUP;
    const rowsPerGroup = tile ? 4 * tile.rowThreads : blocked ? BLOCKED_WORKGROUP * 4 : workgroup / lanes;
    const groups = Math.ceil(rows / rowsPerGroup); // workgroups along the rows
    const gridX = Math.min(groups, MAX_GRID);
    const lanesCode = prefill ? prefillCode : code;
    const kernel = blocked ? blockedCode : shuffle > 1 ? WITH_SUBGROUPS(lanesCode) : WITHOUT_SUBGROUPS(lanesCode);
    const variant =
      (blocked ? ' blocked' : shuffle > 1 ? ` shuffle ${shuffle}` : '') +
      (tile ? ` prefill ${rowsPerGroup}x${tileN}` : '') +
      (epilogue ? ` ${epilogue.kind}` : '');
    const heads = epilogue?.kind === 'rope' ? epilogue.heads : undefined;
    const threads: Record<string, number> = tile
      ? { LANES: lanes, SHUFFLE: shuffle, ROW_THREADS: tile.rowThreads, TOKEN_THREADS: tile.tokenThreads }
      : blocked
        ? { WG: BLOCKED_WORKGROUP, TILE_N: tileN }
        : { WG: workgroup, LANES: lanes, SHUFFLE: shuffle, TILE_N: tileN };
    super(
      device,
      `linear ${dtype} ${rows}x${k}/${tileN}${variant}`,
      `${kernel}\n${EPILOGUES[epilogue?.kind ?? 'none']}`,
      {
        ROWS: rows,
        K: k,
        FORMAT: FORMATS[dtype],
        GRID_X: gridX,
        ACCUMULATE: accumulate,
        PAIR_SPAN: pairSpan,
        ...threads,
        ...(heads ? { NH: heads.numHeads, NKV: heads.numKvHeads, HD: heads.headDim } : {}),
      },
    );
    this.rows = rows;
    this.k = k;
    this.tileN = tileN;
    this.epilogue = epilogue;
    this.gridX = gridX;
    this.gridY = Math.ceil(groups / gridX);
  }

  /** Binds the buffers (see LinearBuffers; `rope` with the 'rope' epilogue only). */
  bind(b: LinearBuffers): GPUBindGroup {
    const buffers = [b.step, b.weight, b.bias, b.x, b.y];
    if (this.epilogue?.kind === 'rope') {
      if (!b.rope) throw new Error(`${this.pipeline.label}: the rope epilogue needs its tables and the KV cache`);
      buffers.push(b.rope.cos, b.rope.sin, b.rope.kCache, b.rope.vCache);
    }
    return this.bindAll(buffers);
  }

  /** Records the layer for `tokens` tokens (the same count the step uniform holds). */
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, tokens: number): void {
    this.dispatch(pass, bindGroup, this.gridX, this.gridY, Math.ceil(tokens / this.tileN));
  }
}

/**
 * The prefill kernel's tile (linear_prefill.wgsl) for a layer of `lanes` lanes a row and
 * weight words of `chunks` 4-value chunks: threads along the tokens and along the rows, 4 of
 * each a thread. Tokens grow first (each weight word read then serves more of them) up to
 * PREFILL_TOKENS, then rows, while the workgroup keeps to `invocations` threads and `storage`
 * bytes of workgroup memory, which holds a step's words of TILE_R rows and 4-value chunks of
 * TILE_N tokens, LANES of each a row, 16 bytes each, and later the lanes' sums, 64 bytes a
 * thread. On an H100, 512 threads (where WebGPU's default limit allows 256) made a 64-token
 * step of Llama-3.2-1B's shape 10% faster (bench --profile: 17.5 against 19.4 ms). The tile
 * decides how work is shared out, never the order of a sum.
 */
export function prefillTile(lanes: number, chunks: number, storage: number, invocations: number) {
  const fits = (rowThreads: number, tokenThreads: number) =>
    lanes * rowThreads * tokenThreads <= invocations &&
    64 * lanes * rowThreads * tokenThreads <= storage &&
    4 * tokenThreads <= PREFILL_TOKENS &&
    16 * lanes * 4 * (rowThreads + tokenThreads * chunks) <= storage;
  let rowThreads = 1;
  let tokenThreads = 1;
  for (;;) {
    if (fits(rowThreads, 2 * tokenThreads)) tokenThreads *= 2;
    else if (fits(2 * rowThreads, tokenThreads)) rowThreads *= 2;
    else return { rowThreads, tokenThreads };
  }
}

/** How far apart an epilogue's paired rows are (PAIR_SPAN in linear.wgsl), after checking the shape. */
function pairSpanOf(epilogue: LinearEpilogue, rows: number, accumulate: boolean): number {
  if (accumulate) throw new RangeError(`linear: the ${epilogue.kind} epilogue does not accumulate`);
  if (epilogue.kind === 'silu-gate') {
    if (rows % 2 !== 0) throw new RangeError(`linear: silu-gate needs gate and up rows, an even count, not ${rows}`);
    return rows / 2;
  }
  const { numHeads, numKvHeads, headDim } = epilogue.heads;
  if (rows !== (numHeads + 2 * numKvHeads) * headDim || headDim % 2 !== 0) {
    throw new RangeError(
      `linear: rope needs (${numHeads} + 2 x ${numKvHeads}) heads of an even ${headDim} rows, not ${rows}`,
    );
  }
  return headDim / 2;
}
