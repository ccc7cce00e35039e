// RMSNorm folded into the linear layer that reads it (linear.wgsl), where the profile folds
// norms: linear-shape.ts appends this file with norm_weight's binding. With
//   normed[n, :] = x[n, :] * inv[n] * g,   inv[n] = 1 / sqrt(mean(x[n, :]^2) + NORM_EPS),
// a row of the layer is
//   y[n, r] = W[r, :] . normed[n, :] = inv[n] * (W[r, :] . (x[n, :] * g)),
// so the layer reads x, multiplies each chunk by the norm's weight g as it loads it, and scales
// the finished sum by inv[n]. The sum of squares behind inv comes from the chunks the row's
// lanes load anyway: lane l adds dot(chunk, chunk) for each chunk it visits, in the order it
// visits them (units l, l + LANES, ..., a unit's chunks in turn), and the lanes meet by the
// layer's own tree. So the weights start streaming at once, and the norm costs no load and no
// dispatch of its own. (A prologue that formed norm.wgsl's sum before the loop, to give its
// bits, cost an H200 more than the dispatch it saved: bench/README.md.)
//
// Steps that run the prefill kernel run norm_lanes.wgsl first, which writes x * g and inv with
// these sums in this order, and the prefill kernel scales its sums by inv: decode, verify and
// prefill give the same bits (not norm.wgsl's: its sum goes in another order, and its product
// scales each value before the dot product).

override NORM_EPS: f32;

@group(0) @binding(NORM_BINDING) var<storage, read> norm_weight: array<vec4f>;  // (K / 4)

// The thread's sum of squares for each token of the tile (linear.wgsl's tiles hold 16 at most).
var<private> norm_sq: array<f32, 16>;
// The first row's lanes' sums, (LANES, TILE_N), as they meet; then each token's inv.
var<workgroup> norm_sums: array<f32, LANES * TILE_N>;
var<workgroup> norm_inv: array<f32, TILE_N>;

// The norm's weight for chunk c: loaded once a chunk, for every token of the tile.
fn norm_gain(c: u32) -> vec4f {
  return norm_weight[c];
}

// Chunk v of the tile's token j as the products read it, v * g; v's squares join token j's sum.
fn normed(v: vec4f, j: u32, gain: vec4f) -> vec4f {
  norm_sq[j] += dot(v, v);
  return v * gain;
}

// Sets norm_inv for every token of the tile (all threads call it: it holds barriers). Every row
// of the workgroup summed the same chunks in the same order, so the first row's lanes serve
// all: a row past the end leaves its sums at 0, but then so are all the rows after it. Strides
// of SHUFFLE and more meet in workgroup memory, the rest by shuffles, as the rows' sums do.
fn norm_finish(t: u32, lane: u32) {
  let first = t < LANES;
  if (LANES > SHUFFLE) {
    if (first) {
      for (var j = 0u; j < TILE_N; j++) { norm_sums[lane * TILE_N + j] = norm_sq[j]; }
    }
    workgroupBarrier();
    for (var stride = LANES / 2u; stride >= SHUFFLE; stride >>= 1u) {
      if (first && lane < stride) {
        for (var j = 0u; j < TILE_N; j++) {
          norm_sums[lane * TILE_N + j] += norm_sums[(lane + stride) * TILE_N + j];
        }
      }
      workgroupBarrier();
    }
  }
  for (var j = 0u; j < TILE_N; j++) {
    var total = select(norm_sq[j], norm_sums[lane * TILE_N + j], LANES > SHUFFLE);
    for (var s = min(LANES, SHUFFLE) / 2u; s > 0u; s >>= 1u) {
      total += lane_shuffle_xor(total, s);
    }
    if (t == 0u) { norm_inv[j] = inverseSqrt(total / f32(K) + NORM_EPS); }
  }
  workgroupBarrier();
}

// The finished sum of the tile's token j, scaled by its inv.
fn norm_scale(total: f32, j: u32) -> f32 {
  return total * norm_inv[j];
}
