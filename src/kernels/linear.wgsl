// Linear layer over a batch of tokens: y[n, r] = (ACCUMULATE ? y[n, r] : 0) + (W[r, :] . x[n, :] + bias[r])
// (stored as act(y) where ACTIVATE: activation.wgsl)
// W is row-major (ROWS, K) as Hugging Face stores nn.Linear; x is (tokens, K); y is (tokens, ROWS)
// (or, with PAIR_SPAN > 0, what an epilogue makes of pairs of rows: see the end of this comment).
// Weights arrive as vec4<u32> words in their file's format, so half-precision weights stay
// half the size in memory and are widened in registers:
//   FORMAT 0: f32,  one word = 4 values
//   FORMAT 1: f16,  one word = 8 values (unpack2x16float: the low half is the earlier value)
//   FORMAT 2: bf16, one word = 8 values (a bf16 is the top 16 bits of an f32)
//   FORMAT 3, 4: MLC's 4-bit groups with f16 / f32 scales, one word = 32 values (quantized.wgsl)
//   FORMAT 5: ggml's Q4_0 in MLC's layout: f16 scales, zero point 8 (quantized.wgsl)
//   FORMAT 6: ggml's Q4_K as 4-bit groups with an f16 (scale, min) pair each (quantized.wgsl)
//   FORMAT 7: 8-bit groups with f32 scales, one word = 16 values (quantized.wgsl)
//   FORMAT 8: 8-bit groups with f32 (scale, min) pairs, one word = 16 values (quantized.wgsl)
//   FORMAT 9: 5-bit groups with fifth bits and an f16 (scale, min) pair, one word = 32 values (quantized.wgsl)
//   FORMAT 10: 6-bit groups with high bits and two f16 (scale, min) pairs, one word = 32 values (quantized.wgsl)
//   FORMAT 11: 4-bit indices into 16 levels (IQ4's, or a lattice type's) with f32 scales, one word = 32 values (quantized.wgsl)
//   FORMAT 12: ggml's Q8_0, 8-bit groups of 32 with f16 scales, one word = 16 values (quantized.wgsl)
//   FORMAT 13: FORMAT 11's level groups with an f32 scale a 16, one word = 32 values (quantized.wgsl)
//   FORMAT 14: ggml's Q6_K, 6-bit groups with high bits, its f16 d and int8 scales, one word = 32 values (quantized.wgsl)
//
// A workgroup of WG threads computes WG / LANES rows, LANES threads per row, for TILE_N tokens:
// each weight read from memory serves all of them, which is what makes verifying k+1 tokens
// cost about one decode step on a memory-bound GPU. Accumulators live in registers: one f32
// for a single token, vec4s a0..a3 for tiles of 2..16 tokens (arrays would spill).
//
// Batch invariance: the sum for one (row, token) pair is always formed in the same order:
// lane l adds the dot products of 4-value chunks l, l + LANES, ... (f32) or of word l's two
// chunks, then word l + LANES's, ... (f16, bf16; quantized: unit l's chunks, a unit being a
// word or with SPLIT_GROUPS a u32 of it, quantized.wgsl), then the LANES partial sums are
// combined by a fixed binary tree. LANES depends on K and the device only, never on the token
// count, so decode (1 token), verify (k+1) and prefill (any chunking) give bit-identical rows.
//
// The tree's strides of SHUFFLE and more go through workgroup memory, a barrier each; the
// strides below SHUFFLE (lanes within one subgroup) by subgroupShuffleXor, with no barrier.
// Lane i < stride adds lane i + stride's value either way, so the sums are bit-identical.
// linear.ts appends `lane_shuffle_xor`: subgroupShuffleXor where the device has subgroups,
// else a function that is never called (SHUFFLE is then 1).
//
// Two rows a thread (TWO_ROWS): each input chunk a thread loads serves two weight rows, which
// halves the input loads of a tile (a tile of n tokens loads n input chunks per weight chunk)
// and keeps two weight loads in flight. The thread's rows are `row` and `row + WG / LANES`, or
// with pairs both rows of its pair, so its lane 0 hands the pair to the epilogue itself. Each
// row is summed in the same order, by the same expressions, as with one row a thread: the bits
// are the same either way, so tiles with and without it can serve one layer.
//
// Units in flight (UNITS_IN_FLIGHT, quantized formats): a lane loads its next 1, 2 or 4 units of
// each of its rows (words and scales) before it adds the first, then adds them in order, so that
// their loads wait on memory together instead of one after another: a 4-bit unit is a u32, 8
// values, so one a row leaves a thread 4 to 16 bytes in flight. The sums and their order are
// those of one unit at a time, the same bits.
//
// Four rows a thread (FOUR_ROWS, with TWO_ROWS; tiles of up to 12 tokens, so that `partial`
// stays within a workgroup's memory): each input chunk serves four rows, `row` + 0, 1, 2 and 3
// times WG / LANES, or with pairs two pairs, the thread's pair and the one WG / LANES pairs on;
// each summed as ever, the same bits again. A verify tile of n tokens then loads n input chunks
// for every four weight chunks, not every two.
//
// Norm: where the profile folds RMSNorm into the layer that reads it, linear-shape.ts appends
// linear_norm.wgsl: the layer reads x times the norm's weight, sums its squares as it goes
// (`normed`), and scales each finished sum by the token's inverse RMS (`norm_finish`,
// `norm_scale`); else those functions leave the input and the sums as they are.
//
// Pairs: with PAIR_SPAN > 0, output j (of ROWS / 2) combines rows a = (j / PAIR_SPAN) *
// 2 PAIR_SPAN + j % PAIR_SPAN and b = a + PAIR_SPAN (gate and up; or dimensions i and
// i + HD/2 of a head) through `store_pair`, the epilogue linear.ts appends. With one row a
// thread, the first half of a workgroup's rows are the a rows of its outputs and the second
// half their b rows, each row summed exactly as without an epilogue; lane 0 of each row leaves
// its sums in workgroup memory and after a barrier the a rows' lane 0 hands each pair to the
// epilogue (with two rows a thread, a thread holds both rows of its pair). Without pairs,
// linear.ts appends a `store_pair` that is never called.

