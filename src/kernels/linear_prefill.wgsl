// Linear layer for prefill on GPUs: y[n, r] = (ACCUMULATE ? y[n, r] : 0) + (W[r, :] . x[n, :] + bias[r])
// (stored as act(y) where ACTIVATE: activation.wgsl)
// Same bindings, weight formats (FORMAT 0 f32, 1 f16, 2 bf16, 3 to 14 quantized), epilogues and result, to the
// bit, as linear.wgsl; used for steps of more tokens than linear.wgsl's largest tile.
//
// With many tokens a linear layer stops being bound by reading the weights once and becomes
// bound by the loads that feed the arithmetic. linear.wgsl loads a weight chunk and 16 input
// chunks for 16 dot products; here a workgroup stages a tile of TILE_R weight rows and TILE_N
// tokens in workgroup memory, and each thread computes a block of 4 rows x 4 tokens from it:
// 8 loads from workgroup memory feed 16 dot products, and each weight word read from memory
// serves TILE_N tokens, each input chunk TILE_R rows.
//
// Batch invariance (the same bits as linear.wgsl for any token count): the reduction over K is
// split exactly as there. Lane l of a row adds the dot products of units l, l + LANES, ... (f32:
// one 4-value chunk a word; f16, bf16: a word's two chunks in order; quantized: the unit's
// chunks in order, quantized.wgsl) for each of its 16 sums,
// and the LANES partial sums meet by the same binary tree, through workgroup memory for strides
// of SHUFFLE and more and by subgroup shuffles below. So the workgroup walks K in steps of
// LANES words: each step stages word base + l of every tile row for lane l, and the inputs
// that meet them, STAGED chunks of each word at a time (a quantized word's chunks of inputs
// would not fit in workgroup memory at once; the order of the additions is unchanged).
//
// Threads: t = block * LANES + lane, block = token_block * ROW_THREADS + row_block. A thread's
// rows are the workgroup's rows row_block + m ROW_THREADS (m = 0..3), its tokens 4 token_block
// .. + 3. With pairs (PAIR_SPAN > 0, see linear.wgsl) the workgroup's first TILE_R / 2 rows are
// the a rows of its outputs and the rest their b rows, so a thread's rows m and m + 2 are a
// pair, and its lane 0 hands both to the epilogue's `store_pair`.
//
// A layer that folds its norm (linear_norm.wgsl) reads x * g here, which norm_lanes.wgsl wrote
// with each token's inverse RMS, and scales each sum by it (`norm_scale`, appended by
// linear-prefill.ts; without a norm it returns the sum).

override ROWS: u32;            // weight rows
override K: u32;
override FORMAT: u32 = 0u;
override LANES: u32 = 16u;     // threads per row: a power of two
override ROW_THREADS: u32 = 4u;    // threads along the rows, 4 rows each
override TOKEN_THREADS: u32 = 4u;  // threads along the tokens, 4 tokens each
override SHUFFLE: u32 = 1u;    // aligned blocks of this many lanes share a subgroup (power of two)
override GRID_X: u32 = 65535u; // workgroups along x; rows past it continue along y
override ACCUMULATE: bool = false;
// A matrix split by rows over several buffers (one over the binding limit) runs a dispatch per
// part: this part's rows are outputs ROW_OFFSET .. ROW_OFFSET + ROWS of rows of Y_ROWS.
override ROW_OFFSET: u32 = 0u;
override Y_ROWS: u32 = ROWS;
override PAIR_SPAN: u32 = 0u;  // 0: rows stand alone; else an epilogue pairs rows this far apart

override WG: u32 = LANES * ROW_THREADS * TOKEN_THREADS;
override TILE_R: u32 = 4u * ROW_THREADS;                // weight rows a workgroup
override TILE_N: u32 = 4u * TOKEN_THREADS;              // tokens a workgroup
// A lane's unit of a row: a word (f32, f16, bf16), or a quantized row's unit (quantized.wgsl).
override CHUNKS: u32 = select(select(2u, UNIT_CHUNKS, FORMAT >= 3u), 1u, FORMAT == 0u);  // 4-value chunks a unit
override STAGED: u32 = min(CHUNKS, 2u);                 // chunks of inputs staged at a time
override WORDS: u32 = K / (4u * CHUNKS);                // units a weight row

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<vec4u>;    // (ROWS, WORDS)
@group(0) @binding(2) var<storage, read> bias: array<f32>;        // (ROWS), zeros when the layer has none
@group(0) @binding(3) var<storage, read> x: array<vec4f>;         // (tokens, K / 4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;     // (tokens, ROWS), or the epilogue's

