/**
 * Reference versions of the Llama ops in plain TypeScript, for the reference model and as the
 * definition each GPU kernel is tested against. Dimension names follow the config:
 * d = hiddenSize, hd = headDim, nh = numHeads, nkv = numKvHeads.
 */

/** out = x / sqrt(mean(x^2) + eps) * weight, for each row of x (rows, d). */
export function rmsNorm(x: Float32Array, weight: Float32Array, eps: number, out = new Float32Array(x.length)) {
  const d = weight.length;
  for (let row = 0; row < x.length / d; row++) {
    let sumSquares = 0;
    for (let i = 0; i < d; i++) sumSquares += x[row * d + i] * x[row * d + i];
    const scale = 1 / Math.sqrt(sumSquares / d + eps);
    for (let i = 0; i < d; i++) out[row * d + i] = x[row * d + i] * scale * weight[i];
  }
  return out;
}

/**
 * Cosine and sine tables for RoPE: (positions, hd/2) each, angle = position * invFreq[i],
 * computed in float64 and rounded once.
 */
export function ropeTables(invFreq: Float64Array, positions: number) {
  const half = invFreq.length;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      cos[p * half + i] = Math.cos(p * invFreq[i]);
      sin[p * half + i] = Math.sin(p * invFreq[i]);
    }
  }
  return { cos, sin };
}

/**
 * Rotates every head of `x` (heads, hd) in place for `position`, in the Hugging Face
 * "rotate half" convention: dimension i pairs with i + hd/2 (not with its neighbour), and
 * (a, b) -> (a cos - b sin, b cos + a sin).
 */
export function applyRope(x: Float32Array, heads: number, position: number, cos: Float32Array, sin: Float32Array) {
  const hd = x.length / heads;
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const c = cos[position * half + i];
      const s = sin[position * half + i];
      const a = x[h * hd + i];
      const b = x[h * hd + half + i];
      x[h * hd + i] = a * c - b * s;
      x[h * hd + half + i] = b * c + a * s;
    }
  }
}

/**
 * Attention of one query token over the first `length` cached positions (causal: the caller
 * passes the query's own position + 1). Grouped-query: query head h reads KV head
 * floor(h / (nh / nkv)). q: (nh, hd); keys, values: (positions, nkv, hd); out: (nh, hd).
 */
export function attention(
  q: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  length: number,
  nh: number,
  nkv: number,
  out = new Float32Array(q.length),
) {
  const hd = q.length / nh;
  const group = nh / nkv;
  const scale = 1 / Math.sqrt(hd);
  const scores = new Float64Array(length);
  for (let h = 0; h < nh; h++) {
    const kvh = Math.floor(h / group);
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < length; t++) {
      let dot = 0;
      for (let i = 0; i < hd; i++) dot += q[h * hd + i] * keys[(t * nkv + kvh) * hd + i];
      scores[t] = dot * scale;
      max = Math.max(max, scores[t]);
    }
    let sum = 0;
    for (let t = 0; t < length; t++) {
      scores[t] = Math.exp(scores[t] - max);
      sum += scores[t];
    }
    for (let i = 0; i < hd; i++) {
      let acc = 0;
      for (let t = 0; t < length; t++) acc += scores[t] * values[(t * nkv + kvh) * hd + i];
      out[h * hd + i] = acc / sum;
    }
  }
  return out;
}

/** SwiGLU's gate: silu(gate) * up, elementwise; silu(x) = x / (1 + e^-x). */
export function siluGate(gate: Float32Array, up: Float32Array, out = new Float32Array(gate.length)) {
  for (let i = 0; i < gate.length; i++) out[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return out;
}
