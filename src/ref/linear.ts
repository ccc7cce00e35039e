/**
 * Reference linear layer in plain TypeScript, the definition the GPU kernel is tested against:
 * y[n, r] = (accumulate ? y[n, r] : 0) + (sum_k W[r, k] x[n, k] + bias[r]).
 * Sums are formed in float64 and rounded once, so the reference is more exact than any kernel.
 */

export function linear(
  x: Float32Array, // (tokens, k)
  weight: Float32Array, // (rows, k)
  rows: number,
  bias?: Float32Array, // (rows)
  y?: Float32Array, // (tokens, rows); added into when given
): Float32Array {
  const k = weight.length / rows;
  const tokens = x.length / k;
  const out = y ?? new Float32Array(tokens * rows);
  for (let n = 0; n < tokens; n++) {
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += weight[r * k + i] * x[n * k + i];
      out[n * rows + r] += sum + (bias ? bias[r] : 0);
    }
  }
  return out;
}
