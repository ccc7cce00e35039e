/**
 * Weights for kernel tests as the GPU receives them: f32 as they are, f16 and bf16 packed in
 * 16-bit words, q4 as MLC quantizes them (values, then scales) or as ggml's Q4_0 / Q4_K (and
 * Q8_0) repacked, q5 with an f16 (scale, min) pair for each group of 32, q6 for each 16 (or
 * Q6_K's d and int8 scales), level
 * indices (IQ4's or a lattice type's levels) with a scale for each 32, q8 with a scale (or a scale and a min) of its own for
 * each group of 16 (f16 values, as ggml's are), together with the exact values those words
 * stand for (what a reference must use).
 */

import { GGML_TYPES, repackQ4_0, repackQ4Affine, repackQ8_0 } from '../loader/gguf-quants';
import { f16ToF32, f32ToF16, widenBF16, widenF16 } from '../loader/half';
import { IQ4_GROUP, isLevelDType, LEVELS, packIQ4, SCALES_PER_16 } from '../loader/iq4';
import { dequantizeQ4, quantizeQ4 } from '../loader/q4';
import { packQ5, Q5_GROUP } from '../loader/q5';
import { packQ6, packQ6_K } from '../loader/q6';
import { Q8_GROUP } from '../loader/q8';
import { toFloat32 } from '../loader/tensors';
import type { WeightDType } from '../loader/weights';
import { matrixBuffer } from '../model/gpu-weights';
import { quantizeQ4_0Blocks, quantizeQ4_KBlocks, quantizeQ8_0Blocks } from './gguf-writer';

export function packWeights(
  dtype: WeightDType,
  values: Float32Array,
): { packed: ArrayBufferView; values: Float32Array } {
  if (dtype === 'F32') return { packed: values, values };
  if (dtype === 'Q4_0' || dtype === 'Q4_K' || dtype === 'Q8_0') {
    const repacked =
      dtype === 'Q4_0'
        ? repackQ4_0(quantizeQ4_0Blocks(values), values.length)
        : dtype === 'Q8_0'
          ? repackQ8_0(quantizeQ8_0Blocks(values), values.length)
          : repackQ4Affine(GGML_TYPES[12], quantizeQ4_KBlocks(values), values.length);
    const tensor = { name: 'w', dtype, shape: [1, values.length], data: repacked.weights, scales: repacked.scales };
    return { packed: matrixBuffer(tensor), values: toFloat32(tensor) };
  }
  if (dtype === 'Q6_K') {
    const matrix = q6KGroups(values);
    const tensor = { name: 'w', dtype, shape: [1, values.length], data: matrix.weights, scales: matrix.scales };
    return { packed: matrixBuffer(tensor), values: toFloat32(tensor) };
  }
  if (dtype === 'Q5_K' || dtype === 'Q6A') {
    // Q5_K: a pair per group of 32, 31 steps; Q6A: a pair per 16 values, 63 steps.
    const [size, steps, pack] = dtype === 'Q5_K' ? [Q5_GROUP, 31, packQ5] : [16, 63, packQ6];
    const { q, scales, mins } = affineGroups(values, size, steps);
    const pairs = Uint16Array.from({ length: 2 * scales.length }, (_, i) =>
      f32ToF16(i % 2 ? mins[i >> 1] : scales[i >> 1]),
    );
    const { weights, scales: packed } = pack(q, pairs);
    const tensor = { name: 'w', dtype, shape: [1, values.length], data: weights, scales: packed };
    return { packed: matrixBuffer(tensor), values: toFloat32(tensor) };
  }
  if (isLevelDType(dtype)) {
    const matrix = levelGroups(values, LEVELS[dtype], SCALES_PER_16.includes(dtype) ? 16 : IQ4_GROUP);
    const tensor = { name: 'w', dtype, shape: [1, values.length], data: matrix.weights, scales: matrix.scales };
    return { packed: matrixBuffer(tensor), values: toFloat32(tensor) };
  }
  if (dtype === 'Q8A') {
    const { q, scales, mins } = affineGroups(values, Q8_GROUP, 255);
    const pairs = Float32Array.from({ length: 2 * scales.length }, (_, i) => (i % 2 ? mins[i >> 1] : scales[i >> 1]));
    const tensor = { name: 'w', dtype, shape: [1, values.length], data: new Uint32Array(q.buffer), scales: pairs };
    return { packed: matrixBuffer(tensor), values: toFloat32(tensor) };
  }
  if (dtype === 'Q8') {
    const q = new Int8Array(values.length);
    const scales = new Float32Array(values.length / Q8_GROUP);
    for (let g = 0; g < scales.length; g++) {
      const group = values.subarray(Q8_GROUP * g, Q8_GROUP * (g + 1));
      const scale = f16ToF32(f32ToF16(Math.max(...group.map(Math.abs)) / 127));
      scales[g] = scale;
      group.forEach((v, i) => {
        q[Q8_GROUP * g + i] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(v / scale)));
      });
    }
    const tensor = { name: 'w', dtype, shape: [1, values.length], data: new Uint32Array(q.buffer), scales };
    return { packed: matrixBuffer(tensor), values: toFloat32(tensor) };
  }
  if (dtype === 'Q4F16' || dtype === 'Q4F32') {
    // Groups of 32 never straddle a row (k is a multiple of 32): the matrix quantizes as one long row.
    const q4 = quantizeQ4(values, 1, values.length, dtype === 'Q4F16' ? 'F16' : 'F32');
    const tensor = { name: 'w', dtype, shape: [1, values.length], data: q4.weights, scales: q4.scales };
    return { packed: matrixBuffer(tensor), values: dequantizeQ4(q4, 1, values.length) };
  }
  const packed = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    // bf16 by truncation is enough here: the test needs exact values, not the best rounding
    packed[i] = dtype === 'F16' ? f32ToF16(values[i]) : new Uint32Array(Float32Array.of(values[i]).buffer)[0] >>> 16;
  }
  return { packed, values: dtype === 'F16' ? widenF16(packed) : widenBF16(packed) };
}

