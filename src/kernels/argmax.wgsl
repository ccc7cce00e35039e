// Greedy choice on the GPU: ids[n] = argmax_i logits[n, i], the lowest index among ties, so the
// decode loop reads back 4 bytes per token instead of a row of logits.
//
// In two dispatches, so that a large vocabulary is scanned by many workgroups at once (one
// workgroup walking 128k logits alone took ~200 us on an H100):
//   STAGE 0: workgroup (s, n) finds the best of slice s (SLICE logits) of row n -> best[n, s]
//   STAGE 1: workgroup n finds the best of row n's SLICES results -> ids[n]
// A vocabulary of one slice needs no second stage: STAGE 0 writes ids[n] itself.
// "Best" is the largest value, then the lowest index: an exact choice, so neither the slicing
// nor the order of comparisons can change a result.
//
// RANK r > 0: the best but the ids of ranks 0 .. r - 1 (ids[j * tokens + n], j < r) that earlier
// dispatches wrote, written as rank r (ids[r * tokens + n]): the runner-up (r = 1), the third
// best (r = 2), ..., a token tree's further candidates beside the argmax (speculative/tree.ts).

override V: u32;              // vocabulary size (row length)
override SLICE: u32 = 4096u;  // logits per stage-0 workgroup
override SLICES: u32 = (V + SLICE - 1u) / SLICE;
override STAGE: u32 = 0u;
override WG: u32 = 256u;
override RANK: u32 = 0u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> logits: array<f32>;       // (tokens, V)
@group(0) @binding(2) var<storage, read_write> best: array<vec2u>; // (tokens, SLICES): (value bits, index)
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;    // (RANK + 1, tokens)

var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_index: array<u32, WG>;

fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

// chosen(i), read_earlier(n): earlier_ranks.wgsl, appended.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = select(wg.x, wg.y, STAGE == 0u);
  if (n >= step.tokens) { return; }
  read_earlier(n);
  var value = -3.0e38;
  var index = 0xffffffffu;
  if (STAGE == 0u) {
    let end = min(V, (wg.x + 1u) * SLICE);
    for (var i = wg.x * SLICE + t; i < end; i += WG) {
      let v = logits[n * V + i];
      if (v > value && !chosen(i)) { value = v; index = i; }  // i increases: ties keep the first
    }
  } else {
    for (var s = t; s < SLICES; s += WG) {
      let p = best[n * SLICES + s];
      if (better(bitcast<f32>(p.x), p.y, value, index)) { value = bitcast<f32>(p.x); index = p.y; }
    }
  }
  best_value[t] = value;
  best_index[t] = index;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (t < w && better(best_value[t + w], best_index[t + w], best_value[t], best_index[t])) {
      best_value[t] = best_value[t + w];
      best_index[t] = best_index[t + w];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    if (STAGE == 0u && SLICES > 1u) { best[n * SLICES + wg.x] = vec2u(bitcast<u32>(best_value[0]), best_index[0]); }
    else { ids[RANK * step.tokens + n] = best_index[0]; }
  }
}
