// RMSNorm as the prologue of a linear layer (linear.wgsl), where the profile fuses them: the
// layer reads the residual stream x and computes normed = x / sqrt(mean(x^2) + NORM_EPS) *
// norm_weight as it loads each chunk, so the norm's own dispatch, and its output's trip through
// memory, are gone. linear-shape.ts appends this file with norm_weight's binding.
//
// The workgroup first finds each of its tokens' inverse norm exactly as norm.wgsl does with
// NORM_LANES threads: lane v adds x[v]^2, x[v + NORM_LANES]^2, ... in order, then the lanes meet
// by the same binary tree (at stride s, lane v < s adds lane v + s, for s = NORM_LANES / 2
// down to 1), and normed = x * inv * weight in that order. So the layer sees the bits
// norm.wgsl would have written, for any tile: decode, verify and prefill (which runs the
// norm's own kernel) agree to the bit.
//
// The tree costs few barriers. Thread t holds lanes t, t + NORM_SPAN, ... of every token of the
// tile; the strides of NORM_SPAN and more add two lanes of one thread, in registers. The
// strides below meet in workgroup memory down to SHUFFLE, then by subgroupShuffleXor (lane
// t < s receives lane t ^ s = t + s): each step adds the same two numbers as the norm's tree,
// so the sums are bit-identical. With subgroups of 32 lanes that is three barriers for any
// tile; without subgroups, one more for each stride below 32.

override NORM_LANES: u32;
override NORM_EPS: f32;
// Threads the lanes are spread over (thread t holds lanes t, t + NORM_SPAN, ...).
override NORM_SPAN: u32 = min(NORM_LANES, 64u);

// Lanes a thread holds at most: NORM_LANES / NORM_SPAN (linear-shape.ts checks NORM_LANES).
const NORM_MAX_HELD = 16u;

@group(0) @binding(NORM_BINDING) var<storage, read> norm_weight: array<vec4f>;  // (K / 4)

var<workgroup> norm_sums: array<f32, TILE_N * NORM_SPAN>;  // (TILE_N, NORM_SPAN)
var<workgroup> norm_inv: array<f32, TILE_N>;

// Lane v's sum of squares of the row starting at chunk `row`: x[v]^2 + x[v + NORM_LANES]^2 + ...
fn norm_lane_sum(row: u32, v: u32) -> f32 {
  var sum = 0.0;
  for (var i = v; i < K; i += NORM_LANES) {
    let value = x[row + i / 4u][i % 4u];
    sum += value * value;
  }
  return sum;
}

// Sets norm_inv[j] for tokens n0 + j, j < tokens (all threads call it: it holds barriers).
fn norm_prologue(t: u32, n0: u32, tokens: u32) {
  let held = NORM_LANES / NORM_SPAN;
  if (t < NORM_SPAN) {
    for (var j = 0u; j < tokens; j++) {
      var sums: array<f32, NORM_MAX_HELD>;
      for (var i = 0u; i < held; i++) { sums[i] = norm_lane_sum((n0 + j) * (K / 4u), t + i * NORM_SPAN); }
      for (var h = held / 2u; h > 0u; h >>= 1u) {
        for (var i = 0u; i < h; i++) { sums[i] += sums[i + h]; }
      }
      norm_sums[j * NORM_SPAN + t] = sums[0];
    }
  }
  workgroupBarrier();
  for (var s = NORM_SPAN / 2u; s >= SHUFFLE; s >>= 1u) {
    if (t < s) {
      for (var j = 0u; j < tokens; j++) { norm_sums[j * NORM_SPAN + t] += norm_sums[j * NORM_SPAN + t + s]; }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < tokens; j++) {
    var total = norm_sums[j * NORM_SPAN + t % NORM_SPAN];
    for (var s = min(NORM_SPAN, SHUFFLE) / 2u; s > 0u; s >>= 1u) {
      total += lane_shuffle_xor(total, s);
    }
    if (t == 0u) { norm_inv[j] = inverseSqrt(total / f32(K) + NORM_EPS); }
  }
  workgroupBarrier();
}

// The norm's weight for chunk c: loaded once a chunk, for every token of the tile.
fn norm_gain(c: u32) -> vec4f {
  return norm_weight[c];
}

// Chunk v of token n0 + j's input, normalised (gain: `norm_gain` of its chunk).
fn normed(v: vec4f, j: u32, gain: vec4f) -> vec4f {
  return v * norm_inv[j] * gain;
}
