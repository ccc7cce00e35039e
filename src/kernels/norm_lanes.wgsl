// RMSNorm for a linear layer that folds it in (linear_norm.wgsl), before the steps that run the
// layer's prefill kernel: for each token n it writes
//   out[n, :] = x[n, :] * weight,   inv[n] = 1 / sqrt(mean(x[n, :]^2) + EPS),
// the input the prefill kernel reads and the scale it applies to each sum, with the numbers the
// layer's token tiles form themselves. So the sum of squares goes in the layer's order: LANES
// threads, thread l adding dot(c, c) for the 4-value chunks c of the row's units l, l + LANES,
// ... (CHUNKS a unit, in turn), then the lanes meet by the fixed tree (at stride s, lane l < s
// adds lane l + s), here all in workgroup memory: the layer's shuffles add the same pairs.
// One workgroup per token.

override K: u32;
override LANES: u32;   // the layer's lanes a row: a power of two
override CHUNKS: u32;  // 4-value chunks a unit of the layer's rows
override EPS: f32;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<vec4f>;       // (K / 4)
@group(0) @binding(2) var<storage, read> x: array<vec4f>;            // (tokens, K / 4)
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;    // (tokens, K / 4)
@group(0) @binding(4) var<storage, read_write> inv: array<f32>;      // (tokens)

var<workgroup> sums: array<f32, LANES>;

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = wg.x;
  if (n >= step.tokens) { return; }
  let row = n * (K / 4u);
  var sum = 0.0;
  for (var u = t; u < K / (4u * CHUNKS); u += LANES) {
    for (var h = 0u; h < CHUNKS; h++) {
      let c = u * CHUNKS + h;
      let v = x[row + c];
      sum += dot(v, v);
      out[row + c] = v * weight[c];
    }
  }
  sums[t] = sum;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (t < s) { sums[t] += sums[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) { inv[n] = inverseSqrt(sums[0] / f32(K) + EPS); }
}
