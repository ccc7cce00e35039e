// Linear layer over a batch of tokens: y[n, r] = (ACCUMULATE ? y[n, r] : 0) + (W[r, :] . x[n, :] + bias[r])
// W is row-major (ROWS, K) as Hugging Face stores nn.Linear; x is (tokens, K); y is (tokens, ROWS).
// Weights arrive as vec4<u32> words in their file's format, so half-precision weights stay
// half the size in memory and are widened in registers:
//   FORMAT 0: f32,  one word = 4 values
//   FORMAT 1: f16,  one word = 8 values (unpack2x16float: the low half is the earlier value)
//   FORMAT 2: bf16, one word = 8 values (a bf16 is the top 16 bits of an f32)
//
// A workgroup of WG threads computes WG / LANES rows, LANES threads per row, for TILE_N tokens:
// each weight word read from memory serves all of them, which is what makes verifying k+1
// tokens cost about one decode step on a memory-bound GPU.
//
// Batch invariance: the sum for one (row, token) pair is always formed in the same order:
// lane l adds words l, l + LANES, l + 2 LANES, ... of the row, then the LANES partial sums are
// combined by a fixed binary tree. LANES depends on K only, never on the token count, so decode
// (1 token), verify (k+1) and prefill (any chunking) give bit-identical rows.

override ROWS: u32;
override K: u32;
override FORMAT: u32 = 0u;
override WG: u32 = 64u;        // threads per workgroup
override LANES: u32 = 64u;     // threads per row: a power of two dividing WG
override TILE_N: u32 = 1u;     // tokens per workgroup, at most MAX_TILE_N
override GRID_X: u32 = 65535u; // workgroups along x; rows past it continue along y
override ACCUMULATE: bool = false;

const MAX_TILE_N = 16u;        // function-scope arrays need a constant size

struct Step { tokens: u32, start: u32, kv_len: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<vec4u>;    // (ROWS, K / values per word)
@group(0) @binding(2) var<storage, read> bias: array<f32>;        // (ROWS), zeros when the layer has none
@group(0) @binding(3) var<storage, read> x: array<vec4f>;         // (tokens, K / 4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;     // (tokens, ROWS)

var<workgroup> partial: array<f32, WG * TILE_N>;                  // (WG, TILE_N)

fn bf16x2(word: u32) -> vec2f {
  return vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let lane = t % LANES;
  let row = (wg.y * GRID_X + wg.x) * (WG / LANES) + t / LANES;
  let n0 = wg.z * TILE_N;
  let tokens = min(TILE_N, step.tokens - n0);
  let live = row < ROWS;  // rows past the end still reach every barrier
  let k4 = K / 4u;

  var acc: array<f32, MAX_TILE_N>;
  if (live && FORMAT == 0u) {
    for (var c = lane; c < k4; c += LANES) {
      let w = bitcast<vec4f>(weight[row * k4 + c]);
      for (var j = 0u; j < TILE_N; j++) {
        if (j < tokens) { acc[j] += dot(w, x[(n0 + j) * k4 + c]); }
      }
    }
  } else if (live) {
    let k8 = K / 8u;
    for (var c = lane; c < k8; c += LANES) {
      let word = weight[row * k8 + c];
      var lo: vec4f;
      var hi: vec4f;
      if (FORMAT == 1u) {
        lo = vec4f(unpack2x16float(word.x), unpack2x16float(word.y));
        hi = vec4f(unpack2x16float(word.z), unpack2x16float(word.w));
      } else {
        lo = vec4f(bf16x2(word.x), bf16x2(word.y));
        hi = vec4f(bf16x2(word.z), bf16x2(word.w));
      }
      for (var j = 0u; j < TILE_N; j++) {
        if (j < tokens) {
          let xi = (n0 + j) * k4 + 2u * c;
          acc[j] += dot(lo, x[xi]);
          acc[j] += dot(hi, x[xi + 1u]);
        }
      }
    }
  }
  if (LANES > 1u) {
    for (var j = 0u; j < TILE_N; j++) { partial[t * TILE_N + j] = acc[j]; }
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
      if (lane < s) {
        for (var j = 0u; j < TILE_N; j++) { partial[t * TILE_N + j] += partial[(t + s) * TILE_N + j]; }
      }
      workgroupBarrier();
    }
    for (var j = 0u; j < TILE_N; j++) { acc[j] = partial[t * TILE_N + j]; }
  }
  if (live && lane == 0u) {
    for (var j = 0u; j < TILE_N; j++) {
      if (j < tokens) {
        let i = (n0 + j) * ROWS + row;
        let value = acc[j] + bias[row];
        if (ACCUMULATE) { y[i] = y[i] + value; } else { y[i] = value; }
      }
    }
  }
}
