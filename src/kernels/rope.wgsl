// Rotary position embedding and the KV-cache write, for the fused q|k|v projection output.
// For token n at position p = step.start + n, every head's pairs (i, i + HD/2) (the Hugging
// Face "rotate half" pairing) turn by angle p * inv_freq[i]:
//   (a, b) -> (a cos - b sin, b cos + a sin)
// Rotated queries go to q_out; rotated keys and the values go into the cache at position p.

override NH: u32;     // query heads
override NKV: u32;    // key/value heads
override HD: u32;     // head dim

struct Step { tokens: u32, start: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;             // (tokens, (NH + 2 NKV) HD)
@group(0) @binding(2) var<storage, read> cos_table: array<f32>;       // (positions, HD/2)
@group(0) @binding(3) var<storage, read> sin_table: array<f32>;       // (positions, HD/2)
@group(0) @binding(4) var<storage, read_write> q_out: array<f32>;     // (tokens, NH, HD)
@group(0) @binding(5) var<storage, read_write> k_cache: array<f32>;   // (capacity, NKV, HD)
@group(0) @binding(6) var<storage, read_write> v_cache: array<f32>;   // (capacity, NKV, HD)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  // id.x: one pair of one head (query heads first, then key heads); id.y: token
  let half = HD / 2u;
  let n = id.y;
  let pair = id.x;
  if (n >= step.tokens || pair >= (NH + NKV) * half) { return; }
  let head = pair / half;
  let i = pair % half;
  let p = step.start + n;
  let c = cos_table[p * half + i];
  let s = sin_table[p * half + i];
  let row = n * (NH + 2u * NKV) * HD;
  let a = qkv[row + head * HD + i];
  let b = qkv[row + head * HD + half + i];
  let ra = a * c - b * s;
  let rb = b * c + a * s;
  if (head < NH) {
    q_out[(n * NH + head) * HD + i] = ra;
    q_out[(n * NH + head) * HD + half + i] = rb;
  } else {
    let kvh = head - NH;
    let at = (p * NKV + kvh) * HD;
    k_cache[at + i] = ra;
    k_cache[at + half + i] = rb;
    // The value head sits NKV heads further on in the same row; it is copied, not rotated.
    let v = row + (NH + NKV + kvh) * HD;
    v_cache[at + i] = qkv[v + i];
    v_cache[at + half + i] = qkv[v + half + i];
  }
}
