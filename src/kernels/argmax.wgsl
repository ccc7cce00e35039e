// Greedy choice on the GPU: ids[n] = argmax_i logits[n, i], the lowest index among ties, so the
// decode loop reads back 4 bytes per token instead of a row of logits.

override V: u32;            // vocabulary size (row length)
override WG: u32 = 256u;

struct Step { tokens: u32, start: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (tokens, V)
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;  // (tokens)

var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_index: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = wg.x;
  if (n >= step.tokens) { return; }
  var value = -3.0e38;
  var index = 0xffffffffu;
  for (var i = t; i < V; i += WG) {
    let v = logits[n * V + i];
    if (v > value) { value = v; index = i; }
  }
  best_value[t] = value;
  best_index[t] = index;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      let v = best_value[t + s];
      let j = best_index[t + s];
      if (v > best_value[t] || (v == best_value[t] && j < best_index[t])) {
        best_value[t] = v;
        best_index[t] = j;
      }
    }
    workgroupBarrier();
  }
  if (t == 0u) { ids[n] = best_index[0]; }
}
