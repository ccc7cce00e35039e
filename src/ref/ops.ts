/**
 * Reference versions of the model's ops in plain TypeScript, for the reference model and as
 * the definition each GPU kernel is tested against. Dimension names follow the config:
 * d = hiddenSize, hd = headDim, nh = numHeads, nkv = numKvHeads.
 */

/** out = x / sqrt(mean(x^2) + eps) * weight, for each row of x (rows, d). */
export function rmsNorm(
  x: Float32Array,
  weight: Float32Array,
  eps: number,
  out: Float32Array = new Float32Array(x.length),
) {
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
 * LayerNorm: out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias for each row of x (rows, d),
 * var the mean of the squared deviations (not Bessel's), as torch.nn.LayerNorm computes it.
 */
export function layerNorm(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  eps: number,
  out: Float32Array = new Float32Array(x.length),
) {
  const d = weight.length;
  for (let row = 0; row < x.length / d; row++) {
    let sum = 0;
    for (let i = 0; i < d; i++) sum += x[row * d + i];
    const mean = sum / d;
    let sumSquares = 0;
    for (let i = 0; i < d; i++) sumSquares += (x[row * d + i] - mean) ** 2;
    const scale = 1 / Math.sqrt(sumSquares / d + eps);
    for (let i = 0; i < d; i++) out[row * d + i] = (x[row * d + i] - mean) * scale * weight[i] + bias[i];
  }
  return out;
}

/**
 * Rotates every head of `x` (heads, hd) in place for `position`, in the Hugging Face
 * "rotate half" convention: dimension i pairs with i + r/2 (not with its neighbour), and
 * (a, b) -> (a cos - b sin, b cos + a sin), for the first r = rotaryDim values of the head (all
 * of them but for partial RoPE); the rest pass. The tables are (positions, hd/2) (rope.ts).
 */
export function applyRope(
  x: Float32Array,
  heads: number,
  position: number,
  cos: Float32Array,
  sin: Float32Array,
  rotaryDim = x.length / heads,
) {
  const hd = x.length / heads;
  const stride = hd / 2;
  const half = rotaryDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const c = cos[position * stride + i];
      const s = sin[position * stride + i];
      const a = x[h * hd + i];
      const b = x[h * hd + half + i];
      x[h * hd + i] = a * c - b * s;
      x[h * hd + half + i] = b * c + a * s;
    }
  }
}

/** How a layer attends: the score scale, an optional soft cap, an optional window of recent positions. */
export interface AttentionOptions {
  /** Scores are q . k times this (1 / sqrt(hd) unless the model says otherwise). */
  scale?: number;
  /** Scores become cap * tanh(score / cap) (Gemma 2). */
  softcap?: number | null;
  /** Only the last `window` positions, the query's own included, are attended to. */
  window?: number | null;
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
  options: AttentionOptions = {},
  out = new Float32Array(q.length),
) {
  const hd = q.length / nh;
  const group = nh / nkv;
  const scale = options.scale ?? 1 / Math.sqrt(hd);
  const first = options.window ? Math.max(0, length - options.window) : 0;
  const cap = options.softcap ?? null;
  const scores = new Float64Array(length);
  for (let h = 0; h < nh; h++) {
    const kvh = Math.floor(h / group);
    let max = Number.NEGATIVE_INFINITY;
    for (let t = first; t < length; t++) {
      let dot = 0;
      for (let i = 0; i < hd; i++) dot += q[h * hd + i] * keys[(t * nkv + kvh) * hd + i];
      scores[t] = cap === null ? dot * scale : cap * Math.tanh((dot * scale) / cap);
      max = Math.max(max, scores[t]);
    }
    let sum = 0;
    for (let t = first; t < length; t++) {
      scores[t] = Math.exp(scores[t] - max);
      sum += scores[t];
    }
    for (let i = 0; i < hd; i++) {
      let acc = 0;
      for (let t = first; t < length; t++) acc += scores[t] * values[(t * nkv + kvh) * hd + i];
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

/**
 * An MLP's activation over each value, for an MLP without a gate (Phi-1/2, GPT-NeoX: act(fc1(x))):
 * SiLU, GELU's tanh approximation (gelu_new, PyTorch's gelu(approximate='tanh')), or the exact
 * GELU, x/2 (1 + erf(x / sqrt 2)) (PyTorch's gelu).
 */
export function activate(values: Float32Array, activation: 'silu' | 'gelu-tanh' | 'gelu'): Float32Array {
  const c = Math.sqrt(2 / Math.PI);
  return values.map((x) =>
    activation === 'silu'
      ? x / (1 + Math.exp(-x))
      : activation === 'gelu'
        ? 0.5 * x * (1 + erf(x / Math.SQRT2))
        : 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x * x * x))),
  );
}

/**
 * The error function to double precision: its Taylor series below |x| = 2.5 (terms no larger
 * than 10, so no digits are lost), the continued fraction of erfc above (Laplace's, evaluated
 * from 80 terms down).
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 2.5) {
    // erf(x) = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = a;
    let sum = a;
    for (let n = 1; n < 60; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc(x) = e^-x^2 / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + 2 / (x + ...)))))
  let fraction = a;
  for (let n = 80; n >= 1; n--) fraction = a + n / 2 / fraction;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / fraction;
  return Math.sign(x) * (1 - erfc);
}

/**
 * GeGLU's gate (Gemma): gelu(gate) * up, with GELU's tanh approximation (PyTorch's
 * gelu(approximate='tanh')): gelu(x) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 */
export function geluGate(gate: Float32Array, up: Float32Array, out = new Float32Array(gate.length)) {
  const c = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < gate.length; i++) {
    const x = gate[i];
    out[i] = 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x * x * x))) * up[i];
  }
  return out;
}

/** Soft capping: x -> cap * tanh(x / cap), elementwise, in place (Gemma 2's final logits). */
export function softcap(x: Float32Array, cap: number): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = cap * Math.tanh(x[i] / cap);
  return x;
}
