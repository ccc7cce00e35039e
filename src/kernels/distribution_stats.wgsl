// The kept distribution of each row of logits (distribution.wgsl, appended), summed up for the
// sampled acceptance rule (accept_sampled.wgsl): one workgroup a row n,
//   stats[OFFSET + n] = (m, inv_total, tau, kept),
// kept being the mass the filter keeps (sum of p_i >= tau), which renormalises p. The draft's
// rows and the target's take a pipeline each (their V differ), into one list at their offsets.

override V: u32;
override WG: u32 = 256u;
override OFFSET: u32 = 0u;

@group(0) @binding(0) var<uniform> params: Sampling;
@group(0) @binding(1) var<storage, read> logits: array<f32>;         // (rows, V)
@group(0) @binding(2) var<storage, read_write> stats: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = wg.x;
  let row = n * V;
  let s = row_stats(t, row, params);
  let inv_t = 1.0 / params.temperature;
  var kept = 0.0;
  for (var i = t; i < V; i += WG) { kept += kept_p(logits[row + i], s, inv_t); }
  reduce(t, kept, 0u);
  if (t == 0u) { stats[OFFSET + n] = vec4f(s.m, s.inv_total, s.tau, sums[0]); }
}
