/**
 * The GPU's linear kernel (linear.wgsl): a workgroup of 64 threads (more with a pair epilogue
 * whose pairs span more lanes) computes 64 / LANES weight rows, LANES threads a row, for a tile
 * of TILE_N tokens held in registers, so each weight read serves the whole tile; or, two rows a
 * thread, twice as many rows, each input read serving both; or, four rows a thread (tiles of up
 * to 12 tokens), four times as many. A lane of a quantized row may load its next 2 or 4 units before
 * adding the first, so that their loads are in flight together.
 *
 * LANES is a function of the layer's shape and the device's profile (`linearLanes`), never of
 * the token count, so every tile sums a row in one order: a token's result is the same bits
 * in a decode step, a verify pass and a prefill chunk.
 */

import { isQuantized } from '../loader/weights';
import code from './linear.wgsl?raw';
import {
  type KernelPlan,
  type LinearOutput,
  type LinearShape,
  type LinearVariant,
  linearCode,
  normConstants,
  planLabel,
  sharedConstants,
  withNorm,
  withShuffle,
} from './linear-shape';

const WORKGROUP = 64;
const MAX_TILE_N = 16;
/** Four rows a thread hold a tile's sums of all four in workgroup memory (linear.wgsl's `partial`): 12 tokens fit. */
export const MAX_FOUR_ROWS_TILE_N = 12;

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

export function lanesPlan(
  shape: LinearShape,
  output: LinearOutput,
  variant: Omit<Extract<LinearVariant, { kind: 'lanes' }>, 'kind'>,
): KernelPlan {
  const { tileN, lanes, shuffle, norm } = variant;
  const fourRows = variant.fourRows ?? false;
  const twoRows = fourRows || (variant.twoRows ?? false);
  if (fourRows && tileN > MAX_FOUR_ROWS_TILE_N) {
    throw new RangeError(
      `linear: four rows a thread serve tiles of up to ${MAX_FOUR_ROWS_TILE_N} tokens, not ${tileN}`,
    );
  }
  const splitGroups = variant.splitGroups ?? false;
  const unitsInFlight = isQuantized(shape.dtype) ? (variant.unitsInFlight ?? 1) : 1;
  if (![1, 2, 4].includes(unitsInFlight)) {
    throw new RangeError(`linear: ${unitsInFlight} units in flight, where a lane loads 1, 2 or 4`);
  }
  if (!(Number.isInteger(tileN) && tileN >= 1 && tileN <= MAX_TILE_N)) {
    throw new RangeError(`linear: tileN = ${tileN} must be a whole number from 1 to ${MAX_TILE_N}`);
  }
  // One row a thread, a pair's rows share a workgroup (its first and second half of rows), so
  // it takes at least two rows; two rows a thread, a thread takes a pair (four rows, two pairs).
  const paired = output.kind === 'gate' || output.kind === 'rope';
  const workgroup = paired && !twoRows ? Math.max(WORKGROUP, 2 * lanes) : WORKGROUP;
  const named = [
    shuffle > 1 ? `shuffle ${shuffle}` : '',
    fourRows ? 'four rows' : twoRows ? 'two rows' : '',
    splitGroups && isQuantized(shape.dtype) ? 'split' : '',
    unitsInFlight > 1 ? `${unitsInFlight} in flight` : '',
    norm ? 'norm' : '',
  ];
  return {
    label: planLabel(shape, tileN, named.filter(Boolean).join(' '), output),
    code: withNorm(linearCode(withShuffle(code, shuffle), output), output, norm),
    constants: {
      ...sharedConstants(shape, output),
      ...normConstants(norm),
      WG: workgroup,
      LANES: lanes,
      SHUFFLE: shuffle,
      TILE_N: tileN,
      TWO_ROWS: twoRows,
      FOUR_ROWS: fourRows,
      SPLIT_GROUPS: splitGroups,
      UNITS_IN_FLIGHT: unitsInFlight,
    },
    rowsPerGroup: ((fourRows ? 4 : twoRows ? 2 : 1) * workgroup) / lanes,
    tileN,
  };
}
