// A norm of each token's row, RMSNorm or (CENTRED) LayerNorm:
//   RMSNorm    out[n, :] = x[n, :] / sqrt(mean(x[n, :]^2) + EPS) * weight
//   LayerNorm  out[n, :] = (x[n, :] - m) / sqrt(mean((x[n, :] - m)^2) + EPS) * weight + bias,
//              m = mean(x[n, :]); weight holds the weight, then the bias (2 D values)
// or with ACCUMULATE added into out (Gemma's norm at the end of a branch, then the residual add).
// With OUT_STRIDE the rows of out are OUT_STRIDE wide and this norm fills the D columns from
// OUT_OFFSET: an EAGLE head's two norms side by side, [norm(embedding); norm(hidden)], in one
// dispatch where ops.ts appends a pair's `row_value` and `gain` (bindings 4 and 5: the second
// norm's weight and input, workgroups (token, 1) writing the D columns after the first's).
// One workgroup per token (and part); each sum is formed in a fixed order (thread t adds
// elements t, t + WG, ..., then a fixed tree), so a token's result never depends on the batch,
// nor on whether its part runs alone or in a pair.

override D: u32;
override EPS: f32;
override WG: u32 = 64u;
override ACCUMULATE: bool = false;
override CENTRED: bool = false;
override OUT_STRIDE: u32 = 0u; // 0: D
override OUT_OFFSET: u32 = 0u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<f32>;      // (D), or (2 D) CENTRED: weight, bias
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (tokens, D)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // (tokens, D), or (tokens, OUT_STRIDE)

var<workgroup> partial: array<f32, WG>;

// The sum of every thread's `value`, by a fixed tree; every thread gets it.
fn workgroup_sum(t: u32, value: f32) -> f32 {
  partial[t] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let sum = partial[0];
  workgroupBarrier(); // read by all before partial is written again
  return sum;
}

// row_value(part, i): x[i] (part 0) or the pair's second input's; gain(part, i): weight[i] or
// the second weight's (ops.ts appends them).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = wg.x;
  let part = wg.y;
  if (n >= step.tokens) { return; }
  var mean = 0.0;
  if (CENTRED) {
    var sum = 0.0;
    for (var i = t; i < D; i += WG) { sum += row_value(part, n * D + i); }
    mean = workgroup_sum(t, sum) / f32(D);
  }
  var squares = 0.0;
  for (var i = t; i < D; i += WG) {
    let v = row_value(part, n * D + i) - mean;
    squares += v * v;
  }
  let scale = inverseSqrt(workgroup_sum(t, squares) / f32(D) + EPS);
  let row = n * select(OUT_STRIDE, D, OUT_STRIDE == 0u) + OUT_OFFSET + part * D;
  for (var i = t; i < D; i += WG) {
    var value = (row_value(part, n * D + i) - mean) * scale * gain(part, i);
    if (CENTRED) { value += gain(part, D + i); }
    if (ACCUMULATE) { out[row + i] += value; } else { out[row + i] = value; }
  }
}
