import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16, widenBF16 } from './half';

describe('half precision', () => {
  it('decodes f16 normals, subnormals, zero, infinities and NaN', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('rounds float32 to the nearest f16 (ties to even) and back', () => {
    for (let bits = 0; bits < 0x7c00; bits += 7) expect(f32ToF16(f16ToF32(bits))).toBe(bits);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // halfway: ties to even (down)
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway: ties to even (up)
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(-(2 ** -25) * 1.5)).toBe(0x8001);
  });

  it('widens bf16 by placing its bits on top of a float32', () => {
    expect(Array.from(widenBF16(Uint16Array.from([0x3f80, 0xc040, 0x0000])))).toEqual([1, -3, 0]);
  });
});
