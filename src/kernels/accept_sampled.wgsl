// The acceptance rule of speculative sampling on the GPU (src/speculative/acceptance.ts), after
// a sampled step's draft passes and verify pass, so that the step reads back its verdict, not
// 2k + 1 rows of logits. With p_i the target's kept distribution after input i and q_i the
// draft's at draft i (distribution.wgsl; their statistics from distribution_stats.wgsl):
//
//   for i = 0 .. k - 1: accept draft d_i with probability min(1, p_i(d_i) / q_i(d_i));
//   at the first rejection, at i = a: draw the token from the residual max(0, p_a - q_a);
//   if all k are accepted (a = k): draw it from p_k.
//   result[0] = a, result[1] = the token (NONE if no row gave a positive total: NaN logits).
//
// The draws are those of acceptance.ts with the n-th random number uniform01(seed, n), n
// counting the accept tests, then the draw (src/ref/sampled-acceptance.ts is the reference).
// A residual with no mass (p_a = q_a up to rounding, when acceptance was all but certain)
// draws from p_a instead. The draft's rows are over its own vocabulary: `draft_ids` maps each
// target id to the draft id it is (NONE where none is: q = 0 there), an identity for a draft
// model, the inverse of d2t for an EAGLE head. One workgroup; a draw scans the vocabulary in
// WG contiguous chunks, as sample.wgsl does.

override V: u32;          // the target's vocabulary
override DV: u32;         // the draft's rows' width
override WG: u32 = 256u;
override TARGET_AT: u32;  // where the target's rows' statistics start in `stats`
const NONE = 0xffffffffu;

struct Accept { sampling: Sampling, k: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> params: Accept;
@group(0) @binding(1) var<storage, read> drafts: array<u32>;          // (k) target ids
@group(0) @binding(2) var<storage, read> draft_ids: array<u32>;       // (V) draft id of each target id
@group(0) @binding(3) var<storage, read> stats: array<vec4f>;         // (m, inv_total, tau, kept) a row
@group(0) @binding(4) var<storage, read> draft_logits: array<f32>;    // (k, DV)
@group(0) @binding(5) var<storage, read> logits: array<f32>;          // (k + 1, V): the target's
@group(0) @binding(6) var<storage, read_write> result: array<u32>;    // a, token

var<workgroup> found: u32;

// The kept, renormalised probability of logit l in a row with statistics s.
fn prob(l: f32, s: vec4f) -> f32 {
  let p = kept_p(l, RowStats(s.x, s.y, s.z), 1.0 / params.sampling.temperature);
  return p / s.w;
}

fn p_of(i: u32, x: u32) -> f32 {
  if (x >= V) { return 0.0; }
  return prob(logits[i * V + x], stats[TARGET_AT + i]);
}

fn q_of(i: u32, x: u32) -> f32 {
  if (x >= V) { return 0.0; }
  let j = draft_ids[x];
  if (j >= DV) { return 0.0; }
  return prob(draft_logits[i * DV + j], stats[i]);
}

// What a draw after input i weighs token x by: the residual, or p itself.
fn weight(i: u32, x: u32, residual: bool) -> f32 {
  let p = p_of(i, x);
  if (residual) { return max(0.0, p - q_of(i, x)); }
  return p;
}

// The first token, in index order, whose running weight exceeds u times the total; NONE if the
// total is not positive.
fn draw(t: u32, i: u32, residual: bool, u: f32) -> u32 {
  let chunk = (V + WG - 1u) / WG;
  let begin = min(t * chunk, V);
  let end = min(begin + chunk, V);
  var mine = 0.0;
  for (var x = begin; x < end; x++) { mine += weight(i, x, residual); }
  sums[t] = mine;
  if (t == 0u) { found = NONE; }
  workgroupBarrier();
  if (t == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) { let s = sums[j]; sums[j] = total; total += s; }  // exclusive prefix
    shared_total = total;
  }
  let total = workgroupUniformLoad(&shared_total);
  if (!(total > 0.0)) { return NONE; }
  let goal = u * total;
  var running = sums[t];
  // The chunks' ranges [running, running + mine) are disjoint: at most one thread writes.
  if (goal >= running && goal < running + mine) {
    for (var x = begin; x < end; x++) {
      running += weight(i, x, residual);
      if (goal < running) {
        found = x;
        break;
      }
    }
  }
  workgroupBarrier();
  if (t == 0u && found == NONE) {
    // u fell past the last token by rounding: take the last one with weight.
    for (var x = V; x > 0u; x--) {
      if (weight(i, x - 1u, residual) > 0.0) { found = x - 1u; break; }
    }
  }
  return workgroupUniformLoad(&found);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
  let k = params.k;
  let seed = params.sampling.seed;
  var a = 0u;
  loop {
    if (a >= k) { break; }
    if (t == 0u) {
      let d = drafts[a];
      let pd = p_of(a, d);
      let qd = q_of(a, d);
      decision = select(0u, 1u, qd > 0.0 && uniform01(seed, a) < min(1.0, pd / qd));
    }
    if (workgroupUniformLoad(&decision) == 0u) { break; }
    a++;
  }
  // The draw's number follows the accept tests: a + 1 of them after a rejection, k without.
  let u = uniform01(seed, select(a + 1u, k, a == k));
  var token = draw(t, a, a < k, u);
  if (token == NONE && a < k) { token = draw(t, a, false, u); }
  if (t == 0u) {
    result[0] = a;
    result[1] = token;
  }
}
