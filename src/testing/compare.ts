/**
 * The one comparison used by every numeric test: |actual - expected| <= atol + rtol * |expected|
 * elementwise, reporting the worst element so a failure says where and by how much.
 */

import { expect } from 'vitest';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance) {
  let worst = { index: -1, actual: 0, expected: 0, excess: Number.NEGATIVE_INFINITY };
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (tol.atol + tol.rtol * Math.abs(expected[i]));
    if (!(excess <= worst.excess) || Number.isNaN(actual[i])) {
      worst = { index: i, actual: actual[i], expected: expected[i], excess: Number.isNaN(excess) ? Infinity : excess };
    }
  }
  return worst;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'values') {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const worst = maxError(actual, expected, tol);
  const where = `${what}[${worst.index}] = ${worst.actual}, expected ${worst.expected} (atol ${tol.atol}, rtol ${tol.rtol})`;
  expect(worst.excess <= 0, where).toBe(true);
}

/** Bitwise equality of two float arrays (batch invariance, cache reuse): reports the first difference. */
export function expectBitwiseEqual(actual: Float32Array, expected: Float32Array, what = 'values') {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const first = a.findIndex((bits, i) => bits !== b[i]);
  expect(first, first < 0 ? '' : `${what}[${first}] = ${actual[first]}, expected ${expected[first]} bit for bit`).toBe(
    -1,
  );
}