// One step's weights, (TILE_R, LANES) words, then its inputs, (TILE_N, STAGED, LANES) chunks
// (bit patterns: integers keep every bit); afterwards the lanes' sums, (WG, 4) vec4s.
override X_TILE: u32 = TILE_R * LANES;
var<workgroup> tile: array<vec4u, max(X_TILE + TILE_N * STAGED * LANES, WG * 4u)>;
// Quantized: the (scale, min) of the staged weight words, (TILE_R, LANES); one unused slot otherwise.
override SCALE_SLOTS: u32 = select(1u, X_TILE, FORMAT >= 3u);
var<workgroup> scale_tile: array<vec2f, SCALE_SLOTS>;
// FORMAT 10, 13 and 14: the second (scale, min) of the staged words; FORMAT 9, 10 and 14: the
// bits above their nibbles, (TILE_R, LANES) each; one unused slot otherwise.
override HAS_SCALE2: bool = FORMAT == 10u || FORMAT == 13u || FORMAT == 14u;
override HAS_HIGH: bool = FORMAT == 9u || FORMAT == 10u || FORMAT == 14u;
override SCALE2_SLOTS: u32 = select(1u, X_TILE, HAS_SCALE2);
var<workgroup> scale2_tile: array<vec2f, SCALE2_SLOTS>;
override HIGH_SLOTS: u32 = select(1u, X_TILE, HAS_HIGH);
var<workgroup> high_tile: array<vec2u, HIGH_SLOTS>;

// A staged word's second (scale, min) and high bits, read only where the format has them (FORMAT
// is a constant: the other formats pay no workgroup-memory load).
fn staged_scale2(i: u32) -> vec2f {
  if (!HAS_SCALE2) { return vec2f(0.0); }
  return scale2_tile[min(i, SCALE2_SLOTS - 1u)];
}
fn staged_high(i: u32) -> vec2u {
  if (!HAS_HIGH) { return vec2u(0u); }
  return high_tile[min(i, HIGH_SLOTS - 1u)];
}

var<private> a0: vec4f;        // row m = 0 of the thread's block, its 4 tokens
var<private> a1: vec4f;
var<private> a2: vec4f;
var<private> a3: vec4f;

fn bf16x2(word: u32) -> vec2f {
  return vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

// Chunk h of a weight word as 4 floats (quantized: chunk h of its group, with the group's scales
// and high bits; a split unit is staged as unit_word gives it, its u32 in every component).
fn widen(word: vec4u, h: u32, scale: vec2f, scale2: vec2f, high: vec2u) -> vec4f {
  if (FORMAT == 0u) { return bitcast<vec4f>(word); }
  if (FORMAT >= 3u) { return group_chunk(word, h, scale, scale2, high); }
  let pair = select(word.xy, word.zw, h == 1u);
  if (FORMAT == 1u) { return vec4f(unpack2x16float(pair.x), unpack2x16float(pair.y)); }
  return vec4f(bf16x2(pair.x), bf16x2(pair.y));
}

fn dots(w: vec4f, x0: vec4f, x1: vec4f, x2: vec4f, x3: vec4f) -> vec4f {
  return vec4f(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3));
}

fn shuffle4(v: vec4f, mask: u32) -> vec4f {
  return vec4f(lane_shuffle_xor(v.x, mask), lane_shuffle_xor(v.y, mask),
               lane_shuffle_xor(v.z, mask), lane_shuffle_xor(v.w, mask));
}

// Row a of pair j.
fn pair_row(j: u32) -> u32 {
  let span = max(PAIR_SPAN, 1u);  // never 0 here, but a division by a constant 0 does not compile
  return (j / span) * 2u * span + j % span;
}

// The weight row of workgroup `group`'s i-th row (with pairs: the pair's a or b row).
fn weight_row(group: u32, i: u32) -> u32 {
  if (PAIR_SPAN == 0u) { return group * TILE_R + i; }
  let half = TILE_R / 2u;
  return pair_row(group * half + i % half) + select(0u, PAIR_SPAN, i >= half);
}

