/**
 * Reference Gated DeltaNet (Yang, Kautz and Hatamizadeh 2025; Qwen3.5's linear attention layers)
 * in plain TypeScript, one token at a time: the definition the reference model runs and the GPU
 * kernels are tested against. Sums are formed in float64 and rounded once; the state is float32.
 *
 * A layer keeps, per value head, a matrix S (keyDim x valueDim) that stands for every token
 * before: it decays by exp(g), then learns the new key's value by the delta rule (move what S
 * recalls for k towards v by beta), and answers the query:
 *   S = exp(g) S;   S += k (beta (v - S^T k))^T;   o = S^T q
 * Before it, a causal depthwise convolution over the last few rows of q|k|v mixes neighbours;
 * after it, an RMSNorm of each head's output gated by silu(z).
 */

import { keyHeadOf, type LinearAttention } from '../loader/config';

/** log(1 + e^x), as torch.nn.functional.softplus computes it (x itself above 20). */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

const silu = (x: number) => x * sigmoid(x);

/**
 * One output row of the causal depthwise convolution, then SiLU: channel c is
 * silu(sum_j weight[c, j] rows[j][c]), rows the last `kernel` input rows, oldest first (the
 * newest meets the last tap; rows before the first position are zeros, given as undefined).
 */
export function causalConvRow(rows: (Float32Array | undefined)[], weight: Float32Array, kernel: number): Float32Array {
  const channels = weight.length / kernel;
  const out = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let j = 0; j < kernel; j++) sum += weight[c * kernel + j] * (rows[j]?.[c] ?? 0);
    out[c] = silu(Math.fround(sum));
  }
  return out;
}

/** Each head of x (heads, dim) times 1 / sqrt(sum(x^2) + eps), then by `scale`, in place. */
export function l2normHeads(x: Float32Array, heads: number, eps = 1e-6, scale = 1): Float32Array {
  const dim = x.length / heads;
  for (let h = 0; h < heads; h++) {
    let sumSquares = 0;
    for (let i = 0; i < dim; i++) sumSquares += x[h * dim + i] * x[h * dim + i];
    const inverse = Math.fround(1 / Math.sqrt(sumSquares + eps));
    for (let i = 0; i < dim; i++) x[h * dim + i] = Math.fround(x[h * dim + i] * inverse) * scale;
  }
  return x;
}

/**
 * One token of the gated delta rule for every value head: `state` (valueHeads, keyDim, valueDim)
 * is updated in place and the heads' outputs o = S^T q returned, (valueHeads, valueDim). q and k
 * are (keyHeads, keyDim), normed; key head keyHeadOf(h) serves value head h. decay
 * is exp(g) and beta the update rate, one each per value head.
 */
export function deltaRuleStep(
  shape: LinearAttention,
  state: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  decay: Float32Array,
  beta: Float32Array,
): Float32Array {
  const { valueHeads, keyDim: dk, valueDim: dv } = shape;
  const out = new Float32Array(valueHeads * dv);
  for (let h = 0; h < valueHeads; h++) {
    const s = state.subarray(h * dk * dv, (h + 1) * dk * dv);
    const kh = keyHeadOf(shape, h) * dk;
    for (let i = 0; i < s.length; i++) s[i] *= decay[h];
    for (let c = 0; c < dv; c++) {
      // What S recalls for k, then the delta rule's correction towards v.
      let recalled = 0;
      for (let r = 0; r < dk; r++) recalled += s[r * dv + c] * k[kh + r];
      const delta = Math.fround((v[h * dv + c] - Math.fround(recalled)) * beta[h]);
      let answer = 0;
      for (let r = 0; r < dk; r++) {
        s[r * dv + c] += k[kh + r] * delta;
        answer += s[r * dv + c] * q[kh + r];
      }
      out[h * dv + c] = answer;
    }
  }
  return out;
}

/** rmsnorm(o) w silu(z) over each head of o and z (heads, dim); w (dim) without an offset. */
export function gatedRmsNorm(o: Float32Array, z: Float32Array, weight: Float32Array, eps: number): Float32Array {
  const dim = weight.length;
  const out = new Float32Array(o.length);
  for (let h = 0; h < o.length / dim; h++) {
    let sumSquares = 0;
    for (let i = 0; i < dim; i++) sumSquares += o[h * dim + i] * o[h * dim + i];
    const scale = 1 / Math.sqrt(sumSquares / dim + eps);
    for (let i = 0; i < dim; i++) out[h * dim + i] = o[h * dim + i] * scale * weight[i] * silu(z[h * dim + i]);
  }
  return out;
}
