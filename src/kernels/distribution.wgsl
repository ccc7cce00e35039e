// A row's sampling distribution on the GPU, appended to the kernels that sample (sample.wgsl,
// distribution_stats.wgsl, accept_sampled.wgsl). Each declares V (the row's length), WG (its
// threads, a power of two) and `logits`, rows of V values; every thread of the workgroup
// calls these functions together (they hold barriers).
//
//   p_i = softmax(logits / T)_i, kept where p_i >= tau, where tau is the largest threshold with
//     count(p >= tau) >= TOP_K  (top-k, when on)  or  mass(p >= tau) >= TOP_P  (top-p, when on):
//     the top-k set or the smallest top-p set, whichever is smaller (as on the CPU), then
//     renormalised by the mass it keeps.
//
// tau is found by binary search over the bit patterns of non-negative floats, which order the
// same way as the floats. Random numbers come from a hash of (seed, stream): reproducible.

struct Sampling { temperature: f32, top_p: f32, top_k: u32, seed: u32 }

// m: the row's largest logit; inv_total: 1 / sum_i exp((l_i - m) / T); tau: the threshold.
struct RowStats { m: f32, inv_total: f32, tau: f32 }

var<workgroup> sums: array<f32, WG>;
var<workgroup> counts: array<u32, WG>;
var<workgroup> shared_total: f32;   // read with workgroupUniformLoad: control flow may depend on it
var<workgroup> decision: u32;

fn reduce(t: u32, value: f32, count: u32) {
  sums[t] = value;
  counts[t] = count;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      sums[t] += sums[t + s];
      counts[t] += counts[t + s];
    }
    workgroupBarrier();
  }
}

fn reduce_max(t: u32, value: f32) -> f32 {
  sums[t] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { sums[t] = max(sums[t], sums[t + s]); }
    workgroupBarrier();
  }
  let result = sums[0];
  workgroupBarrier();
  return result;
}

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Uniform in [0, 1), 24 bits, from (seed, stream) (src/ref/sampled-acceptance.ts has it in TypeScript).
fn uniform01(seed: u32, stream: u32) -> f32 {
  return f32(pcg(seed ^ pcg(stream)) >> 8u) / 16777216.0;
}

// p_i before the renormalisation: exp((l_i - m) / T) / total, 0 where the filter drops it.
fn kept_p(l: f32, s: RowStats, inv_t: f32) -> f32 {
  let p = exp((l - s.m) * inv_t) * s.inv_total;
  return select(0.0, p, p >= s.tau);
}

// The statistics of the row of logits at `row` under `params`.
fn row_stats(t: u32, row: u32, params: Sampling) -> RowStats {
  let inv_t = 1.0 / params.temperature;
  var m = -3.0e38;
  for (var i = t; i < V; i += WG) { m = max(m, logits[row + i]); }
  m = reduce_max(t, m);
  var partial = 0.0;
  for (var i = t; i < V; i += WG) { partial += exp((logits[row + i] - m) * inv_t); }
  reduce(t, partial, 0u);
  if (t == 0u) { shared_total = sums[0]; }
  let inv_total = 1.0 / workgroupUniformLoad(&shared_total);

  // The largest threshold (as float bits) that keeps enough tokens; 0 keeps every token.
  let top_k_on = params.top_k > 0u && params.top_k < V;
  let top_p_on = params.top_p > 0.0 && params.top_p < 1.0;
  var lo = 0u;                                   // always acceptable
  var hi = bitcast<u32>(inv_total) + 1u;         // above the top probability (exp(0) / total): never
  if (top_k_on || top_p_on) {
    for (var iteration = 0u; iteration < 32u && hi - lo > 1u; iteration++) {
      let mid = lo + (hi - lo) / 2u;
      let tau = bitcast<f32>(mid);
      var mass = 0.0;
      var count = 0u;
      for (var i = t; i < V; i += WG) {
        let p = exp((logits[row + i] - m) * inv_t) * inv_total;
        if (p >= tau) { mass += p; count += 1u; }
      }
      reduce(t, mass, count);
      if (t == 0u) {
        let ok = (top_k_on && counts[0] >= params.top_k) || (top_p_on && sums[0] >= params.top_p);
        decision = select(0u, 1u, ok);
      }
      if (workgroupUniformLoad(&decision) == 1u) { lo = mid; } else { hi = mid; }
    }
  }
  return RowStats(m, inv_total, bitcast<f32>(lo));
}
