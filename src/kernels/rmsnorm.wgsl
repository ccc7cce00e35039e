// RMSNorm of each token: out[n, :] = x[n, :] / sqrt(mean(x[n, :]^2) + EPS) * weight, or with
// ACCUMULATE added into out (Gemma's norm at the end of a branch, then the residual add).
// With OUT_STRIDE the rows of out are OUT_STRIDE wide and this norm fills the D columns from
// OUT_OFFSET: an EAGLE head's two norms side by side, [norm(embedding); norm(hidden)].
// One workgroup per token; the sum of squares is formed in a fixed order (thread t adds
// elements t, t + WG, ..., then a fixed tree), so a token's result never depends on the batch.

override D: u32;
override EPS: f32;
override WG: u32 = 64u;
override ACCUMULATE: bool = false;
override OUT_STRIDE: u32 = 0u; // 0: D
override OUT_OFFSET: u32 = 0u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<f32>;      // (D)
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (tokens, D)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // (tokens, D), or (tokens, OUT_STRIDE)

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = wg.x;
  if (n >= step.tokens) { return; }
  var sum = 0.0;
  for (var i = t; i < D; i += WG) {
    let v = x[n * D + i];
    sum += v * v;
  }
  partial[t] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(D) + EPS);
  let row = n * select(OUT_STRIDE, D, OUT_STRIDE == 0u) + OUT_OFFSET;
  for (var i = t; i < D; i += WG) {
    let value = x[n * D + i] * scale * weight[i];
    if (ACCUMULATE) { out[row + i] += value; } else { out[row + i] = value; }
  }
}
