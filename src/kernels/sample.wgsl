// Sampling a token from each row of logits on the GPU, so that sampled decoding reads back a
// token id, not a row of logits. One workgroup per row n (the token at position step.start + n):
// the row's kept distribution p (distribution.wgsl, appended), then u ~ U[0, mass kept) from
// (seed, position), and the first token, in index order, whose running kept mass exceeds u.
//
// RANK r > 0: a further draw from the same row without the tokens of ranks 0 .. r - 1
// (ids[j * tokens + n], j < r) that earlier draws wrote, written as rank r (ids[r * tokens + n]):
// p with those tokens removed and renormalised, a token tree's further candidates
// (src/speculative/tree.ts). If no other token is kept, rank r - 1's token is drawn again.

override V: u32;
override WG: u32 = 256u;
override RANK: u32 = 0u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Sampling;
@group(0) @binding(2) var<storage, read> logits: array<f32>;     // (tokens, V)
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;  // (RANK + 1, tokens)

var<workgroup> found: u32;
var<workgroup> kept_total: f32;

// chosen(i), read_earlier(n): earlier_ranks.wgsl, appended.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = wg.x;
  if (n >= step.tokens) { return; }
  read_earlier(n);
  let row = n * V;
  let inv_t = 1.0 / params.temperature;
  let stats = row_stats(t, row, params);
  let m = stats.m;
  let inv_total = stats.inv_total;
  let tau = stats.tau;

  // Kept mass per contiguous chunk of the vocabulary, then the chunk and token where u falls.
  let chunk = (V + WG - 1u) / WG;
  let begin = min(t * chunk, V);
  let end = min(begin + chunk, V);
  var kept = 0.0;
  for (var i = begin; i < end; i++) {
    let p = exp((logits[row + i] - m) * inv_t) * inv_total;
    if (p >= tau && !chosen(i)) { kept += p; }
  }
  sums[t] = kept;
  if (t == 0u) { found = 0xffffffffu; }
  workgroupBarrier();
  if (t == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) { let s = sums[j]; sums[j] = total; total += s; }  // exclusive prefix
    kept_total = total;
  }
  workgroupBarrier();
  let u = uniform01(params.seed, step.start + n) * kept_total;
  var running = sums[t];
  // The chunks' ranges [running, running + kept) are disjoint: at most one thread writes.
  if (u >= running && u < running + kept) {
    for (var i = begin; i < end; i++) {
      let p = exp((logits[row + i] - m) * inv_t) * inv_total;
      if (p >= tau && !chosen(i)) {
        running += p;
        if (u < running) {
          found = i;
          break;
        }
      }
    }
  }
  workgroupBarrier();
  if (t == 0u) {
    var choice = found;
    if (choice == 0xffffffffu) {
      // u fell past the last kept token by rounding: take the last kept token.
      for (var i = V; i > 0u; i--) {
        let p = exp((logits[row + i - 1u] - m) * inv_t) * inv_total;
        if (p >= tau && !chosen(i - 1u)) { choice = i - 1u; break; }
      }
    }
    if (choice == 0xffffffffu && RANK > 0u) { choice = ids[(RANK - 1u) * step.tokens + n]; }  // nothing else kept
    ids[RANK * step.tokens + n] = choice;
  }
}