/**
 * Each group of `size` values over `steps` steps from its least value: unsigned integers q and
 * an f16 (scale, min) per group (as f32 numbers), the values q scale - min.
 */
function affineGroups(values: Float32Array, size: number, steps: number) {
  const q = new Uint8Array(values.length);
  const scales = new Float32Array(values.length / size);
  const mins = new Float32Array(values.length / size);
  for (let g = 0; g < scales.length; g++) {
    const group = values.subarray(size * g, size * (g + 1));
    const low = f16ToF32(f32ToF16(Math.min(...group)));
    const scale = f16ToF32(f32ToF16((Math.max(...group) - low) / steps));
    scales[g] = scale;
    mins[g] = -low;
    group.forEach((v, i) => {
      q[size * g + i] = scale === 0 ? 0 : Math.max(0, Math.min(steps, Math.round((v - low) / scale)));
    });
  }
  return { q, scales, mins };
}

/**
 * Each group of 32 values in Q6_K's form: an f16 d a group, an int8 scale a 16 (here 127, or
 * -100 in odd 16s, so that negative scales are read too), and each value the nearest of
 * (q - 32) d sc.
 */
function q6KGroups(values: Float32Array) {
  const q = new Uint8Array(values.length);
  const d = new Uint16Array(values.length / 32);
  const sc = new Int8Array(values.length / 16);
  for (let g = 0; g < d.length; g++) {
    const group = values.subarray(32 * g, 32 * (g + 1));
    d[g] = f32ToF16(Math.max(...group.map(Math.abs)) / 32 / 127);
    for (let half = 0; half < 2; half++) {
      sc[2 * g + half] = half ? -100 : 127;
      const scale = f16ToF32(d[g]) * sc[2 * g + half];
      for (let i = 16 * half; i < 16 * half + 16; i++) {
        q[32 * g + i] = scale === 0 ? 32 : Math.max(0, Math.min(63, Math.round(group[i] / scale) + 32));
      }
    }
  }
  return packQ6_K(q, d, sc);
}

/**
 * Each group of `size` values (32, or 16 for the types with a scale a 16) in IQ4_XS's form: a
 * scale that is an f16 d times a 6-bit integer (here 31, or -29 in odd groups, so that mirrored
 * levels are read too), and for each value the nearest of the 16 `levels` times that scale (a
 * lattice type's pads with zeros: those are read too).
 */
function levelGroups(values: Float32Array, levels: readonly number[], size: number) {
  const q = new Uint8Array(values.length);
  const scales = new Float32Array(values.length / size);
  const largest = Math.max(...levels.map(Math.abs));
  for (let g = 0; g < scales.length; g++) {
    const group = values.subarray(size * g, size * (g + 1));
    const step = g % 2 ? -29 : 31;
    const d = f16ToF32(f32ToF16(Math.max(...group.map(Math.abs)) / largest / Math.abs(step)));
    scales[g] = d * step;
    group.forEach((v, i) => {
      const distances = levels.map((level) => Math.abs(level * scales[g] - v));
      q[size * g + i] = distances.indexOf(Math.min(...distances));
    });
  }
  return packIQ4(q, scales);
}
