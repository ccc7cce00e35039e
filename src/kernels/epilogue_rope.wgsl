// Epilogue of the fused q|k|v projection, appended to linear.wgsl or linear_blocked.wgsl with
// PAIR_SPAN = HD / 2 (ROWS = (NH + 2 NKV) HD weight rows): output j pairs dimensions i and
// i + HD/2 of one head (the Hugging Face "rotate half" pairing), which rotary position
// embedding turns together by the angle p * inv_freq[i] of the token's position p:
//   (a, b) -> (a cos - b sin, b cos + a sin)
// Rotated queries go to y; rotated keys, and values as they are, straight into the KV cache at
// the token's slot, so the projection's output never goes through memory. The slot is
// step.start + n; the position p is the same but for a tree pass's leaves (position_of).
// Queries scaled by position (Llama 4's attention temperature) read tables of their own, from
// QUERY_TABLE on in the same arrays (ref/rope.ts); 0 where queries and keys share them.

override NH: u32;     // query heads
override NKV: u32;    // key/value heads
override HD: u32;     // head dim
override QUERY_TABLE: u32 = 0u;

@group(0) @binding(5) var<storage, read> cos_table: array<f32>;       // (positions, HD/2)
@group(0) @binding(6) var<storage, read> sin_table: array<f32>;       // (positions, HD/2)
// Bindings 7 and 8, the KV cache, and its store_k / store_v come from kv-cache.ts (f32 or f16).

// y is (tokens, NH, HD): the queries.
fn store_pair(j: u32, n: u32, a: f32, b: f32) {
  let half = HD / 2u;
  let head = j / half;  // query heads first, then key heads, then value heads
  let i = j % half;
  let p = position_of(n);
  let slot = step.start + n;
  if (head >= NH + NKV) {
    let at = (slot * NKV + head - NH - NKV) * HD;
    store_v(at + i, a);
    store_v(at + half + i, b);
    return;
  }
  let at_table = p * half + i + select(0u, QUERY_TABLE, head < NH);
  let cos_pi = cos_table[at_table];
  let sin_pi = sin_table[at_table];
  let ra = a * cos_pi - b * sin_pi;
  let rb = b * cos_pi + a * sin_pi;
  if (head < NH) {
    y[(n * NH + head) * HD + i] = ra;
    y[(n * NH + head) * HD + half + i] = rb;
  } else {
    let at = (slot * NKV + head - NH) * HD;
    store_k(at + i, ra);
    store_k(at + half + i, rb);
  }
}
