// RMSNorm as the prologue of a linear layer (linear.wgsl), where the profile fuses them: the
// layer reads the residual stream x and computes normed = x / sqrt(mean(x^2) + NORM_EPS) *
// norm_weight as it loads each chunk, so the norm's own dispatch, and its output's trip through
// memory, are gone. linear-shape.ts appends this file with norm_weight's binding.
//
// The workgroup first finds each of its tokens' inverse norm exactly as rmsnorm.wgsl does with
// NORM_LANES threads: lane v adds x[v]^2, x[v + NORM_LANES]^2, ... in order, then the lanes meet
// by the same binary tree, and normed = x * inv * weight in that order. So the layer sees the
// bits rmsnorm.wgsl would have written, for any tile: decode, verify and prefill (which runs the
// norm's own kernel) agree to the bit. Tokens go through the tree NORM_TOKENS at a time.

override NORM_LANES: u32;
override NORM_EPS: f32;
override NORM_TOKENS: u32 = max(1u, 1024u / NORM_LANES);

@group(0) @binding(NORM_BINDING) var<storage, read> norm_weight: array<vec4f>;  // (K / 4)

var<workgroup> norm_sums: array<f32, NORM_TOKENS * NORM_LANES>;
var<workgroup> norm_inv: array<f32, TILE_N>;

// Sets norm_inv[j] for tokens n0 + j, j < tokens (all threads call it: it holds barriers).
fn norm_prologue(t: u32, n0: u32, tokens: u32) {
  let k4 = K / 4u;
  for (var first = 0u; first < tokens; first += NORM_TOKENS) {
    // Only the slots of live tokens: a decode step's one token fills NORM_LANES of them.
    let slots = min(NORM_TOKENS, tokens - first) * NORM_LANES;
    for (var p = t; p < slots; p += WG) {
      let row = (n0 + first + p / NORM_LANES) * k4;
      var sum = 0.0;
      for (var i = p % NORM_LANES; i < K; i += NORM_LANES) {
        let v = x[row + i / 4u][i % 4u];
        sum += v * v;
      }
      norm_sums[p] = sum;
    }
    workgroupBarrier();
    for (var s = NORM_LANES / 2u; s > 0u; s >>= 1u) {
      for (var p = t; p < slots; p += WG) {
        if (p % NORM_LANES < s) { norm_sums[p] += norm_sums[p + s]; }
      }
      workgroupBarrier();
    }
    for (var j = t; j < NORM_TOKENS && first + j < tokens; j += WG) {
      norm_inv[first + j] = inverseSqrt(norm_sums[j * NORM_LANES] / f32(K) + NORM_EPS);
    }
    workgroupBarrier();
  }
}

// The norm's weight for chunk c: loaded once a chunk, for every token of the tile.
fn norm_gain(c: u32) -> vec4f {
  return norm_weight[c];
}

// Chunk v of token n0 + j's input, normalised (gain: `norm_gain` of its chunk).
fn normed(v: vec4f, j: u32, gain: vec4f) -> vec4f {
  return v * norm_inv[j] * gain;
}
