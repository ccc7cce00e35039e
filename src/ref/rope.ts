/**
 * Rotary position embeddings: the cosine and sine of every (position, frequency) a model's
 * queries and keys are rotated by, for each RoPE a config describes (loader/config.ts). The
 * reference model and the GPU model read the same tables, computed here in float64 and
 * rounded once.
 *
 * Frequency i of the r values of a head that RoPE turns (r = hd but for partial RoPE) is
 * theta^(-2i / r), then scaled:
 *   linear     divided by the factor;
 *   llama3     divided by the factor for wavelengths longer than original / low_freq_factor,
 *              kept below original / high_freq_factor, interpolated smoothly in between;
 *   longrope   divided by a factor of its own, from the short list below the original context
 *              and the long list from there, and cos and sin multiplied by the attention factor.
 *
 * A table has hd/2 entries a position, whatever r is: entry i turns the pair (i, i + hd/2) of a
 * head as the GPU lays it out (gpu-weights.ts moves partial RoPE's pairs (i, i + r/2) there), so
 * the entries from r/2 on are cos 1 and sin 0, the values RoPE passes.
 */

import type { Rope } from '../loader/config';

/** The inverse frequencies of `rope` over `rotaryDim` values of a head, at `position` (only LongRoPE looks at it). */
export function inverseFrequencies(rope: Rope, rotaryDim: number, position = 0): Float64Array {
  const half = rotaryDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / rope.theta ** ((2 * i) / rotaryDim);
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

/** cos and sin of `rope` for positions 0 .. positions - 1: (positions, headDim/2) each. */
export function ropeTables(rope: Rope, headDim: number, positions: number, rotaryDim = headDim) {
  const half = headDim / 2;
  const turned = rotaryDim / 2;
  const cos = new Float32Array(positions * half).fill(1);
  const sin = new Float32Array(positions * half);
  const scaling = rope.scaling;
  const scale = scaling.type === 'longrope' ? scaling.attentionFactor : 1;
  const short = inverseFrequencies(rope, rotaryDim);
  // LongRoPE switches to its long factors at the original context; other RoPEs never switch.
  const switchAt = scaling.type === 'longrope' ? scaling.originalMaxPositions : Number.POSITIVE_INFINITY;
  const long = switchAt < positions ? inverseFrequencies(rope, rotaryDim, switchAt) : short;
  for (let p = 0; p < positions; p++) {
    const inv = p < switchAt ? short : long;
    for (let i = 0; i < turned; i++) {
      cos[p * half + i] = Math.cos(p * inv[i]) * scale;
      sin[p * half + i] = Math.sin(p * inv[i]) * scale;
    }
  }
  return { cos, sin };
}

/**
 * The order of a head's values on the GPU for partial RoPE: position j holds the head's value
 * order[j]. The turned pairs (i, i + r/2) go to (i, i + hd/2), and the passed values fill
 * r/2 .. hd/2 - 1 and hd/2 + r/2 .. hd - 1, where the tables' cos 1 and sin 0 leave them as they
 * are. Scores q . k do not change when both are permuted alike, and nothing else reads keys.
 */
export function rotaryOrder(headDim: number, rotaryDim: number): Int32Array {
  const half = headDim / 2;
  const turned = rotaryDim / 2;
  const passed = half - turned; // passed values in each half of the GPU's head
  const order = new Int32Array(headDim);
  for (let j = 0; j < half; j++) {
    order[j] = j < turned ? j : rotaryDim + (j - turned);
    order[half + j] = j < turned ? turned + j : rotaryDim + passed + (j - turned);
  }
  return order;
}
