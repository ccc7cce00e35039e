// Merges the segments of split attention (attention.wgsl) for tokens whose context spans more
// than one (attention_segments.wgsl), in segment order:
//   m = max_c m_c,  l = sum_c l_c e^(m_c - m),  out = (sum_c acc_c e^(m_c - m)) / l.
// One workgroup per (query head, token), a thread per output dimension; every thread walks the
// segments in the same order, so the result depends on the token's position only. Tokens of
// one segment wrote their output already and are skipped.
//
// A long context has a hundred segments and more, and a walk that waited on each segment's
// load before the next would take that many memory latencies: both walks load AHEAD segments
// at a time, the last chunk cut short, then add them in order (each sum's operations and their
// order are those of a walk one segment at a time; a max is exact in any order). 92 segments
// (32k positions) wait on memory 12 times.

override NH: u32;
override HD: u32;
override WG: u32 = 64u;     // >= HD
override SPLIT: u32 = 512u;
override SEGMENTS: u32 = 1u;

const AHEAD = 16u;  // segments whose partials a walk loads before it adds any
const NEG_LARGE = -3.0e38;  // stands for -infinity (WGSL constants cannot be infinite)

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
  let stride = HD + 2u;
  // Both walks take AHEAD segments at a time, the last chunk cut at the token's segments.
  var m = NEG_LARGE;
  for (var c = 0u; c < segments; c += AHEAD) {
    var ms = array<f32, AHEAD>();
    for (var i = 0u; i < AHEAD; i++) {
      ms[i] = NEG_LARGE;
      if (c + i < segments) { ms[i] = partials[base + (c + i) * stride + HD]; }
    }
    for (var i = 0u; i < AHEAD; i++) { m = max(m, ms[i]); }
  }
  var l = 0.0;
  var acc = 0.0;
  for (var c = 0u; c < segments; c += AHEAD) {
    var mc = array<f32, AHEAD>();
    var lc = array<f32, AHEAD>();
    var ac = array<f32, AHEAD>();
    for (var i = 0u; i < AHEAD; i++) {
      if (c + i < segments) {
        let at = base + (c + i) * stride;
        mc[i] = partials[at + HD];
        lc[i] = partials[at + HD + 1u];
        ac[i] = partials[at + t];
      }
    }
    for (var i = 0u; i < AHEAD; i++) {
      if (c + i < segments) {
        let weight = select(exp(mc[i] - m), 1.0, mc[i] == m);
        l += lc[i] * weight;
        acc += ac[i] * weight;
      }
    }
  }
  out[(n * NH + h) * HD + t] = acc / l;
}