fn sums(m: u32) -> vec4f {
  if (m == 0u) { return a0; }
  if (m == 1u) { return a1; }
  if (m == 2u) { return a2; }
  return a3;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let lane = t % LANES;
  let block = t / LANES;
  let row_block = block % ROW_THREADS;
  let token_block = block / ROW_THREADS;
  let group = wg.y * GRID_X + wg.x;
  let n0 = wg.z * TILE_N;
  let last = min(n0 + TILE_N, step.tokens) - 1u;  // tokens past it repeat it (discarded)

  for (var base = 0u; base < WORDS; base += LANES) {
    for (var i = t; i < X_TILE; i += WG) {
      let row = min(weight_row(group, i / LANES), ROWS - 1u);  // rows past the end: discarded
      let word = min(base + i % LANES, WORDS - 1u);
      if (FORMAT >= 3u) {
        let c = unit_group(word);
        tile[i] = unit_word(row, word);
        scale_tile[min(i, SCALE_SLOTS - 1u)] = group_scale(row, c);
        if (HAS_SCALE2) { scale2_tile[min(i, SCALE2_SLOTS - 1u)] = group_scale2(row, c); }
        if (HAS_HIGH) { high_tile[min(i, HIGH_SLOTS - 1u)] = group_high(row, c); }
      } else {
        tile[i] = weight[row * WORDS + word];
      }
    }
    for (var h0 = 0u; h0 < CHUNKS; h0 += STAGED) {
      for (var i = t; i < TILE_N * STAGED * LANES; i += WG) {
        let n = min(n0 + i / (STAGED * LANES), last);
        let chunk = (base + i % LANES) * CHUNKS + h0 + (i / LANES) % STAGED;
        tile[X_TILE + i] = bitcast<vec4u>(x[n * (K / 4u) + min(chunk, K / 4u - 1u)]);
      }
      workgroupBarrier();
      if (base + lane < WORDS) {
        let i0 = row_block * LANES + lane;
        let i1 = (row_block + ROW_THREADS) * LANES + lane;
        let i2 = (row_block + 2u * ROW_THREADS) * LANES + lane;
        let i3 = (row_block + 3u * ROW_THREADS) * LANES + lane;
        let s0 = scale_tile[min(i0, SCALE_SLOTS - 1u)];
        let s1 = scale_tile[min(i1, SCALE_SLOTS - 1u)];
        let s2 = scale_tile[min(i2, SCALE_SLOTS - 1u)];
        let s3 = scale_tile[min(i3, SCALE_SLOTS - 1u)];
        let t0 = staged_scale2(i0);
        let t1 = staged_scale2(i1);
        let t2 = staged_scale2(i2);
        let t3 = staged_scale2(i3);
        let f0 = staged_high(i0);
        let f1 = staged_high(i1);
        let f2 = staged_high(i2);
        let f3 = staged_high(i3);
        // A quantized unit's chunks are chunks `first` on of its group (0 for the other formats).
        let first = select(0u, unit_first_chunk(base + lane), FORMAT >= 3u);
        for (var h = 0u; h < STAGED; h++) {
          let at = X_TILE + (4u * token_block * STAGED + h) * LANES + lane;
          let x0 = bitcast<vec4f>(tile[at]);
          let x1 = bitcast<vec4f>(tile[at + STAGED * LANES]);
          let x2 = bitcast<vec4f>(tile[at + 2u * STAGED * LANES]);
          let x3 = bitcast<vec4f>(tile[at + 3u * STAGED * LANES]);
          a0 += dots(widen(tile[i0], first + h0 + h, s0, t0, f0), x0, x1, x2, x3);
          a1 += dots(widen(tile[i1], first + h0 + h, s1, t1, f1), x0, x1, x2, x3);
          a2 += dots(widen(tile[i2], first + h0 + h, s2, t2, f2), x0, x1, x2, x3);
          a3 += dots(widen(tile[i3], first + h0 + h, s3, t3, f3), x0, x1, x2, x3);
        }
      }
      workgroupBarrier();
    }
  }

  // The lanes' sums meet, each lane adding its partner's: linear.wgsl's tree, 16 sums at a time.
  if (LANES > SHUFFLE) {
    tile[t * 4u] = bitcast<vec4u>(a0);
    tile[t * 4u + 1u] = bitcast<vec4u>(a1);
    tile[t * 4u + 2u] = bitcast<vec4u>(a2);
    tile[t * 4u + 3u] = bitcast<vec4u>(a3);
    workgroupBarrier();
    for (var stride = LANES / 2u; stride >= SHUFFLE; stride >>= 1u) {
      if (lane < stride) {
        for (var m = 0u; m < 4u; m++) {
          let sum = bitcast<vec4f>(tile[t * 4u + m]) + bitcast<vec4f>(tile[(t + stride) * 4u + m]);
          tile[t * 4u + m] = bitcast<vec4u>(sum);
        }
      }
      workgroupBarrier();
    }
    a0 = bitcast<vec4f>(tile[t * 4u]);
    a1 = bitcast<vec4f>(tile[t * 4u + 1u]);
    a2 = bitcast<vec4f>(tile[t * 4u + 2u]);
    a3 = bitcast<vec4f>(tile[t * 4u + 3u]);
  }
  for (var stride = min(LANES, SHUFFLE) / 2u; stride > 0u; stride >>= 1u) {
    a0 += shuffle4(a0, stride);
    a1 += shuffle4(a1, stride);
    a2 += shuffle4(a2, stride);
    a3 += shuffle4(a3, stride);
  }
  if (lane != 0u) { return; }

  let first = n0 + 4u * token_block;
  if (PAIR_SPAN > 0u) {
    for (var m = 0u; m < 2u; m++) {
      let i = row_block + m * ROW_THREADS;
      let pair = group * (TILE_R / 2u) + i;
      if (pair >= ROWS / 2u) { continue; }
      let ra = pair_row(pair);
      let rb = ra + PAIR_SPAN;
      let a = sums(m);
      let b = sums(m + 2u);
      for (var j = 0u; j < 4u && first + j <= last; j++) {
        store_pair(pair, first + j, norm_scale(a[j], first + j) + bias[ra], norm_scale(b[j], first + j) + bias[rb]);
      }
    }
    return;
  }
  for (var m = 0u; m < 4u; m++) {
    let row = weight_row(group, row_block + m * ROW_THREADS);
    if (row >= ROWS) { continue; }
    let total = sums(m);
    for (var j = 0u; j < 4u && first + j <= last; j++) {
      let at = (first + j) * Y_ROWS + ROW_OFFSET + row;
      let value = norm_scale(total[j], first + j) + bias[row];
      if (ACCUMULATE) { y[at] = y[at] + value; } else { y[at] = stored(value); }
    }
  }
}