override ROWS: u32;            // weight rows
override K: u32;
override FORMAT: u32 = 0u;
override WG: u32 = 64u;        // threads per workgroup
override LANES: u32 = 64u;     // threads per row: a power of two dividing WG
override TILE_N: u32 = 1u;     // tokens per workgroup: 1 to 16
override SHUFFLE: u32 = 1u;    // aligned blocks of this many lanes share a subgroup (power of two)
override GRID_X: u32 = 65535u; // workgroups along x; rows past it continue along y
override ACCUMULATE: bool = false;
// A matrix split by rows over several buffers (one over the binding limit) runs a dispatch per
// part: this part's rows are outputs ROW_OFFSET .. ROW_OFFSET + ROWS of rows of Y_ROWS.
override ROW_OFFSET: u32 = 0u;
override Y_ROWS: u32 = ROWS;
override PAIR_SPAN: u32 = 0u;  // 0: rows stand alone; else an epilogue pairs rows this far apart
override TWO_ROWS: bool = false;  // a thread sums two weight rows for each input chunk it loads
override FOUR_ROWS: bool = false; // four (with TWO_ROWS, TILE_N up to 12)
// Quantized units of each row a thread loads before adding the first (quantized.wgsl): 1, 2 or 4.
override UNITS_IN_FLIGHT: u32 = 1u;
// Rows a thread sums (never set: it follows the two above).
override HELD: u32 = select(select(1u, 2u, TWO_ROWS), 4u, FOUR_ROWS);

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> weight: array<vec4u>;    // (ROWS, K / values per word)
@group(0) @binding(2) var<storage, read> bias: array<f32>;        // (ROWS), zeros when the layer has none
@group(0) @binding(3) var<storage, read> x: array<vec4f>;         // (tokens, K / 4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;     // (tokens, ROWS), or the epilogue's

// (rows a thread, WG, TILE_N): a thread's first row's lanes, then its second's, ...
var<workgroup> partial: array<f32, WG * TILE_N * HELD>;
// Pairs on one row a thread: (rows of the workgroup, TILE_N); a single unused slot otherwise.
var<workgroup> totals: array<f32, select(1u, WG / LANES * TILE_N, PAIR_SPAN > 0u && !TWO_ROWS)>;

