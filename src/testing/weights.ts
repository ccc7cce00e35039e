/**
 * Weights for kernel tests as the GPU receives them: f32 as they are, f16 and bf16 packed in
 * 16-bit words, together with the exact values those words stand for (what a reference must use).
 */

import { f32ToF16, widenBF16, widenF16 } from '../loader/half';
import type { WeightDType } from '../loader/weights';

export function packWeights(dtype: WeightDType, values: Float32Array) {
  if (dtype === 'F32') return { packed: values, values };
  const packed = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    // bf16 by truncation is enough here: the test needs exact values, not the best rounding
    packed[i] = dtype === 'F16' ? f32ToF16(values[i]) : new Uint32Array(Float32Array.of(values[i]).buffer)[0] >>> 16;
  }
  return { packed, values: dtype === 'F16' ? widenF16(packed) : widenBF16(packed) };
}
