/**
 * Rotary position embeddings: the cosine and sine of every (position, frequency) a model's
 * queries and keys are rotated by, for each RoPE a config describes (loader/config.ts). The
 * reference model and the GPU model read the same tables, computed here in float64 and
 * rounded once.
 *
 * Frequency i of a head of hd dimensions is theta^(-2i / hd), then scaled:
 *   linear     divided by the factor;
 *   llama3     divided by the factor for wavelengths longer than original / low_freq_factor,
 *              kept below original / high_freq_factor, interpolated smoothly in between;
 *   longrope   divided by a factor of its own, from the short list below the original context
 *              and the long list from there, and cos and sin multiplied by the attention factor.
 */

import type { Rope } from '../loader/config';

/** The inverse frequencies of `rope` for a head of `headDim`, at `position` (only LongRoPE looks at it). */
export function inverseFrequencies(rope: Rope, headDim: number, position = 0): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / rope.theta ** ((2 * i) / headDim);
  const scaling = rope.scaling;
  if (scaling.type === 'linear') for (let i = 0; i < half; i++) inv[i] /= scaling.factor;
  if (scaling.type === 'longrope') {
    const factors = position < scaling.originalMaxPositions ? scaling.short : scaling.long;
    for (let i = 0; i < half; i++) inv[i] /= factors[i];
  }
  if (scaling.type === 'llama3') {
    const lowWavelen = scaling.originalMaxPositions / scaling.lowFreqFactor;
    const highWavelen = scaling.originalMaxPositions / scaling.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] /= scaling.factor;
      else if (wavelen >= highWavelen) {
        const smooth =
          (scaling.originalMaxPositions / wavelen - scaling.lowFreqFactor) /
          (scaling.highFreqFactor - scaling.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / scaling.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/** cos and sin of `rope` for positions 0 .. positions - 1: (positions, hd/2) each. */
export function ropeTables(rope: Rope, headDim: number, positions: number) {
  const half = headDim / 2;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  const scaling = rope.scaling;
  const scale = scaling.type === 'longrope' ? scaling.attentionFactor : 1;
  const short = inverseFrequencies(rope, headDim);
  // LongRoPE switches to its long factors at the original context; other RoPEs never switch.
  const switchAt = scaling.type === 'longrope' ? scaling.originalMaxPositions : Number.POSITIVE_INFINITY;
  const long = switchAt < positions ? inverseFrequencies(rope, headDim, switchAt) : short;
  for (let p = 0; p < positions; p++) {
    const inv = p < switchAt ? short : long;
    for (let i = 0; i < half; i++) {
      cos[p * half + i] = Math.cos(p * inv[i]) * scale;
      sin[p * half + i] = Math.sin(p * inv[i]) * scale;
    }
  }
  return { cos, sin };
}
