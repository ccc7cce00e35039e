/** How the subgroup probe's readings become a shuffle width (the probe itself runs in the GPU tests). */

import { describe, expect, it } from 'vitest';
import { shuffleWidth } from './subgroups';

/** (lane, size) pairs for `groups` workgroups of `workgroup` lanes, laid out by `laneOf`. */
function pairs(workgroup: number, groups: number, size: number, laneOf = (t: number) => t % size) {
  const words = new Uint32Array(workgroup * groups * 2);
  for (let i = 0; i < workgroup * groups; i++) {
    words[2 * i] = laneOf(i % workgroup);
    words[2 * i + 1] = size;
  }
  return words;
}

const inOrder = (t: number) => t;
const reversedIn32 = (t: number) => 31 - (t % 32);
const modulo24 = (t: number) => t % 24;
const allZero = () => 0;

describe('shuffleWidth', () => {
  it('is the subgroup size when subgroups are aligned runs of lanes', () => {
    expect(shuffleWidth(pairs(64, 4, 32), 64)).toBe(32);
    expect(shuffleWidth(pairs(64, 4, 4), 64)).toBe(4);
  });

  it('is bounded by the adapter minimum and the workgroup', () => {
    expect(shuffleWidth(pairs(64, 4, 32), 64, 8)).toBe(8);
    expect(shuffleWidth(pairs(64, 4, 32), 64, 12)).toBe(8);
    expect(shuffleWidth(pairs(64, 2, 128, inOrder), 64)).toBe(64);
  });

  it('is 1 when lanes are not laid out in order, or sizes are odd or vary', () => {
    expect(shuffleWidth(pairs(64, 4, 32, reversedIn32), 64)).toBe(1);
    expect(shuffleWidth(pairs(64, 4, 24, modulo24), 64)).toBe(1);
    expect(shuffleWidth(pairs(64, 4, 1, allZero), 64)).toBe(1);
    const mixed = pairs(64, 4, 32);
    mixed[mixed.length - 1] = 16;
    expect(shuffleWidth(mixed, 64)).toBe(1);
  });
});
