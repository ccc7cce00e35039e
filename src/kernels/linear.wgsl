// Linear layer over a batch of tokens: y[n, r] = (ACCUMULATE ? y[n, r] : 0) + (W[r, :] . x[n, :] + bias[r])
// W is row-major (ROWS, K) as Hugging Face stores nn.Linear; x is (tokens, K); y is (tokens, ROWS).
//
// One workgroup computes one output row for TILE_N tokens: every weight vec4 read from memory
// is used for all of them, which is what makes verifying k+1 tokens cost about one decode step
// on a memory-bound GPU.
//
// Batch invariance: the sum for one (row, token) pair is always formed in the same order:
// thread t adds chunks t, t + WG, t + 2 WG, ... of the K/4 vec4 chunks, then the WG partial
// sums are combined by a fixed binary tree. WG depends on K only, never on the token count,
// so decode (1 token), verify (k+1) and prefill (any chunking) give bit-identical rows.

override ROWS: u32;
override K4: u32;              // K / 4
override WG: u32 = 64;         // threads per row, a power of two
override TILE_N: u32 = 1;      // tokens per workgroup, at most MAX_TILE_N
override GRID_X: u32 = 65535;  // workgroups along x; rows past it continue along y
override ACCUMULATE: bool = false;

const MAX_TILE_N = 16u;        // function-scope arrays need a constant size

struct Step { tokens: u32, start: u32, kv_len: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<vec4f>;    // (ROWS, K4)
@group(0) @binding(2) var<storage, read> bias: array<f32>;        // (ROWS), zeros when the layer has none
@group(0) @binding(3) var<storage, read> x: array<vec4f>;         // (tokens, K4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;     // (tokens, ROWS)

var<workgroup> partial: array<f32, WG * TILE_N>;                  // (TILE_N, WG)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = wg.y * GRID_X + wg.x;
  let n0 = wg.z * TILE_N;
  if (row >= ROWS) { return; }  // uniform per workgroup, so no barrier is skipped by half of it
  let tokens = min(TILE_N, step.tokens - n0);

  var acc: array<f32, MAX_TILE_N>;
  for (var c = t; c < K4; c += WG) {
    let w = weight[row * K4 + c];
    for (var j = 0u; j < TILE_N; j++) {
      if (j < tokens) { acc[j] += dot(w, x[(n0 + j) * K4 + c]); }
    }
  }
  for (var j = 0u; j < TILE_N; j++) { partial[j * WG + t] = acc[j]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var j = 0u; j < TILE_N; j++) { partial[j * WG + t] += partial[j * WG + t + s]; }
    }
    workgroupBarrier();
  }
  if (t < tokens) {
    let i = (n0 + t) * ROWS + row;
    let value = partial[t * WG] + bias[row];
    if (ACCUMULATE) { y[i] = y[i] + value; } else { y[i] = value; }
  }
}
