// Causal attention over the KV cache with grouped-query heads, for CPU adapters: one thread
// per (query head, token), no workgroup memory and no barriers. Same bindings and result as
// attention.wgsl (to float32 rounding).
//
// A software adapter runs a workgroup's threads as SIMD lanes and switches between them at
// every barrier; attention.wgsl spends ~17 barriers on each tile of 64 positions, which on
// SwiftShader costs far more than the arithmetic. Here each thread walks its positions alone.
//
// Positions are visited in tiles of TILE with an online softmax (see attention.wgsl for the
// update, the window, the scale and the soft cap): scores of a tile are kept, their max taken,
// then the tile's values are added. Tiles sit at multiples of TILE, so a token's result
// depends on its position only, never on how many tokens share the dispatch.
//
// The query and the running numerator are HD / 4 vec4 variables, not arrays: a line starting
// `// UNROLL` stands for HD / 4 lines, `$` replaced by 0, 1, ... (ops.ts writes them). A
// software adapter keeps an array a thread indexes in memory; named variables stay in
// registers, which halves a long prefill's time on SwiftShader. The sums run in the same
// order either way.

override NH: u32;
override NKV: u32;
override HD: u32;           // head dim: a multiple of 4 (the UNROLL lines are written for it)
override WG: u32 = 4u;      // threads per workgroup
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;  // 0: every position

const TILE = 16u;
const NEG_LARGE = -3.0e38;  // stands for -infinity (WGSL constants cannot be infinite)

struct Step { tokens: u32, start: u32, chain: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;        // (tokens, NH, HD / 4), rotated
// Bindings 2 and 3, the KV cache, and its accessors key4 / value4 come from kv-cache.ts (f32 or f16).
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>; // (tokens, NH, HD / 4)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let h = id.x % NH;
  let n = id.x / NH;
  if (n >= step.tokens) { return; }
  let hd4 = HD / 4u;
  let kvh = h / (NH / NKV);
  let p = position_of(n);    // below its slot for a leaf of a tree pass (attention.wgsl)
  let own = step.start + n;  // the slot its key and value were written to
  let length = p + 1u;
  let first = select(0u, length - WINDOW, WINDOW > 0u && length > WINDOW);  // the first position seen
  let q_at = (n * NH + h) * hd4;

  var scores: array<f32, TILE>;
  // UNROLL let query$ = q[q_at + $u];
  // UNROLL var acc$ = vec4f(0.0);
  var m = NEG_LARGE;               // running max of the scores
  var l = 0.0;                     // running softmax denominator
  for (var tile = first / TILE * TILE; tile < length; tile += TILE) {
    let count = min(TILE, length - tile);
    var tile_max = NEG_LARGE;
    for (var j = 0u; j < count; j++) {
      if (tile + j < first) {
        scores[j] = NEG_LARGE;
        continue;
      }
      let k = (select(tile + j, own, tile + j == p) * NKV + kvh) * hd4;
      var qk = 0.0;
      // UNROLL qk += dot(query$, key4(k + $u));
      var s = qk * SCALE;
      if (SOFTCAP > 0.0) { s = SOFTCAP * tanh(clamp(s / SOFTCAP, -15.0, 15.0)); }
      scores[j] = s;
      tile_max = max(tile_max, s);
    }
    let m_new = max(m, tile_max);
    let correction = exp(m - m_new);
    l *= correction;
    // UNROLL acc$ *= correction;
    for (var j = 0u; j < count; j++) {
      if (tile + j < first) { continue; }
      let e = exp(scores[j] - m_new);
      l += e;
      let v = (select(tile + j, own, tile + j == p) * NKV + kvh) * hd4;
      // UNROLL acc$ += e * value4(v + $u);
    }
    m = m_new;
  }
  // UNROLL out[q_at + $u] = acc$ / l;
}
