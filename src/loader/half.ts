/**
 * Half-precision floats, widened to float32 for the reference model and for tests.
 *   f16  (IEEE binary16): 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals below 2^-14.
 *   bf16 (bfloat16):      the top 16 bits of a float32, so widening is a shift.
 */

export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The little-endian f16 at byte `at` of `view`, widened. */
export const readF16 = (view: DataView, at: number) => f16ToF32(view.getUint16(at, true));

export function widenF16(packed: Uint16Array): Float32Array {
  const out = new Float32Array(packed.length);
  for (let i = 0; i < packed.length; i++) out[i] = f16ToF32(packed[i]);
  return out;
}

export function widenBF16(packed: Uint16Array): Float32Array {
  const bits = new Uint32Array(packed.length);
  for (let i = 0; i < packed.length; i++) bits[i] = packed[i] << 16;
  return new Float32Array(bits.buffer);
}

/** One float32 and its bits, so that rounding a value allocates nothing (loaders call it per group). */
const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** Rounds float32 values to f16 bits (round to nearest even): for loaders, tests and random models. */
export function f32ToF16(value: number): number {
  scratch[0] = value;
  const x = scratchBits[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    const half = 1 << (shift - 1);
    const rounded = (mantissa + half - 1 + ((mantissa >>> shift) & 1)) >>> shift;
    return sign | rounded;
  }
  const rounded = (mantissa + 0xfff + ((mantissa >>> 13) & 1)) >>> 13;
  return (sign | (exponent << 10)) + rounded; // a carry into the exponent is correct rounding
}
