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
// tau is found by search over the bit patterns of non-negative floats, which order the same
// way as the floats: each pass over the row tries eight thresholds spread over what is left
// of the range, which takes about 11 passes (each an exp a token, and barriers) where halving
// the range took 32.
// Whether a threshold keeps enough is monotone in it (a smaller threshold keeps a superset, and
// a float sum of non-negative terms only grows as terms join it), so tau is the largest
// acceptable pattern however the range is cut: what a binary search would find, bit for bit, a
// threshold's mass being summed in one order (each thread's tokens in index order, then the
// threads' tree) whichever pass tries it. Random numbers come from a hash of (seed, stream):
// reproducible.

struct Sampling { temperature: f32, top_p: f32, top_k: u32, seed: u32 }

// m: the row's largest logit; inv_total: 1 / sum_i exp((l_i - m) / T); tau: the threshold.
struct RowStats { m: f32, inv_total: f32, tau: f32 }

var<workgroup> sums: array<f32, WG>;
var<workgroup> counts: array<u32, WG>;
var<workgroup> shared_total: f32;   // read with workgroupUniformLoad: control flow may depend on it
// A search pass's eight thresholds' kept masses, then counts (whole numbers below 2^24, exact
// in f32): the threads' sums met by a tree.
var<workgroup> tried: array<vec4f, 2 * WG>;
var<workgroup> searched: vec2u;     // the range left, [lo, hi): read with workgroupUniformLoad
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

// The threads' eight sums (a, b: four each) added by the same tree as `reduce`: the totals.
fn reduce_tried(t: u32, a: vec4f, b: vec4f) -> array<vec4f, 2> {
  tried[t] = a;
  tried[WG + t] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      tried[t] += tried[t + s];
      tried[WG + t] += tried[WG + t + s];
    }
    workgroupBarrier();
  }
  let totals = array<vec4f, 2>(tried[0], tried[WG]);
  workgroupBarrier();
  return totals;
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
    // Each pass leaves at most an eighth of the range and 8 patterns: 13 passes cover 2^32.
    for (var round = 0u; round < 16u && hi - lo > 1u; round++) {
      // Thresholds lo + part, lo + 2 part, ..., lo + 7 part and hi - 1, ascending, below hi.
      let part = max((hi - lo) / 8u, 1u);
      let below = vec4u(hi - 1u);
      let bits_a = min(vec4u(lo) + vec4u(1u, 2u, 3u, 4u) * part, below);
      let bits_b = min(vec4u(lo + 5u * part, lo + 6u * part, lo + 7u * part, hi - 1u), below);
      let taus_a = bitcast<vec4f>(bits_a);
      let taus_b = bitcast<vec4f>(bits_b);
      var mass_a = vec4f(0.0);
      var mass_b = vec4f(0.0);
      var count_a = vec4f(0.0);
      var count_b = vec4f(0.0);
      for (var i = t; i < V; i += WG) {
        let p = vec4f(exp((logits[row + i] - m) * inv_t) * inv_total);
        // Adding 0 where a threshold drops the token leaves the sum as it was.
        mass_a += select(vec4f(0.0), p, p >= taus_a);
        mass_b += select(vec4f(0.0), p, p >= taus_b);
        count_a += select(vec4f(0.0), vec4f(1.0), p >= taus_a);
        count_b += select(vec4f(0.0), vec4f(1.0), p >= taus_b);
      }
      let kept_mass = reduce_tried(t, mass_a, mass_b);
      var kept_count = array<vec4f, 2>(vec4f(0.0), vec4f(0.0));
      if (top_k_on) { kept_count = reduce_tried(t, count_a, count_b); }
      if (t == 0u) {
        // The thresholds that keep enough are the first few: lo moves to the last, hi to the next.
        var next = vec2u(lo, hi);
        for (var j = 0u; j < 8u; j++) {
          let half = j / 4u;
          let lane = j % 4u;
          let tau = select(bits_a[lane], bits_b[lane], half == 1u);
          let ok = (top_k_on && kept_count[half][lane] >= f32(params.top_k)) ||
                   (top_p_on && kept_mass[half][lane] >= params.top_p);
          if (ok) { next.x = tau; } else { next.y = min(next.y, tau); }
        }
        searched = next;
      }
      let range = workgroupUniformLoad(&searched);
      lo = range.x;
      hi = range.y;
    }
  }
  return RowStats(m, inv_total, bitcast<f32>(lo));
}
