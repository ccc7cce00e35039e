/**
 * A tensor's values, whatever its stored type: f32 as it is, f16 and bf16 widened, 4- to 8-bit
 * groups dequantized (exactly, see q4.ts, q5.ts, q6.ts, iq4.ts and q8.ts). And a model's
 * weights quantized as MLC's q4 quantizes them.
 */

import { widenBF16, widenF16 } from './half';
import { dequantizeIQ4, isLevelDType, LEVELS } from './iq4';
import { dequantizeQ4, dequantizeQ4Affine, quantizeQ4 } from './q4';
import { dequantizeQ5 } from './q5';
import { dequantizeQ6, dequantizeQ6_K } from './q6';
import { dequantizeQ8, dequantizeQ8_0, dequantizeQ8Affine } from './q8';
import { isQuantized, type ModelWeights, type WeightTensor } from './weights';

export function toFloat32(tensor: WeightTensor): Float32Array {
  if (tensor.dtype === 'F32') return tensor.data as Float32Array;
  if (isQuantized(tensor.dtype)) {
    const [rows, k] = tensor.shape;
    if (tensor.dtype === 'Q5_K' || tensor.dtype === 'Q6A' || tensor.dtype === 'Q6_K') {
      const matrix = { weights: tensor.data as Uint32Array, scales: tensor.scales as Uint32Array };
      const dequantize = { Q5_K: dequantizeQ5, Q6A: dequantizeQ6, Q6_K: dequantizeQ6_K }[tensor.dtype];
      return dequantize(matrix, rows * k);
    }
    if (isLevelDType(tensor.dtype)) {
      const matrix = { weights: tensor.data as Uint32Array, scales: tensor.scales as Float32Array };
      return dequantizeIQ4(matrix, rows * k, LEVELS[tensor.dtype]);
    }
    if (tensor.dtype === 'Q8_0') {
      return dequantizeQ8_0({ weights: tensor.data as Uint32Array, scales: tensor.scales as Uint16Array }, rows * k);
    }
    if (tensor.dtype === 'Q8' || tensor.dtype === 'Q8A') {
      const matrix = { weights: tensor.data as Uint32Array, scales: tensor.scales as Float32Array };
      return (tensor.dtype === 'Q8' ? dequantizeQ8 : dequantizeQ8Affine)(matrix, rows * k);
    }
    const matrix = { weights: tensor.data as Uint32Array, scales: tensor.scales as Uint16Array };
    if (tensor.dtype === 'Q4_K') return dequantizeQ4Affine(matrix, rows, k);
    return dequantizeQ4(matrix, rows, k, tensor.dtype === 'Q4_0' ? 8 : 7);
  }
  return tensor.dtype === 'F16' ? widenF16(tensor.data as Uint16Array) : widenBF16(tensor.data as Uint16Array);
}

/**
 * A Gemma norm weight back from what llama.cpp's converter and mlc-llm's loader store, w + 1
 * (the model multiplies by 1 + w). In f32, stored - 1 is exact for stored values from 1/2 up
 * (w from -1/2: Sterbenz's lemma below 2, the ulp dividing 1 above), so one plus the weight read
 * back is the stored value, what llama.cpp and MLC's runtime multiply by.
 */
export function minusOne(tensor: WeightTensor): WeightTensor {
  const stored = toFloat32(tensor);
  return { ...tensor, dtype: 'F32', data: stored.map((v) => v - 1) };
}

/** `weights` with every matrix quantized to q4 (q4f16_1 or q4f32_1); norms and biases kept as they are. */
export function quantizeWeights(weights: ModelWeights, dtype: 'Q4F16' | 'Q4F32'): ModelWeights {
  const out: ModelWeights = new Map();
  for (const [name, tensor] of weights) {
    if (tensor.shape.length !== 2) {
      out.set(name, tensor);
      continue;
    }
    const [rows, k] = tensor.shape;
    const q4 = quantizeQ4(toFloat32(tensor), rows, k, dtype === 'Q4F16' ? 'F16' : 'F32');
    out.set(name, { name, dtype, shape: tensor.shape, data: q4.weights, scales: q4.scales });
  }
  return out;
}
