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
 *              and the long list from there, and cos and sin multiplied by the attention factor;
 *   yarn       divided by the factor where a frequency turns fewer than beta_slow times over
 *              the original context, kept where it turns more than beta_fast times, blended
 *              linearly over the dimensions between, and cos and sin multiplied by the
 *              attention factor.
 *
 * Llama 4's query scaling (Ministral 3) multiplies a position's queries by s(p) = 1 + beta
 * ln(1 + floor(p / interval)); a rotation is linear, so the queries' own tables, s(p) cos and
 * s(p) sin, rotate and scale them at once. They follow the keys' tables in the same arrays
 * (queryTable says where), and only where some position of the table has s(p) != 1.
 *
 * A table has hd/2 entries a position, whatever r is: entry i turns the pair (i, i + hd/2) of a
 * head as the GPU lays it out (gpu-weights.ts moves partial RoPE's pairs (i, i + r/2) there), so
 * the entries from r/2 on are cos 1 and sin 0, the values RoPE passes. A RoPE that `passes`
 * (NoPE: SmolLM3's every fourth layer) is all cos 1 and sin 0: q cos - q' sin = q, exactly.
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
  if (scaling.type === 'yarn') {
    // The dimension index at which a frequency turns `rotations` times over the original context.
    const correction = (rotations: number) =>
      (rotaryDim * Math.log(scaling.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(rope.theta));
    let low = correction(scaling.betaFast);
    let high = correction(scaling.betaSlow);
    if (scaling.truncate) {
      low = Math.floor(low);
      high = Math.ceil(high);
    }
    low = Math.max(low, 0);
    high = Math.min(high, rotaryDim - 1);
    if (low === high) high += 0.001;
    for (let i = 0; i < half; i++) {
      const interpolated = Math.min(1, Math.max(0, (i - low) / (high - low))); // 0: kept, 1: divided
      inv[i] = (inv[i] / scaling.factor) * interpolated + inv[i] * (1 - interpolated);
    }
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

/** Llama 4's query scale at position p (1 without query scaling). */
export function queryScale(rope: Rope, p: number): number {
  const q = rope.queryScaling;
  return q ? 1 + q.beta * Math.log(1 + Math.floor(p / q.interval)) : 1;
}

/**
 * cos and sin of `rope` for positions 0 .. positions - 1: (positions, headDim/2) each for the
 * keys, then as many for the queries where their scaling changes some position (`queryTable`,
 * the offset of theirs; 0 where queries and keys share the tables).
 */
export function ropeTables(rope: Rope, headDim: number, positions: number, rotaryDim = headDim) {
  const half = headDim / 2;
  const turned = rope.passes ? 0 : rotaryDim / 2;
  const queryTable = queryScale(rope, positions - 1) === 1 ? 0 : positions * half;
  const cos = new Float32Array(positions * half + queryTable).fill(1);
  const sin = new Float32Array(positions * half + queryTable);
  const scaling = rope.scaling;
  const scale = scaling.type === 'longrope' || scaling.type === 'yarn' ? scaling.attentionFactor : 1;
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
    if (!queryTable) continue;
    // The queries' values RoPE passes are scaled too: cos s(p), sin 0.
    const s = queryScale(rope, p);
    for (let i = 0; i < half; i++) {
      cos[queryTable + p * half + i] = (i < turned ? Math.cos(p * inv[i]) * scale : 1) * s;
      sin[queryTable + p * half + i] = i < turned ? Math.sin(p * inv[i]) * scale * s : 0;
    }
  }
  return { cos, sin, queryTable };
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
