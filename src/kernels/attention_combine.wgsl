// Merges the segments of split attention (attention.wgsl) for tokens whose context spans more
// than one (attention_segments.wgsl), in segment order:
//   m = max_c m_c,  l = sum_c l_c e^(m_c - m),  out = (sum_c acc_c e^(m_c - m)) / l.
// One workgroup per (query head, token), a thread per output dimension; every thread walks the
// segments in the same order, so the result depends on the token's position only. Tokens of
// one segment wrote their output already and are skipped.

override NH: u32;
override HD: u32;
override WG: u32 = 64u;     // >= HD
override SPLIT: u32 = 512u;
override SEGMENTS: u32 = 1u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> partials: array<f32>;  // (tokens, NH, SEGMENTS, HD + 2)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (tokens, NH, HD)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let n = wg.y;
  if (n >= step.tokens || t >= HD) { return; }
  let length = position_of(n) + 1u;
  let segments = segment_count(length);
  if (segments == 1u) { return; }
  let base = (n * NH + h) * SEGMENTS * (HD + 2u);
  var m = partials[base + HD];
  for (var c = 1u; c < segments; c++) { m = max(m, partials[base + c * (HD + 2u) + HD]); }
  var l = 0.0;
  var acc = 0.0;
  for (var c = 0u; c < segments; c++) {
    let at = base + c * (HD + 2u);
    let mc = partials[at + HD];
    let weight = select(exp(mc - m), 1.0, mc == m);
    l += partials[at + HD + 1u] * weight;
    acc += partials[at + t] * weight;
  }
  out[(n * NH + h) * HD + t] = acc / l;
}
