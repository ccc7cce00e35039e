/**
 * The CPU adapter's linear kernel (linear_blocked.wgsl): each thread computes a block of 4
 * weight rows for a tile of up to 8 tokens, with no barrier, since a software adapter runs
 * threads as SIMD lanes and pays for every load and dearly for barriers: each weight load
 * serves the tile's tokens, each input load 4 rows. A row's sum runs in the order of one lane
 * a row in linear.wgsl, so the bits are those of the lanes kernel with LANES = 1.
 */

import code from './linear_blocked.wgsl?raw';
import {
  type KernelPlan,
  type LinearOutput,
  type LinearShape,
  linearCode,
  planLabel,
  sharedConstants,
} from './linear-shape';

const WORKGROUP = 32; // threads, 4 rows each: 128 rows a workgroup
const MAX_TILE_N = 8; // 4 rows x 8 tokens of sums a thread

export function blockedPlan(shape: LinearShape, output: LinearOutput, variant: { tileN: number }): KernelPlan {
  const { tileN } = variant;
  if (!(Number.isInteger(tileN) && tileN >= 1 && tileN <= MAX_TILE_N)) {
    throw new RangeError(`linear: blocks of 4 rows take tileN 1 to ${MAX_TILE_N}, not ${tileN}`);
  }
  return {
    label: planLabel(shape, tileN, 'blocked', output),
    code: linearCode(code, output),
    constants: { ...sharedConstants(shape, output), WG: WORKGROUP, TILE_N: tileN },
    rowsPerGroup: 4 * WORKGROUP,
    tileN,
  };
}
