// Causal attention over the KV cache with grouped-query heads.
// One workgroup per (query head, token): token n sits at position p = step.start + n and
// attends to cached positions 0..p, or with a WINDOW to the last WINDOW of them (p - WINDOW, p].
// In a tree pass a leaf's position p = position_of(n) is below its slot step.start + n: it walks
// positions 0..p as a token at p would, reading position p's key and value from its own slot.
// Query head h reads KV head h / (NH / NKV). Scores are q . k * SCALE, soft-capped to
// SOFTCAP tanh(s / SOFTCAP) when SOFTCAP > 0 (Gemma 2).
//
// Keys are visited in tiles of WG positions with an online softmax: for each tile,
//   m' = max(m, max_j s_j),  l' = l e^(m - m') + sum_j e^(s_j - m'),
//   acc' = acc e^(m - m') + sum_j e^(s_j - m') v_j,     out = acc / l at the end,
// Tiles sit at multiples of WG (a window skips the tiles wholly before it, which would add
// nothing), so a token's result depends on its position only, never on how many tokens share
// the dispatch.
//
// Keys are read as vec4s and the value sum keeps four independent partial sums (positions
// j mod 4, added as (s0 + s1) + (s2 + s3)): short dependency chains let the GPU keep several
// loads in flight, where one long chain of scalar loads waits on memory at every step.
//
// Long contexts are split (flash-decoding): positions fall in segments (one tile each for the
// first FINE positions, then SPLIT, a multiple of WG: attention_segments.wgsl), and workgroup z
// walks segment z only. A token whose positions fit one segment writes its output; a longer
// one writes its segment's (acc, m, l) to `partials`, and attention_combine.wgsl merges the
// segments in order. Segments start at fixed positions, so a token's result still depends on
// its position only; within the first segment it is what a single walk gives.

override NH: u32;
override NKV: u32;
override HD: u32;
override WG: u32 = 64u;     // >= HD: thread d accumulates output dimension d
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;  // 0: every position
override SPLIT: u32 = 512u;  // positions a workgroup walks past the first FINE: a multiple of WG
override SEGMENTS: u32 = 1u; // segments of the longest context: the partials' stride per (token, head)

const NEG_LARGE = -3.0e38;  // stands for -infinity (WGSL constants cannot be infinite)

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;        // (tokens, NH, HD / 4), rotated
// Bindings 2 and 3, the KV cache, and its accessors key4 / value come from kv-cache.ts (f32 or f16).
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (tokens, NH, HD)
// (tokens, NH, SEGMENTS, HD + 2): a segment's acc, then its m and l, for tokens of several segments.
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

