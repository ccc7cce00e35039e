/**
 * The GPU's linear kernel for steps of many tokens (linear_prefill.wgsl): a workgroup stages a
 * tile of weight rows and of tokens' inputs in workgroup memory, and each thread computes 4 rows
 * x 4 tokens of it, so a load serves more products than linear.wgsl's tiles of 16 tokens can
 * (1.3-1.6 times fewer loads per product). It splits k over the same LANES lanes a row and adds
 * their sums by the same tree, so its bits are those of linear.wgsl.
 */

import { isQuantized } from '../loader/weights';
import code from './linear_prefill.wgsl?raw';
import {
  type KernelPlan,
  type LinearOutput,
  type LinearShape,
  type LinearVariant,
  linearCode,
  planLabel,
  scaleBytes,
  sharedConstants,
  valuesPerUnit,
  withNormScale,
  withShuffle,
} from './linear-shape';

// Threads a workgroup at most, where the device allows them (src/gpu/subgroups.ts probes as many).
const PREFILL_INVOCATIONS = 512;
const PREFILL_STORAGE = 32768; // bytes of workgroup memory at most, where the device has them
const PREFILL_TOKENS = 32; // a prefill runs in chunks of the model's maxBatch (64 by default)

/**
 * The tile for a layer of `lanes` lanes a row and units (words, or quantized words' u32s) of
 * `chunks` 4-value chunks:
 * threads along the tokens and along the rows, 4 of each a thread. Tokens grow first (each
 * weight word read then serves more of them) up to PREFILL_TOKENS, then rows, while the
 * workgroup keeps to `invocations` threads and `storage` bytes of workgroup memory, which holds
 * a step's words of TILE_R rows and 4-value chunks of TILE_N tokens, LANES of each a row, 16
 * bytes each (and `scaleBytes` for each quantized word's scales and high bits: linear-shape.ts;
 * of the tokens' chunks, two a word at a time), and later the lanes' sums, 64 bytes a thread. The
 * tile decides how work is shared out, never the order of a sum. (bench/README.md has what
 * larger workgroups gave on an H100.)
 */
export function prefillTile(lanes: number, chunks: number, storage: number, invocations: number, scaleBytes = 0) {
  const fits = (rowThreads: number, tokenThreads: number) =>
    lanes * rowThreads * tokenThreads <= invocations &&
    64 * lanes * rowThreads * tokenThreads <= storage &&
    4 * tokenThreads <= PREFILL_TOKENS &&
    16 * lanes * 4 * (rowThreads + tokenThreads * chunks) <= storage &&
    lanes * 4 * ((16 + scaleBytes) * rowThreads + 16 * tokenThreads * Math.min(chunks, 2)) <= storage;
  let rowThreads = 1;
  let tokenThreads = 1;
  for (;;) {
    if (fits(rowThreads, 2 * tokenThreads)) tokenThreads *= 2;
    else if (fits(2 * rowThreads, tokenThreads)) rowThreads *= 2;
    else return { rowThreads, tokenThreads };
  }
}

export function prefillPlan(
  device: GPUDevice,
  shape: LinearShape,
  output: LinearOutput,
  variant: Omit<Extract<LinearVariant, { kind: 'prefill' }>, 'kind'>,
): KernelPlan {
  const { lanes, shuffle } = variant;
  const splitGroups = variant.splitGroups ?? false;
  const storage = Math.min(device.limits.maxComputeWorkgroupStorageSize, PREFILL_STORAGE);
  const invocations = Math.min(device.limits.maxComputeInvocationsPerWorkgroup, PREFILL_INVOCATIONS);
  const chunks = valuesPerUnit(shape.dtype, splitGroups) / 4;
  const tile = prefillTile(lanes, chunks, storage, invocations, scaleBytes(shape.dtype));
  const rowsPerGroup = 4 * tile.rowThreads;
  const tileN = 4 * tile.tokenThreads;
  const shuffled = shuffle > 1 ? `shuffle ${shuffle} ` : '';
  const split = splitGroups && isQuantized(shape.dtype) ? ' split' : '';
  const norm = variant.norm ? ' norm' : '';
  return {
    label: planLabel(shape, tileN, `${shuffled}prefill ${rowsPerGroup}x${tileN}${split}${norm}`, output),
    code: withNormScale(linearCode(withShuffle(code, shuffle), output), output, variant.norm),
    constants: {
      ...sharedConstants(shape, output),
      LANES: lanes,
      SHUFFLE: shuffle,
      ROW_THREADS: tile.rowThreads,
      TOKEN_THREADS: tile.tokenThreads,
      SPLIT_GROUPS: splitGroups,
    },
    rowsPerGroup,
    tileN,
  };
}
