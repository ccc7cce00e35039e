// Linear layer for CPU adapters: y[n, r] = (ACCUMULATE ? y[n, r] : 0) + (W[r, :] . x[n, :] + bias[r])
// (stored as act(y) where ACTIVATE: activation.wgsl)
// Same bindings, weight formats (FORMAT 0 f32, 1 f16, 2 bf16, 3 to 14 quantized) and result as linear.wgsl.
//
// A software adapter such as SwiftShader runs invocations as the lanes of CPU SIMD registers
// and pays for every load instruction (each lane's address is gathered), far more than for
// the arithmetic. So one thread computes a block of 4 rows for a tile of TILE_N tokens (1 to
// 8): each chunk of 4 inputs is loaded once for the 4 rows and each weight chunk once for the
// tile's tokens, 8 loads feeding 16 dot products in a tile of 4 where one row at a time needs
// 20. TILE_N is a constant, so a tile of 5 tokens computes 5 products a row, not 8.
//
// Batch invariance, and the same bits as linear.wgsl with one lane a row: the sum for one
// (row, token) pair adds the dot products of 4-value chunks 0, 1, 2, ... in order (f16, bf16:
// word c holds chunks 2c and 2c + 1; quantized: chunks GROUP_CHUNKS c ..) and nothing depends on the token count.
//
// Pairs (PAIR_SPAN > 0, see linear.wgsl): a thread's block of 4 weight rows is rows a and b of
// 2 outputs, and the epilogue's `store_pair` combines them.

override ROWS: u32;            // weight rows
override K: u32;
override FORMAT: u32 = 0u;
override WG: u32 = 32u;        // threads per workgroup, 4 weight rows each
override TILE_N: u32 = 1u;     // tokens per workgroup: 1 to 8
override GRID_X: u32 = 65535u; // workgroups along x; outputs past it continue along y
override ACCUMULATE: bool = false;
// A matrix split by rows over several buffers (one over the binding limit) runs a dispatch per
// part: this part's rows are outputs ROW_OFFSET .. ROW_OFFSET + ROWS of rows of Y_ROWS.
override ROW_OFFSET: u32 = 0u;
override Y_ROWS: u32 = ROWS;
override PAIR_SPAN: u32 = 0u;  // 0: an output is a weight row; else a pair of rows this far apart
override PAIRED: bool = PAIR_SPAN > 0u;
override OUTPUTS: u32 = select(ROWS, ROWS / 2u, PAIRED);  // rows, or pairs of them

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<vec4u>;    // (rows, K / values per word)
@group(0) @binding(2) var<storage, read> bias: array<f32>;        // (rows), zeros when the layer has none
@group(0) @binding(3) var<storage, read> x: array<vec4f>;         // (tokens, K / 4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;     // (tokens, ROWS), or the epilogue's

// TILE_N == 1: s[i] is the block's row i's sum. Else a_i[j] is row i's sum for token n0 + j and
// b_i[j] for token n0 + 4 + j.
var<private> s: vec4f;
var<private> a0: vec4f;
var<private> a1: vec4f;
var<private> a2: vec4f;
var<private> a3: vec4f;
var<private> b0: vec4f;
var<private> b1: vec4f;
var<private> b2: vec4f;
var<private> b3: vec4f;

