// Causal attention for long steps (prefill): the rows of one KV head's queries share each tile
// of keys and values. A workgroup takes ROWS rows, a row being one (token, query head) pair of
// the KV head's group, ordered token by token: rows r = 0, 1, ... of workgroup y are pair
// y * ROWS + r, token (y * ROWS + r) / G and head kvh * G + (y * ROWS + r) % G, G = NH / NKV.
// A thread loads a key and a value once for all of them, where attention.wgsl loads it once
// for every head and token: a prompt's keys are read ROWS times less. Compiled with ROWS = G
// (ops.ts), a workgroup holds one token's heads of a KV head: a decode step at a long context
// then reads each cached key and value once, where attention.wgsl reads them G times.
//
// Each row's arithmetic is attention.wgsl's, operation for operation, so a token gets the
// same bits whichever kernel runs it (a prefill here, a decode step there): tiles of WG
// positions at multiples of WG, thread j scoring position j (q . k summed over the head's
// quads in order), the tile's max and sum by the same tree (sum: reduce[u] += reduce[u + w],
// w = WG/2, ..., 1), and the values summed in four partial sums, positions j mod 4, the last
// count mod 4 positions of a row's tile added to the first one in order. A row visits only
// its own tiles and segments: in a tile before its first or after its last it changes nothing.
//
// Segments (flash-decoding: attention_segments.wgsl) are split as attention.wgsl splits them, into
// the same partials, which attention_combine.wgsl merges. A tree pass, whose leaves read their
// own slots, runs attention.wgsl: here position p's key and value are slot p's.

override NH: u32;
override NKV: u32;
override HD: u32;
override WG: u32 = 64u;     // >= HD: thread d accumulates output dimension d
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;  // 0: every position
override SPLIT: u32 = 512u;  // positions a workgroup walks past the first FINE: a multiple of WG
override SEGMENTS: u32 = 1u; // segments of the longest context: the partials' stride per (token, head)

const ROWS = 8u;            // (token, head) rows of a workgroup; ops.ts sets it (fewer where HD is large)
const NEG_LARGE = -3.0e38;  // stands for -infinity (WGSL constants cannot be infinite)

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;        // (tokens, NH, HD / 4), rotated
// Bindings 2 and 3, the KV cache, and its accessors key4 / value come from kv-cache.ts (f32 or f16).
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (tokens, NH, HD)
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;  // (tokens, NH, SEGMENTS, HD + 2)

var<workgroup> q_tile: array<vec4f, ROWS * HD / 4u>;
var<workgroup> probs: array<f32, ROWS * WG>;
var<workgroup> reduce: array<f32, ROWS * WG>;

// One row's place: its token n and head h, its position's length p + 1, the first position it
// sees, and the positions [begin, end) of this segment it walks (begin a multiple of WG).
struct Row { n: u32, h: u32, length: u32, first: u32, begin: u32, end: u32, live: bool }