var<workgroup> q_tile: array<vec4f, HD / 4u>;
var<workgroup> probs: array<f32, WG>;
var<workgroup> reduce: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let n = wg.y;
  let segment = wg.z;
  if (n >= step.tokens) { return; }
  let kvh = h / (NH / NKV);
  let p = position_of(n);
  let own = step.start + n;  // the slot its key and value were written to
  let length = p + 1u;
  let segments = segment_count(length);
  if (segment >= segments) { return; }
  let first = select(0u, length - WINDOW, WINDOW > 0u && length > WINDOW);  // the first position seen
  let seg_from = max(first / WG * WG, segment_start(segment));
  let seg_to = min(length, segment_start(segment + 1u));
  let hd4 = HD / 4u;
  if (t < hd4) { q_tile[t] = q[(n * NH + h) * hd4 + t]; }
  workgroupBarrier();

  var m = NEG_LARGE;  // running max of the scores
  var l = 0.0;        // running softmax denominator
  var acc = 0.0;      // running numerator of output dimension t
  for (var tile = seg_from; tile < seg_to; tile += WG) {
    let pos = tile + t;
    let seen = pos >= first && pos < seg_to;
    var s = NEG_LARGE;
    if (seen) {
      let k = (select(pos, own, pos == p) * NKV + kvh) * hd4;
      var qk = 0.0;
      for (var i = 0u; i < hd4; i++) { qk += dot(q_tile[i], key4(k + i)); }
      s = qk * SCALE;
      if (SOFTCAP > 0.0) { s = SOFTCAP * tanh(clamp(s / SOFTCAP, -15.0, 15.0)); }
    }
    reduce[t] = s;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      if (t < w) { reduce[t] = max(reduce[t], reduce[t + w]); }
      workgroupBarrier();
    }
    let m_new = max(m, reduce[0]);
    workgroupBarrier();
    let e = select(0.0, exp(s - m_new), seen);
    probs[t] = e;
    reduce[t] = e;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      if (t < w) { reduce[t] += reduce[t + w]; }
      workgroupBarrier();
    }
    let correction = exp(m - m_new);
    l = l * correction + reduce[0];
    if (t < HD) {
      let count = min(WG, seg_to - tile);
      var s0 = 0.0;
      var s1 = 0.0;
      var s2 = 0.0;
      var s3 = 0.0;
      var j = 0u;
      // Sixteen positions' values loaded before any is added: a tile's walk then waits on memory
      // four times where it waited sixteen; the sums, and the order of each, are the loop's below.
      for (; j + 16u <= count; j += 16u) {
        let v0 = vec4f(value_at(tile + j, p, own, kvh, t), value_at(tile + j + 1u, p, own, kvh, t),
                       value_at(tile + j + 2u, p, own, kvh, t), value_at(tile + j + 3u, p, own, kvh, t));
        let v1 = vec4f(value_at(tile + j + 4u, p, own, kvh, t), value_at(tile + j + 5u, p, own, kvh, t),
                       value_at(tile + j + 6u, p, own, kvh, t), value_at(tile + j + 7u, p, own, kvh, t));
        let v2 = vec4f(value_at(tile + j + 8u, p, own, kvh, t), value_at(tile + j + 9u, p, own, kvh, t),
                       value_at(tile + j + 10u, p, own, kvh, t), value_at(tile + j + 11u, p, own, kvh, t));
        let v3 = vec4f(value_at(tile + j + 12u, p, own, kvh, t), value_at(tile + j + 13u, p, own, kvh, t),
                       value_at(tile + j + 14u, p, own, kvh, t), value_at(tile + j + 15u, p, own, kvh, t));
        s0 += probs[j] * v0.x;
        s1 += probs[j + 1u] * v0.y;
        s2 += probs[j + 2u] * v0.z;
        s3 += probs[j + 3u] * v0.w;
        s0 += probs[j + 4u] * v1.x;
        s1 += probs[j + 5u] * v1.y;
        s2 += probs[j + 6u] * v1.z;
        s3 += probs[j + 7u] * v1.w;
        s0 += probs[j + 8u] * v2.x;
        s1 += probs[j + 9u] * v2.y;
        s2 += probs[j + 10u] * v2.z;
        s3 += probs[j + 11u] * v2.w;
        s0 += probs[j + 12u] * v3.x;
        s1 += probs[j + 13u] * v3.y;
        s2 += probs[j + 14u] * v3.z;
        s3 += probs[j + 15u] * v3.w;
      }
      for (; j + 4u <= count; j += 4u) {
        s0 += probs[j] * value_at(tile + j, p, own, kvh, t);
        s1 += probs[j + 1u] * value_at(tile + j + 1u, p, own, kvh, t);
        s2 += probs[j + 2u] * value_at(tile + j + 2u, p, own, kvh, t);
        s3 += probs[j + 3u] * value_at(tile + j + 3u, p, own, kvh, t);
      }
      for (; j < count; j++) { s0 += probs[j] * value_at(tile + j, p, own, kvh, t); }
      acc = acc * correction + ((s0 + s1) + (s2 + s3));
    }
    m = m_new;
    workgroupBarrier();
  }
  if (segments == 1u) {
    if (t < HD) { out[(n * NH + h) * HD + t] = acc / l; }
    return;
  }
  // A segment wholly before a window holds nothing: m stays NEG_LARGE and l 0, which the merge
  // weighs by e^(NEG_LARGE - m) = 0.
  let base = ((n * NH + h) * SEGMENTS + segment) * (HD + 2u);
  if (t < HD) { partials[base + t] = acc; }
  if (t == 0u) {
    partials[base + HD] = m;
    partials[base + HD + 1u] = l;
  }
}

// Dimension t of KV head kvh's value at position pos, for a token at position p whose own key
// and value are in slot `own` (p itself but in a tree pass).
fn value_at(pos: u32, p: u32, own: u32, kvh: u32, t: u32) -> f32 {
  return value((select(pos, own, pos == p) * NKV + kvh) * HD + t);
}
