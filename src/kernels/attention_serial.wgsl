// Causal attention over the KV cache with grouped-query heads, for CPU adapters: one thread
// per (KV head, block of T tokens), no workgroup memory and no barriers. Same bindings and
// result as attention.wgsl (to float32 rounding).
//
// A software adapter runs a workgroup's threads as SIMD lanes and switches between them at
// every barrier; attention.wgsl spends ~17 barriers on each tile of 64 positions, which on
// SwiftShader costs far more than the arithmetic. Here each thread walks its positions alone,
// for the rows of T tokens and H of the NH / NKV query heads that read one KV head: each key and
// value it loads serves T * H rows. More rows spread a position's fixed costs (its loads, its
// loop) wider; too many outgrow the registers and take the compiler long (ops.ts sizes them).
//
// Positions are visited in tiles of TILE with an online softmax (see attention.wgsl for the
// update, the window, the scale and the soft cap): scores of a tile are kept, their max taken,
// then the tile's values are added. Tiles sit at multiples of TILE. A row weighs a position it
// does not see by exactly 0 (its sums start at +0 and never become -0, cached values are finite,
// so adding 0 * v leaves them as they are) and scales by exactly 1 for a tile it sees nothing
// of: so a row's result depends on its position alone, never on the rows beside it in the
// block or on how many tokens share the dispatch.
//
// A row sees the positions first .. p - 1 of the shared slots, then its own slot at its own
// position p (a tree pass's leaf sits in a later slot than its position: step.ts), which every
// row adds last, from the tile that holds p.
//
// Named variables, not arrays (a software adapter keeps an array a thread indexes in memory):
// a line starting `// EACH` is written once for every value of the placeholders it holds,
// {t} the token of the block, {h} the head of the group and {d} the vec4 of the head dimension,
// in that order, {d} innermost (ops.ts writes them, and T and H).

override NH: u32;
override NKV: u32;
override HD: u32;           // head dim: a multiple of 4 (the {d} lines are written for it)
override WG: u32 = 4u;      // threads per workgroup
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;  // 0: every position

const T = 1u;               // tokens a thread (ops.ts)
const H = 1u;               // heads a thread, a divisor of NH / NKV (ops.ts)
const TILE = 16u;
const NEG_LARGE = -3.0e38;  // stands for -infinity (WGSL constants cannot be infinite)
const NONE = 0xffffffffu;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;        // (tokens, NH, HD / 4), rotated
// Bindings 2 and 3, the KV cache, and its accessors key4 / value4 come from kv-cache.ts (f32 or f16).
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>; // (tokens, NH, HD / 4)

fn scaled(qk: f32) -> f32 {
  let s = qk * SCALE;
  if (SOFTCAP > 0.0) { return SOFTCAP * tanh(clamp(s / SOFTCAP, -15.0, 15.0)); }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let kvh = id.x % NKV;
  let heads = NH / NKV / H;                          // threads a KV head's heads take
  let head0 = kvh * (NH / NKV) + id.x / NKV % heads * H;  // the thread's first head
  let block = id.x / NKV / heads * T;                // its first token
  if (block >= step.tokens) { return; }
  let hd4 = HD / 4u;

  // Token {t} of the block (the step's last one again past its end, `live` false): its position
  // p, its slot, and the shared positions it sees, first .. p - 1.
  // EACH let live{t} = block + {t}u < step.tokens;
  // EACH let n{t} = min(block + {t}u, step.tokens - 1u);
  // EACH let p{t} = position_of(n{t});
  // EACH let own{t} = (step.start + n{t}) * NKV + kvh;  // its own slot's row of the cache
  // EACH let first{t} = select(0u, p{t} + 1u - WINDOW, WINDOW > 0u && p{t} + 1u > WINDOW);
  var begin = NONE;
  var end = 0u;
  // EACH if (live{t}) { begin = min(begin, first{t}); end = max(end, p{t} + 1u); }

  // EACH let q{t}_{h}_{d} = q[(n{t} * NH + head0 + {h}u) * hd4 + {d}u];
  // EACH var acc{t}_{h}_{d} = vec4f(0.0);
  // EACH var m{t}_{h} = NEG_LARGE;  // running max of the scores
  // EACH var l{t}_{h} = 0.0;        // running softmax denominator
  // EACH var s{t}_{h}: array<f32, TILE>;
  for (var tile = begin / TILE * TILE; tile < end; tile += TILE) {
    let count = min(TILE, end - tile);
    // EACH var tile_max{t}_{h} = NEG_LARGE;
    for (var j = 0u; j < count; j++) {
      let k = ((tile + j) * NKV + kvh) * hd4;
      // EACH let k{d} = key4(k + {d}u);
      // EACH let sees{t} = live{t} && tile + j >= first{t} && tile + j < p{t};
      // EACH var qk{t}_{h} = 0.0;
      // EACH qk{t}_{h} += dot(q{t}_{h}_{d}, k{d});
      // EACH let score{t}_{h} = select(NEG_LARGE, scaled(qk{t}_{h}), sees{t});
      // EACH s{t}_{h}[j] = score{t}_{h};
      // EACH tile_max{t}_{h} = max(tile_max{t}_{h}, score{t}_{h});
    }
    // A row's own position, if in this tile: the key of its own slot (loaded either way, a
    // tile's work, not a position's).
    // EACH let mine{t} = live{t} && p{t} >= tile && p{t} < tile + count;
    // EACH let own_k{t}_{d} = key4(own{t} * hd4 + {d}u);
    // EACH var own_qk{t}_{h} = 0.0;
    // EACH own_qk{t}_{h} += dot(q{t}_{h}_{d}, own_k{t}_{d});
    // EACH let own_s{t}_{h} = select(NEG_LARGE, scaled(own_qk{t}_{h}), mine{t});
    // EACH tile_max{t}_{h} = max(tile_max{t}_{h}, own_s{t}_{h});

    // EACH let m_new{t}_{h} = max(m{t}_{h}, tile_max{t}_{h});
    // EACH let correction{t}_{h} = select(exp(m{t}_{h} - m_new{t}_{h}), 1.0, m_new{t}_{h} == m{t}_{h});
    // EACH l{t}_{h} *= correction{t}_{h};
    // EACH acc{t}_{h}_{d} *= correction{t}_{h};
    for (var j = 0u; j < count; j++) {
      let v = ((tile + j) * NKV + kvh) * hd4;
      // EACH let v{d} = value4(v + {d}u);
      // EACH let sees{t} = live{t} && tile + j >= first{t} && tile + j < p{t};
      // EACH let e{t}_{h} = select(0.0, exp(s{t}_{h}[j] - m_new{t}_{h}), sees{t});
      // EACH l{t}_{h} += e{t}_{h};
      // EACH acc{t}_{h}_{d} += e{t}_{h} * v{d};
    }
    // The own position last: it is the row's last.
    // EACH let own_v{t}_{d} = value4(own{t} * hd4 + {d}u);
    // EACH let own_e{t}_{h} = select(0.0, exp(own_s{t}_{h} - m_new{t}_{h}), mine{t});
    // EACH l{t}_{h} += own_e{t}_{h};
    // EACH acc{t}_{h}_{d} += own_e{t}_{h} * own_v{t}_{d};
    // EACH m{t}_{h} = m_new{t}_{h};
  }
  // EACH if (live{t}) { out[(n{t} * NH + head0 + {h}u) * hd4 + {d}u] = acc{t}_{h}_{d} / l{t}_{h}; }
}