fn bf16x2(word: u32) -> vec2f {
  return vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

// Row a of pair j.
fn pair_row(j: u32) -> u32 {
  let span = max(PAIR_SPAN, 1u);  // never 0 here, but a division by a constant 0 does not compile
  return (j / span) * 2u * span + j % span;
}

// The low (half == 0) or high 4 values of an f16 or bf16 word.
fn widen(word: vec4u, half: u32) -> vec4f {
  let pair = select(word.xy, word.zw, half == 1u);
  if (FORMAT == 1u) { return vec4f(unpack2x16float(pair.x), unpack2x16float(pair.y)); }
  return vec4f(bf16x2(pair.x), bf16x2(pair.y));
}

// Chunk c of the 4 tokens of group g (tokens n0 + 4g ..), those the tile has (TILE_N and g are
// constants, so the others are never loaded); tokens past `last` read `last` (their sums are
// discarded). Named fields, not an array: a software adapter would keep an array in memory.
struct Inputs { x0: vec4f, x1: vec4f, x2: vec4f, x3: vec4f }

fn inputs(c: u32, n0: u32, g: u32, last: u32) -> Inputs {
  let k4 = K / 4u;
  let n = n0 + 4u * g;
  var v: Inputs;
  v.x0 = x[min(n, last) * k4 + c];
  if (TILE_N > 4u * g + 1u) { v.x1 = x[min(n + 1u, last) * k4 + c]; }
  if (TILE_N > 4u * g + 2u) { v.x2 = x[min(n + 2u, last) * k4 + c]; }
  if (TILE_N > 4u * g + 3u) { v.x3 = x[min(n + 3u, last) * k4 + c]; }
  return v;
}

// dot(w, x_n) for the tokens of group g that the tile has; the others cost nothing.
fn dots(w: vec4f, v: Inputs, g: u32) -> vec4f {
  if (TILE_N >= 4u * g + 4u) { return vec4f(dot(w, v.x0), dot(w, v.x1), dot(w, v.x2), dot(w, v.x3)); }
  var d = vec4f(dot(w, v.x0), 0.0, 0.0, 0.0);
  if (TILE_N > 4u * g + 1u) { d.y = dot(w, v.x1); }
  if (TILE_N > 4u * g + 2u) { d.z = dot(w, v.x2); }
  return d;
}

// Adds chunk c of the block's 4 weight rows (w0..w3) times every token of the tile.
fn add(w0: vec4f, w1: vec4f, w2: vec4f, w3: vec4f, c: u32, n0: u32, last: u32) {
  if (TILE_N == 1u) {
    let v = x[n0 * (K / 4u) + c];
    s += vec4f(dot(w0, v), dot(w1, v), dot(w2, v), dot(w3, v));
    return;
  }
  let low = inputs(c, n0, 0u, last);
  a0 += dots(w0, low, 0u);
  a1 += dots(w1, low, 0u);
  a2 += dots(w2, low, 0u);
  a3 += dots(w3, low, 0u);
  if (TILE_N > 4u) {
    let high = inputs(c, n0, 1u, last);
    b0 += dots(w0, high, 1u);
    b1 += dots(w1, high, 1u);
    b2 += dots(w2, high, 1u);
    b3 += dots(w3, high, 1u);
  }
}

fn sum_of(i: u32, j: u32) -> f32 {
  if (TILE_N == 1u) { return s[i]; }
  if (j >= 4u) {
    if (i == 0u) { return b0[j - 4u]; }
    if (i == 1u) { return b1[j - 4u]; }
    if (i == 2u) { return b2[j - 4u]; }
    return b3[j - 4u];
  }
  if (i == 0u) { return a0[j]; }
  if (i == 1u) { return a1[j]; }
  if (i == 2u) { return a2[j]; }
  return a3[j];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  // Outputs j0 .. j0 + 3, or the pairs j0 and j0 + 1: weight rows a(j0), a(j0 + 1), b(j0), b(j0 + 1).
  let per_thread = select(4u, 2u, PAIRED);
  let j0 = ((wg.y * GRID_X + wg.x) * WG + t) * per_thread;
  if (j0 >= OUTPUTS) { return; }  // no barriers here: threads past the end just leave
  let n0 = wg.z * TILE_N;
  let tokens = min(TILE_N, step.tokens - n0);
  let last = n0 + tokens - 1u;
  // The last block may hang over the end: its missing outputs read the last one's rows, and are not written.
  let j1 = min(j0 + 1u, OUTPUTS - 1u);
  let r0 = select(j0, pair_row(j0), PAIRED);
  let r1 = select(j1, pair_row(j1), PAIRED);
  let r2 = select(min(j0 + 2u, ROWS - 1u), r0 + PAIR_SPAN, PAIRED);
  let r3 = select(min(j0 + 3u, ROWS - 1u), r1 + PAIR_SPAN, PAIRED);

  if (FORMAT == 0u) {
    let k4 = K / 4u;
    for (var c = 0u; c < k4; c++) {
      add(bitcast<vec4f>(weight[r0 * k4 + c]), bitcast<vec4f>(weight[r1 * k4 + c]),
          bitcast<vec4f>(weight[r2 * k4 + c]), bitcast<vec4f>(weight[r3 * k4 + c]), c, n0, last);
    }
  } else if (FORMAT >= 3u) {
    // Whole words (SPLIT_GROUPS is never set here): unit c of a row is its word c.
    for (var c = 0u; c < UNITS; c++) {
      let u0 = load_unit(r0, c);
      let u1 = load_unit(r1, c);
      let u2 = load_unit(r2, c);
      let u3 = load_unit(r3, c);
      for (var h = 0u; h < GROUP_CHUNKS; h++) {
        add(unit_chunk(u0, h), unit_chunk(u1, h), unit_chunk(u2, h), unit_chunk(u3, h), GROUP_CHUNKS * c + h, n0, last);
      }
    }
  } else {
    let k8 = K / 8u;
    for (var c = 0u; c < k8; c++) {
      let u0 = weight[r0 * k8 + c];
      let u1 = weight[r1 * k8 + c];
      let u2 = weight[r2 * k8 + c];
      let u3 = weight[r3 * k8 + c];
      add(widen(u0, 0u), widen(u1, 0u), widen(u2, 0u), widen(u3, 0u), 2u * c, n0, last);
      add(widen(u0, 1u), widen(u1, 1u), widen(u2, 1u), widen(u3, 1u), 2u * c + 1u, n0, last);
    }
  }

  if (PAIRED) {
    for (var i = 0u; i < 2u && j0 + i < OUTPUTS; i++) {
      let ra = select(r0, r1, i == 1u);
      let rb = select(r2, r3, i == 1u);
      for (var j = 0u; j < tokens; j++) {
        store_pair(j0 + i, n0 + j, sum_of(i, j) + bias[ra], sum_of(i + 2u, j) + bias[rb]);
      }
    }
    return;
  }
  for (var i = 0u; i < 4u && j0 + i < ROWS; i++) {
    let row = j0 + i;
    for (var j = 0u; j < tokens; j++) {
      let at = (n0 + j) * Y_ROWS + ROW_OFFSET + row;
      let value = sum_of(i, j) + bias[row];
      if (ACCUMULATE) { y[at] = y[at] + value; } else { y[at] = stored(value); }
    }
  }
}
