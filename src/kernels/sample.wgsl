// Sampling a token from each row of logits on the GPU, so that sampled decoding reads back a
// token id, not a row of logits. One workgroup per row n (the token at position step.start + n).
//
//   p_i = softmax(logits / T)_i
//   keep the tokens with p_i >= tau, where tau is the largest threshold with
//     count(p >= tau) >= TOP_K  (top-k, when on)  or  mass(p >= tau) >= TOP_P  (top-p, when on);
//     this is the top-k set, the smallest top-p set, whichever is smaller (as on the CPU)
//   draw u ~ U[0, mass kept) and return the first token, in index order, whose running kept
//   mass exceeds u.
//
// tau is found by binary search over the bit patterns of non-negative floats, which order the
// same way as the floats. The random number comes from a hash of (seed, position): reproducible.

override V: u32;
override WG: u32 = 256u;

struct Step { tokens: u32, start: u32, chain: u32, _pad1: u32 }
struct Sampling { temperature: f32, top_p: f32, top_k: u32, seed: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Sampling;
@group(0) @binding(2) var<storage, read> logits: array<f32>;     // (tokens, V)
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;  // (tokens)

var<workgroup> sums: array<f32, WG>;
var<workgroup> counts: array<u32, WG>;
var<workgroup> found: u32;
var<workgroup> kept_total: f32;
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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let n = wg.x;
  if (n >= step.tokens) { return; }
  let row = n * V;
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
  let tau = bitcast<f32>(lo);

  // Kept mass per contiguous chunk of the vocabulary, then the chunk and token where u falls.
  let chunk = (V + WG - 1u) / WG;
  let begin = min(t * chunk, V);
  let end = min(begin + chunk, V);
  var kept = 0.0;
  for (var i = begin; i < end; i++) {
    let p = exp((logits[row + i] - m) * inv_t) * inv_total;
    if (p >= tau) { kept += p; }
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
  let u = f32(pcg(params.seed ^ pcg(step.start + n)) >> 8u) / 16777216.0 * kept_total;
  var running = sums[t];
  // The chunks' ranges [running, running + kept) are disjoint: at most one thread writes.
  if (u >= running && u < running + kept) {
    for (var i = begin; i < end; i++) {
      let p = exp((logits[row + i] - m) * inv_t) * inv_total;
      if (p >= tau) {
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
        if (p >= tau) { choice = i - 1u; break; }
      }
    }
    ids[n] = choice;
  }
}
