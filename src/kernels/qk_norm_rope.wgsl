// Per-head RMSNorm of queries and keys, then RoPE and the KV-cache write (Qwen3, Gemma 3), for
// models whose q|k|v projection cannot finish with the rope epilogue: the norm needs a whole
// head's sum of squares before any pair of it can be rotated. With WHOLE (OLMo 2) the norm
// spans a token's whole q projection, or its whole k projection: every head's workgroup sums
// all heads of its kind, in the same order, so they share one scale bit for bit.
// One workgroup per (head, token), heads in the projection's order: NH query heads, NKV key
// heads, NKV value heads. A query or key head is normalised (the sum of squares in a fixed
// order: thread t adds elements t, t + WG, ..., then a fixed tree), scaled by its weight, and
// rotated in the "rotate half" pairing (dimension i with i + HD/2):
//   (a, b) -> (a cos - b sin, b cos + a sin)
// queries into q, keys into the KV cache at the token's position; a value head is copied into
// the cache as it is.

override NH: u32;
override NKV: u32;
override HD: u32;
override EPS: f32;
override WHOLE: bool = false;
override WG: u32 = 64u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;             // (tokens, (NH + 2 NKV) HD)
@group(0) @binding(2) var<storage, read> q_norm: array<f32>;          // (HD)
@group(0) @binding(3) var<storage, read> k_norm: array<f32>;          // (HD)
@group(0) @binding(4) var<storage, read> cos_table: array<f32>;       // (positions, HD/2)
@group(0) @binding(5) var<storage, read> sin_table: array<f32>;       // (positions, HD/2)
@group(0) @binding(6) var<storage, read_write> q: array<f32>;         // (tokens, NH, HD)
// Bindings 7 and 8, the KV cache, and its store_k / store_v come from kv-cache.ts (f32 or f16).

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let head = wg.x;
  let n = wg.y;
  if (n >= step.tokens) { return; }
  let src = (n * (NH + 2u * NKV) + head) * HD;
  let p = position_of(n);    // RoPE's position; the KV cache slot is step.start + n
  let slot = step.start + n;
  if (head >= NH + NKV) {
    let at = (slot * NKV + head - NH - NKV) * HD;
    for (var i = t; i < HD; i += WG) { store_v(at + i, qkv[src + i]); }
    return;
  }
  // The heads the norm spans: this one, or (WHOLE) every query or every key head of the token.
  let is_q = head < NH;
  let first = select(head, select(NH, 0u, is_q), WHOLE);
  let span = select(1u, select(NKV, NH, is_q), WHOLE) * HD;
  let span_at = (n * (NH + 2u * NKV) + first) * HD;
  let w_at = (head - first) * HD; // this head's values of the norm's weight
  var sum = 0.0;
  for (var i = t; i < span; i += WG) {
    let v = qkv[span_at + i];
    sum += v * v;
  }
  partial[t] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(span) + EPS);
  let half = HD / 2u;
  for (var i = t; i < half; i += WG) {
    var a: f32;
    var b: f32;
    if (head < NH) {
      a = qkv[src + i] * scale * q_norm[w_at + i];
      b = qkv[src + half + i] * scale * q_norm[w_at + half + i];
    } else {
      a = qkv[src + i] * scale * k_norm[w_at + i];
      b = qkv[src + half + i] * scale * k_norm[w_at + half + i];
    }
    let c = cos_table[p * half + i];
    let s = sin_table[p * half + i];
    let ra = a * c - b * s;
    let rb = b * c + a * s;
    if (head < NH) {
      q[(n * NH + head) * HD + i] = ra;
      q[(n * NH + head) * HD + half + i] = rb;
    } else {
      let at = (slot * NKV + head - NH) * HD;
      store_k(at + i, ra);
      store_k(at + half + i, rb);
    }
  }
}