var<private> s: f32;           // the sum for a single token (TILE_N == 1)
var<private> a0: vec4f;        // tokens n0 .. n0 + 3 of the tile
var<private> a1: vec4f;        // n0 + 4 .. n0 + 7
var<private> a2: vec4f;        // n0 + 8 .. n0 + 11
var<private> a3: vec4f;        // n0 + 12 .. n0 + 15
var<private> s_b: f32;         // the same for the thread's second row (TWO_ROWS)
var<private> b0: vec4f;
var<private> b1: vec4f;
var<private> b2: vec4f;
var<private> b3: vec4f;
var<private> s_c: f32;         // the thread's third and fourth rows (FOUR_ROWS)
var<private> s_d: f32;
var<private> c0: vec4f;
var<private> c1: vec4f;
var<private> c2: vec4f;
var<private> c3: vec4f;        // (tiles of more than 12 tokens sum no four rows: never used)
var<private> d0: vec4f;
var<private> d1: vec4f;
var<private> d2: vec4f;
var<private> d3: vec4f;

fn bf16x2(word: u32) -> vec2f {
  return vec2f(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

// Four values of an f16 or bf16 row from two u32s (the low half of each the earlier value).
fn half_chunk(words: vec2u) -> vec4f {
  return vec4f(unpack2x16float(words.x), unpack2x16float(words.y));
}

fn bf16_chunk(words: vec2u) -> vec4f {
  return vec4f(bf16x2(words.x), bf16x2(words.y));
}

// Row a of pair j.
fn pair_row(j: u32) -> u32 {
  let span = max(PAIR_SPAN, 1u);  // never 0 here, but a division by a constant 0 does not compile
  return (j / span) * 2u * span + j % span;
}

// Chunk c of token n's input, the tile's token j, through the folded norm where the layer has
// one (linear_norm.wgsl: `gain`, the norm's weight for chunk c, is loaded once for the whole
// tile); without it `normed` returns the chunk as it is.
fn input(n: u32, c: u32, j: u32, gain: vec4f) -> vec4f {
  return normed(x[n * (K / 4u) + c], j, gain);
}

// The products of the thread's rows' weight chunks (w, w_b, w_c, w_d) with four tokens' inputs.
struct Products { a: vec4f, b: vec4f, c: vec4f, d: vec4f }

// Sets component i of each row's products to its weight chunk . v (rows the thread sums).
fn product(p: ptr<function, Products>, i: u32, w: vec4f, w_b: vec4f, w_c: vec4f, w_d: vec4f, v: vec4f) {
  (*p).a[i] = dot(w, v);
  if (TWO_ROWS) { (*p).b[i] = dot(w_b, v); }
  if (FOUR_ROWS) {
    (*p).c[i] = dot(w_c, v);
    (*p).d[i] = dot(w_d, v);
  }
}

// The products of weight chunk c of the thread's rows with tokens n0 + 4g .. n0 + 4g + 3, those
// the tile has: TILE_N and g are constants, so a tile of 5 or 6 tokens computes 5 or 6 products
// a row, not 8. Tokens past `last` repeat `last` (their sums are discarded).
fn products4(w: vec4f, w_b: vec4f, w_c: vec4f, w_d: vec4f, c: u32, n0: u32, g: u32, last: u32, gain: vec4f) -> Products {
  let n = n0 + 4u * g;
  var p = Products(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  product(&p, 0u, w, w_b, w_c, w_d, input(min(n, last), c, 4u * g, gain));
  if (TILE_N > 4u * g + 1u) { product(&p, 1u, w, w_b, w_c, w_d, input(min(n + 1u, last), c, 4u * g + 1u, gain)); }
  if (TILE_N > 4u * g + 2u) { product(&p, 2u, w, w_b, w_c, w_d, input(min(n + 2u, last), c, 4u * g + 2u, gain)); }
  if (TILE_N > 4u * g + 3u) { product(&p, 3u, w, w_b, w_c, w_d, input(min(n + 3u, last), c, 4u * g + 3u, gain)); }
  return p;
}

// Adds each row's products into its accumulators (those of the rows the thread sums).
fn accumulate(p: Products, a: ptr<private, vec4f>, b: ptr<private, vec4f>, c: ptr<private, vec4f>,
              d: ptr<private, vec4f>) {
  *a += p.a;
  if (TWO_ROWS) { *b += p.b; }
  if (FOUR_ROWS) {
    *c += p.c;
    *d += p.d;
  }
}

// Adds weight chunk w (values 4c .. 4c + 3 of the row; w_b: of the second row, with TWO_ROWS;
// w_c, w_d: of the third and fourth, with FOUR_ROWS) times every token of the tile.
fn add(w: vec4f, w_b: vec4f, w_c: vec4f, w_d: vec4f, c: u32, n0: u32, last: u32) {
  let gain = norm_gain(c);
  if (TILE_N == 1u) {
    let v = input(n0, c, 0u, gain);
    s += dot(w, v);
    if (TWO_ROWS) { s_b += dot(w_b, v); }
    if (FOUR_ROWS) {
      s_c += dot(w_c, v);
      s_d += dot(w_d, v);
    }
    return;
  }
  accumulate(products4(w, w_b, w_c, w_d, c, n0, 0u, last, gain), &a0, &b0, &c0, &d0);
  if (TILE_N > 4u && n0 + 4u <= last) { accumulate(products4(w, w_b, w_c, w_d, c, n0, 1u, last, gain), &a1, &b1, &c1, &d1); }
  if (TILE_N > 8u && n0 + 8u <= last) { accumulate(products4(w, w_b, w_c, w_d, c, n0, 2u, last, gain), &a2, &b2, &c2, &d2); }
  if (TILE_N > 12u && n0 + 12u <= last) { accumulate(products4(w, w_b, w_c, w_d, c, n0, 3u, last, gain), &a3, &b3, &c3, &d3); }
}

// Adds unit u of the thread's rows (a: its first row's, b, c, d: its second to fourth's, read
// whether it sums them or not) times every token of the tile, chunk by chunk.
fn add_unit(a: Unit, b: Unit, c: Unit, d: Unit, u: u32, n0: u32, last: u32) {
  let first = unit_first_chunk(u);
  let base = GROUP_CHUNKS * unit_group(u);
  for (var h = first; h < first + UNIT_CHUNKS; h++) {
    add(unit_chunk(a, h), unit_chunk(b, h), unit_chunk(c, h), unit_chunk(d, h), base + h, n0, last);
  }
}

// The lane's sum for token n0 + j of its row r (0: first, 1: second, ...), before the lanes meet.
fn sum_of(r: u32, j: u32) -> f32 {
  if (r == 3u) {  // four rows a thread: tiles of up to 12 tokens
    if (TILE_N == 1u) { return s_d; }
    if (j < 4u) { return d0[j]; }
    if (j < 8u) { return d1[j - 4u]; }
    return d2[j - 8u];
  }
  if (r == 2u) {
    if (TILE_N == 1u) { return s_c; }
    if (j < 4u) { return c0[j]; }
    if (j < 8u) { return c1[j - 4u]; }
    return c2[j - 8u];
  }
  if (r == 1u) {
    if (TILE_N == 1u) { return s_b; }
    if (j < 4u) { return b0[j]; }
    if (j < 8u) { return b1[j - 4u]; }
    if (j < 12u) { return b2[j - 8u]; }
    return b3[j - 12u];
  }
  if (TILE_N == 1u) { return s; }
  if (j < 4u) { return a0[j]; }
  if (j < 8u) { return a1[j - 4u]; }
  if (j < 12u) { return a2[j - 8u]; }
  return a3[j - 12u];
}

// The full sum of token n0 + j of the thread's row r, in lane 0: the lanes' sums met by the
// fixed tree, its strides of SHUFFLE and more already done in `partial`.
fn lanes_total(t: u32, lane: u32, r: u32, j: u32) -> f32 {
  var total = select(sum_of(r, j), partial[(r * WG + t) * TILE_N + j], LANES > SHUFFLE);
  for (var stride = min(LANES, SHUFFLE) / 2u; stride > 0u; stride >>= 1u) {
    total += lane_shuffle_xor(total, stride);
  }
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let lane = t % LANES;
  let slot = t / LANES;  // this thread's row (or pair) among the workgroup's
  let group = wg.y * GRID_X + wg.x;
  let slots = WG / LANES;  // the workgroup's rows (pairs' rows), or with HELD rows a thread 1 / HELD of them
  var row = group * slots * HELD + slot;
  var row_b = row + slots;  // the second row (TWO_ROWS)
  var row_c = row + 2u * slots;  // the third and fourth (FOUR_ROWS)
  var row_d = row + 3u * slots;
  // Pairs: one row a thread, a pair per two slots; two rows a thread, a pair a slot; four, two.
  let pairs = select(max(slots / 2u, 1u), slots * HELD / 2u, TWO_ROWS);  // pairs a workgroup
  let pair = group * pairs + slot % pairs;
  let pair_c = pair + slots;  // the thread's second pair (FOUR_ROWS)
  if (PAIR_SPAN > 0u) {
    row = select(pair_row(pair), pair_row(pair) + PAIR_SPAN, !TWO_ROWS && slot >= pairs);
    row_b = pair_row(pair) + PAIR_SPAN;
    row_c = pair_row(pair_c);
    row_d = row_c + PAIR_SPAN;
  }
  let n0 = wg.z * TILE_N;
  let tokens = min(TILE_N, step.tokens - n0);
  let last = n0 + tokens - 1u;
  let live = row < ROWS && (PAIR_SPAN == 0u || pair < ROWS / 2u);  // rows past the end still reach every barrier
  let live_b = TWO_ROWS && row_b < ROWS && (PAIR_SPAN == 0u || pair < ROWS / 2u);
  let live_c = FOUR_ROWS && row_c < ROWS && (PAIR_SPAN == 0u || pair_c < ROWS / 2u);
  let live_d = FOUR_ROWS && row_d < ROWS && (PAIR_SPAN == 0u || pair_c < ROWS / 2u);
  // A later row past the end reads the last (its sums are discarded).
  let read_b = min(row_b, ROWS - 1u);
  let read_c = min(row_c, ROWS - 1u);
  let read_d = min(row_d, ROWS - 1u);

  if (live && FORMAT == 0u) {
    let k4 = K / 4u;
    for (var c = lane; c < k4; c += LANES) {
      add(bitcast<vec4f>(weight[row * k4 + c]), bitcast<vec4f>(weight[read_b * k4 + c]),
          bitcast<vec4f>(weight[read_c * k4 + c]), bitcast<vec4f>(weight[read_d * k4 + c]), c, n0, last);
    }
  } else if (live && FORMAT >= 3u) {
    // UNITS_IN_FLIGHT units of each row are loaded before the first is added, so that their
    // loads are in flight together; they are added in the order one at a time adds them.
    for (var u = lane; u < UNITS; u += LANES * UNITS_IN_FLIGHT) {
      let a0 = load_unit(row, u);
      let b0 = load_unit(read_b, u);
      let c0 = load_unit(read_c, u);
      let d0 = load_unit(read_d, u);
      var a1: Unit; var b1: Unit; var c1: Unit; var d1: Unit;
      var a2: Unit; var b2: Unit; var c2: Unit; var d2: Unit;
      var a3: Unit; var b3: Unit; var c3: Unit; var d3: Unit;
      // A unit past the row's last loads the last (it is not added).
      let u1 = min(u + LANES, UNITS - 1u);
      let u2 = min(u + 2u * LANES, UNITS - 1u);
      let u3 = min(u + 3u * LANES, UNITS - 1u);
      if (UNITS_IN_FLIGHT > 1u) {
        a1 = load_unit(row, u1); b1 = load_unit(read_b, u1); c1 = load_unit(read_c, u1); d1 = load_unit(read_d, u1);
      }
      if (UNITS_IN_FLIGHT > 2u) {
        a2 = load_unit(row, u2); b2 = load_unit(read_b, u2); c2 = load_unit(read_c, u2); d2 = load_unit(read_d, u2);
        a3 = load_unit(row, u3); b3 = load_unit(read_b, u3); c3 = load_unit(read_c, u3); d3 = load_unit(read_d, u3);
      }
      add_unit(a0, b0, c0, d0, u, n0, last);
      if (UNITS_IN_FLIGHT > 1u && u + LANES < UNITS) { add_unit(a1, b1, c1, d1, u1, n0, last); }
      if (UNITS_IN_FLIGHT > 2u && u + 2u * LANES < UNITS) { add_unit(a2, b2, c2, d2, u2, n0, last); }
      if (UNITS_IN_FLIGHT > 2u && u + 3u * LANES < UNITS) { add_unit(a3, b3, c3, d3, u3, n0, last); }
    }
  } else if (live) {
    let k8 = K / 8u;
    for (var c = lane; c < k8; c += LANES) {
      let word = weight[row * k8 + c];
      let word_b = weight[read_b * k8 + c];
      let word_c = weight[read_c * k8 + c];
      let word_d = weight[read_d * k8 + c];
      if (FORMAT == 1u) {
        add(half_chunk(word.xy), half_chunk(word_b.xy), half_chunk(word_c.xy), half_chunk(word_d.xy), 2u * c, n0, last);
        add(half_chunk(word.zw), half_chunk(word_b.zw), half_chunk(word_c.zw), half_chunk(word_d.zw), 2u * c + 1u, n0, last);
      } else {
        add(bf16_chunk(word.xy), bf16_chunk(word_b.xy), bf16_chunk(word_c.xy), bf16_chunk(word_d.xy), 2u * c, n0, last);
        add(bf16_chunk(word.zw), bf16_chunk(word_b.zw), bf16_chunk(word_c.zw), bf16_chunk(word_d.zw), 2u * c + 1u, n0, last);
      }
    }
  }

  norm_finish(t, lane);  // a folded norm's inv for each token (linear_norm.wgsl)

  // The lanes meet: strides of SHUFFLE and more in workgroup memory, both rows at each stride.
  if (LANES > SHUFFLE) {
    for (var r = 0u; r < HELD; r++) {
      for (var j = 0u; j < TILE_N; j++) { partial[(r * WG + t) * TILE_N + j] = sum_of(r, j); }
    }
    workgroupBarrier();
    for (var stride = LANES / 2u; stride >= SHUFFLE; stride >>= 1u) {
      if (lane < stride) {
        for (var r = 0u; r < HELD; r++) {
          for (var j = 0u; j < TILE_N; j++) {
            partial[(r * WG + t) * TILE_N + j] += partial[(r * WG + t + stride) * TILE_N + j];
          }
        }
      }
      workgroupBarrier();
    }
  }
  for (var j = 0u; j < TILE_N; j++) {
    let total = norm_scale(lanes_total(t, lane, 0u, j), j);
    var total_b = 0.0;
    var total_c = 0.0;
    var total_d = 0.0;
    if (TWO_ROWS) { total_b = norm_scale(lanes_total(t, lane, 1u, j), j); }
    if (FOUR_ROWS) {
      total_c = norm_scale(lanes_total(t, lane, 2u, j), j);
      total_d = norm_scale(lanes_total(t, lane, 3u, j), j);
    }
    if (PAIR_SPAN > 0u && TWO_ROWS) {
      // The thread holds both rows of its pair (and of its second pair).
      if (live && lane == 0u && j < tokens) { store_pair(pair, n0 + j, total + bias[row], total_b + bias[row_b]); }
      if (live_c && lane == 0u && j < tokens) {
        store_pair(pair_c, n0 + j, total_c + bias[row_c], total_d + bias[row_d]);
      }
    } else if (PAIR_SPAN > 0u) {
      if (lane == 0u) { totals[slot * TILE_N + j] = total + bias[min(row, ROWS - 1u)]; }
    } else if (lane == 0u && j < tokens) {
      if (live) { store_row(row, n0 + j, total + bias[row]); }
      if (live_b) { store_row(row_b, n0 + j, total_b + bias[row_b]); }
      if (live_c) { store_row(row_c, n0 + j, total_c + bias[row_c]); }
      if (live_d) { store_row(row_d, n0 + j, total_d + bias[row_d]); }
    }
  }
  if (PAIR_SPAN > 0u && !TWO_ROWS) {
    workgroupBarrier();
    if (live && lane == 0u && slot < pairs) {
      for (var j = 0u; j < tokens; j++) {
        store_pair(pair, n0 + j, totals[slot * TILE_N + j], totals[(slot + pairs) * TILE_N + j]);
      }
    }
  }
}

// Row `row`'s value for token n: stored, or added into y.
fn store_row(row: u32, n: u32, value: f32) {
  let i = n * Y_ROWS + ROW_OFFSET + row;
  if (ACCUMULATE) { y[i] = y[i] + value; } else { y[i] = stored(value); }
}
