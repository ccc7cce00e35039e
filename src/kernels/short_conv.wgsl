// A Gated DeltaNet layer's causal depthwise convolution (Qwen3.5), then SiLU, for a step's tokens:
//   out[n, c] = silu(sum_j weight[c, j] row(p - K + 1 + j)[c])      p = step.start + n, j = 0..K-1
// row(p) the projection's q|k|v row of position p: this step's own (x, rows X_STRIDE wide), or
// for positions before the step the sequence's ring, which keeps the rows of its last RING
// positions at position mod RING (rows before position 0 are zeros). The step's rows then go
// into the ring, the last RING of them, so that a later step, or one after the sequence is cut
// back by up to RING - K + 1 positions, finds the rows it needs.
// One thread per channel walks the step's tokens in order, so it alone reads and writes that
// channel of the ring, and each sum is formed in one fixed order (the oldest row first):
// a token's result never depends on how the prompt was split into steps.

override C: u32;                 // channels: q, k and v
override K: u32;                 // taps, at most MAX_TAPS
override RING: u32;              // positions the ring holds (at least K - 1)
override X_STRIDE: u32 = 0u;     // values in a row of x (0: C): the projection holds z, b and a after q|k|v
override WG: u32 = 64u;

const MAX_TAPS = 8u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<f32>;        // (C, K)
@group(0) @binding(2) var<storage, read> x: array<f32>;             // (tokens, X_STRIDE): q|k|v first
@group(0) @binding(3) var<storage, read_write> out: array<f32>;     // (tokens, C)
@group(0) @binding(4) var<storage, read_write> ring: array<f32>;    // (RING, C)

fn silu(v: f32) -> f32 { return v / (1.0 + exp(-v)); }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let c = id.x;
  if (c >= C) { return; }
  let stride = select(X_STRIDE, C, X_STRIDE == 0u);
  // The K - 1 rows before the step, oldest first.
  var window: array<f32, MAX_TAPS>;
  for (var j = 0u; j + 1u < K; j++) {
    let back = K - 1u - j; // positions before the step's first
    window[j] = select(0.0, ring[((step.start - back) % RING) * C + c], step.start >= back);
  }
  for (var n = 0u; n < step.tokens; n++) {
    let newest = x[n * stride + c];
    var sum = 0.0;
    for (var j = 0u; j + 1u < K; j++) { sum += weight[c * K + j] * window[j]; }
    sum += weight[c * K + K - 1u] * newest;
    out[n * C + c] = silu(sum);
    for (var j = 0u; j + 2u < K; j++) { window[j] = window[j + 1u]; }
    window[K - 2u] = newest;
  }
  let first = select(0u, step.tokens - RING, step.tokens > RING);
  for (var n = first; n < step.tokens; n++) {
    ring[((step.start + n) % RING) * C + c] = x[n * stride + c];
  }
}