fn row_at(kvh: u32, y: u32, r: u32, segment: u32) -> Row {
  let group = NH / NKV;
  let pair = y * ROWS + r;
  var row: Row;
  row.n = pair / group;
  row.h = kvh * group + pair % group;
  row.length = step.start + row.n + 1u;
  row.first = select(0u, row.length - WINDOW, WINDOW > 0u && row.length > WINDOW);
  row.begin = max(row.first / WG * WG, segment_start(segment));
  row.end = min(row.length, segment_start(segment + 1u));
  row.live = row.n < step.tokens && segment < segment_count(row.length);
  return row;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let kvh = wg.x;
  let segment = wg.z;
  let hd4 = HD / 4u;
  var rows: array<Row, ROWS>;
  var lo = 0xffffffffu;  // the tiles some row walks: [lo, hi)
  var hi = 0u;
  for (var r = 0u; r < ROWS; r++) {
    rows[r] = row_at(kvh, wg.y, r, segment);
    if (rows[r].live) {
      // A row may have no positions here (a segment before its window): it still writes its partials.
      if (rows[r].begin < rows[r].end) {
        lo = min(lo, rows[r].begin);
        hi = max(hi, rows[r].end);
      }
      if (t < hd4) { q_tile[r * hd4 + t] = q[(rows[r].n * NH + rows[r].h) * hd4 + t]; }
    }
  }
  workgroupBarrier();

  // Arrays are initialised explicitly: one declared in a loop without an initialiser kept its
  // values from the previous iteration on SwiftShader through Dawn, where WGSL zeroes it.
  var m = array<f32, ROWS>();    // each row's running max, denominator and numerator (dimension t)
  var l = array<f32, ROWS>();
  var acc = array<f32, ROWS>();
  for (var r = 0u; r < ROWS; r++) { m[r] = NEG_LARGE; }
  for (var tile = lo; tile < hi; tile += WG) {
    let pos = tile + t;
    // Scores: thread t scores position pos for every row, reading its key once.
    var qk = array<f32, ROWS>();
    if (pos < hi) {
      let k = (pos * NKV + kvh) * hd4;
      for (var i = 0u; i < hd4; i++) {
        let key = key4(k + i);
        for (var r = 0u; r < ROWS; r++) { qk[r] += dot(q_tile[r * hd4 + i], key); }
      }
    }
    var s = array<f32, ROWS>();
    var walks = array<bool, ROWS>();  // the rows that walk this tile
    for (var r = 0u; r < ROWS; r++) {
      let row = rows[r];
      walks[r] = row.live && tile >= row.begin && tile < row.end;
      s[r] = NEG_LARGE;
      if (walks[r] && pos >= row.first && pos < row.end) {
        // In a scalar, as attention.wgsl has it: capped in place in the array, the scores'
        // last bits differed from attention.wgsl's on SwiftShader.
        var score = qk[r] * SCALE;
        if (SOFTCAP > 0.0) { score = SOFTCAP * tanh(clamp(score / SOFTCAP, -15.0, 15.0)); }
        s[r] = score;
      }
      reduce[r * WG + t] = s[r];
    }
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      for (var i = t; i < ROWS * w; i += WG) {
        let at = i / w * WG + i % w;
        reduce[at] = max(reduce[at], reduce[at + w]);
      }
      workgroupBarrier();
    }
    var m_new = array<f32, ROWS>();
    for (var r = 0u; r < ROWS; r++) { m_new[r] = max(m[r], reduce[r * WG]); }
    workgroupBarrier();
    for (var r = 0u; r < ROWS; r++) {
      let e = select(0.0, exp(s[r] - m_new[r]), s[r] > NEG_LARGE);
      probs[r * WG + t] = e;
      reduce[r * WG + t] = e;
    }
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      for (var i = t; i < ROWS * w; i += WG) {
        let at = i / w * WG + i % w;
        reduce[at] += reduce[at + w];
      }
      workgroupBarrier();
    }
    var correction = array<f32, ROWS>();
    var count = array<u32, ROWS>();  // positions of the tile the row adds: none where inactive
    var most = 0u;
    for (var r = 0u; r < ROWS; r++) {
      if (walks[r]) {
        correction[r] = exp(m[r] - m_new[r]);
        l[r] = l[r] * correction[r] + reduce[r * WG];
        count[r] = min(WG, rows[r].end - tile);
        most = max(most, count[r]);
      }
    }
    if (t < HD) {
      // Values: each read once for every row, sixteen positions' loads in flight before any is
      // added (as attention.wgsl loads them), then four at a time to the tile's end.
      var s0 = array<f32, ROWS>();
      var s1 = array<f32, ROWS>();
      var s2 = array<f32, ROWS>();
      var s3 = array<f32, ROWS>();
      var j = 0u;
      for (; j + 16u <= most; j += 16u) {
        let at = ((tile + j) * NKV + kvh) * HD + t;  // position tile + j + i is NKV * HD further on
        var v = array<f32, 16>();
        for (var i = 0u; i < 16u; i++) { v[i] = value(at + i * NKV * HD); }
        for (var f = 0u; f < 16u; f += 4u) {
          add_four(&s0, &s1, &s2, &s3, count, j + f, vec4f(v[f], v[f + 1u], v[f + 2u], v[f + 3u]));
        }
      }
      for (; j < most; j += 4u) {
        let at = ((tile + j) * NKV + kvh) * HD + t;
        var v = vec4f(value(at), 0.0, 0.0, 0.0);
        if (j + 1u < most) { v.y = value(at + NKV * HD); }
        if (j + 2u < most) { v.z = value(at + 2u * NKV * HD); }
        if (j + 3u < most) { v.w = value(at + 3u * NKV * HD); }
        add_four(&s0, &s1, &s2, &s3, count, j, v);
      }
      for (var r = 0u; r < ROWS; r++) {
        if (walks[r]) { acc[r] = acc[r] * correction[r] + ((s0[r] + s1[r]) + (s2[r] + s3[r])); }
      }
    }
    for (var r = 0u; r < ROWS; r++) {
      if (walks[r]) { m[r] = m_new[r]; }
    }
    workgroupBarrier();
  }

  for (var r = 0u; r < ROWS; r++) {
    let row = rows[r];
    if (!row.live) { continue; }
    if (segment_count(row.length) == 1u) {
      if (t < HD) { out[(row.n * NH + row.h) * HD + t] = acc[r] / l[r]; }
      continue;
    }
    // A segment wholly before a window holds nothing: m stays NEG_LARGE and l 0 (attention.wgsl).
    let base = ((row.n * NH + row.h) * SEGMENTS + segment) * (HD + 2u);
    if (t < HD) { partials[base + t] = acc[r]; }
    if (t == 0u) {
      partials[base + HD] = m[r];
      partials[base + HD + 1u] = l[r];
    }
  }
}

// Adds positions j..j+3 of the tile, values v, to each row's four partial sums (positions
// j mod 4 apart); a row whose count ends inside the four adds its positions before the end to
// s0, as attention.wgsl's tail does.
fn add_four(s0: ptr<function, array<f32, ROWS>>, s1: ptr<function, array<f32, ROWS>>,
            s2: ptr<function, array<f32, ROWS>>, s3: ptr<function, array<f32, ROWS>>,
            count: array<u32, ROWS>, j: u32, v: vec4f) {
  for (var r = 0u; r < ROWS; r++) {
    let p = r * WG + j;
    if (j + 4u <= count[r]) {
      (*s0)[r] += probs[p] * v.x;
      (*s1)[r] += probs[p + 1u] * v.y;
      (*s2)[r] += probs[p + 2u] * v.z;
      (*s3)[r] += probs[p + 3u] * v.w;
    } else if (j < count[r]) {
      (*s0)[r] += probs[p] * v.x;
      if (j + 1u < count[r]) { (*s0)[r] += probs[p + 1u] * v.y; }
      if (j + 2u < count[r]) { (*s0)[r] += probs[p + 2u] * v.z; }
    }
  }
}
