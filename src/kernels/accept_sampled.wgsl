// The acceptance rule of speculative sampling on the GPU (src/speculative/acceptance.ts), after
// a sampled step's draft passes and verify pass, so that the step reads back its verdict, not
// 2k + 1 rows of logits. With p_i the target's kept distribution after input i and q_i the
// draft's at draft i (distribution.wgsl; their statistics from distribution_stats.wgsl):
//
//   for i = 0 .. k - 1: accept draft d_i with probability min(1, p_i(d_i) / q_i(d_i));
//   at the first rejection, at i = a: draw the token from the residual max(0, p_a - q_a);
//   if all k are accepted (a = k): draw it from p_k.
//   result[0] = a, result[1] = the token (NONE if no row gave a positive total: NaN logits),
//   result[2] = the accepted leaf's depth, or NONE.
//
// A tree (src/speculative/tree.ts) has a leaf l_i beside each of the first `leaves` drafts,
// drawn from q'_i, q_i without d_i (renormalised; q'_i = 0 when nothing else had mass and the
// leaf repeats d_i), and its own row after the chain's (row k + 1 + i). When d_a is rejected
// and a leaf stands beside it, the leaf takes its turn against the normalised residual
// r = max(0, p_a - q_a) / Z (SpecInfer's rule, acceptance.ts `acceptAmong`): accepted with
// probability min(1, r(l_a) / q'_a(l_a)), when the token is drawn from the leaf's row and a + 1
// tokens are accepted; else the token is drawn from the residual max(0, r - q'_a).
//
// The draws are those of acceptance.ts with the n-th random number uniform01(seed, n), n
// counting the accept tests, then the draw (src/ref/sampled-acceptance.ts is the reference).
// A residual with no mass (p_a = q_a up to rounding, when acceptance was all but certain)
// draws from the distribution before it instead. The draft's rows are over its own vocabulary:
// `draft_ids` maps each target id to the draft id it is (NONE where none is: q = 0 there), an
// identity for a draft model, the inverse of d2t for an EAGLE head. One workgroup; a draw scans
// the vocabulary in WG contiguous chunks, as sample.wgsl does.

override V: u32;          // the target's vocabulary
override DV: u32;         // the draft's rows' width
override WG: u32 = 256u;
override TARGET_AT: u32;  // where the target's rows' statistics start in `stats`
const NONE = 0xffffffffu;

struct Accept { sampling: Sampling, k: u32, leaves: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> params: Accept;
@group(0) @binding(1) var<storage, read> drafts: array<u32>;          // (k + leaves) target ids
@group(0) @binding(2) var<storage, read> draft_ids: array<u32>;       // (V) draft id of each target id
@group(0) @binding(3) var<storage, read> stats: array<vec4f>;         // (m, inv_total, tau, kept) a row
@group(0) @binding(4) var<storage, read> draft_logits: array<f32>;    // (k, DV)
@group(0) @binding(5) var<storage, read> logits: array<f32>;          // (k + 1 + leaves, V): the target's
@group(0) @binding(6) var<storage, read_write> result: array<u32>;    // a, token, leaf

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

// The rejected chain draft a leaf was drawn without, and the mass q left beside it (1 - q(d)).
var<private> chain_draft: u32;
var<private> rest: f32;

// q' at depth i: q without the chain's draft, renormalised (0 everywhere if nothing is left).
fn q_leaf(i: u32, x: u32) -> f32 {
  if (x == chain_draft || !(rest > 0.0)) { return 0.0; }
  return q_of(i, x) / rest;
}

// What a draw weighs token x by: p after input i itself (P), the residual max(0, p - q) at depth
// i (RESIDUAL), or the residual a leaf leaves, max(0, max(0, p - q) / z - q') (LEAF_RESIDUAL).
const P = 0u;
const RESIDUAL = 1u;
const LEAF_RESIDUAL = 2u;

fn weight(i: u32, x: u32, mode: u32, z: f32) -> f32 {
  let p = p_of(i, x);
  if (mode == P) { return p; }
  let r = max(0.0, p - q_of(i, x));
  if (mode == RESIDUAL) { return r; }
  return max(0.0, r / z - q_leaf(i, x));
}

// The weight of each thread's contiguous chunk of the vocabulary (into `mine`); sums[t] becomes
// the weight before the chunk (an exclusive prefix, in index order), and the total is returned.
fn chunk_weights(t: u32, i: u32, mode: u32, z: f32, mine: ptr<function, f32>) -> f32 {
  let chunk = (V + WG - 1u) / WG;
  let begin = min(t * chunk, V);
  let end = min(begin + chunk, V);
  var sum = 0.0;
  for (var x = begin; x < end; x++) { sum += weight(i, x, mode, z); }
  *mine = sum;
  sums[t] = sum;
  workgroupBarrier();
  if (t == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) { let s = sums[j]; sums[j] = total; total += s; }  // exclusive prefix
    shared_total = total;
  }
  return workgroupUniformLoad(&shared_total);
}

// The first token, in index order, whose running weight exceeds u times the total; NONE if the
// total is not positive.
fn draw(t: u32, i: u32, mode: u32, z: f32, u: f32) -> u32 {
  if (t == 0u) { found = NONE; }
  var mine = 0.0;
  let total = chunk_weights(t, i, mode, z, &mine);
  if (!(total > 0.0)) { return NONE; }
  let chunk = (V + WG - 1u) / WG;
  let begin = min(t * chunk, V);
  let end = min(begin + chunk, V);
  let goal = u * total;
  var running = sums[t];
  // The chunks' ranges [running, running + mine) are disjoint: at most one thread writes.
  if (goal >= running && goal < running + mine) {
    for (var x = begin; x < end; x++) {
      running += weight(i, x, mode, z);
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
      if (weight(i, x - 1u, mode, z) > 0.0) { found = x - 1u; break; }
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
  var leaf = NONE;
  var token = NONE;
  if (a < k && a < params.leaves) {
    // The leaf's turn, against the normalised residual; its test is number a + 1, the draw a + 2.
    var mine = 0.0;
    let z = chunk_weights(t, a, RESIDUAL, 1.0, &mine);
    if (z > 0.0) {
      chain_draft = drafts[a];
      rest = 1.0 - q_of(a, chain_draft);
      if (t == 0u) {
        let l = drafts[k + a];
        let ql = q_leaf(a, l);
        let r = max(0.0, p_of(a, l) - q_of(a, l)) / z;
        decision = select(0u, 1u, ql > 0.0 && uniform01(seed, a + 1u) < min(1.0, r / ql));
      }
      let u = uniform01(seed, a + 2u);
      if (workgroupUniformLoad(&decision) == 1u) {
        leaf = a;
        token = draw(t, k + 1u + a, P, 1.0, u);
      } else {
        token = draw(t, a, LEAF_RESIDUAL, z, u);
        if (token == NONE) { token = draw(t, a, RESIDUAL, 1.0, u); }
      }
    } else {
      token = draw(t, a, P, 1.0, uniform01(seed, a + 1u));
    }
  } else {
    // The draw's number follows the accept tests: a + 1 of them after a rejection, k without.
    let u = uniform01(seed, select(a + 1u, k, a == k));
    token = draw(t, a, select(P, RESIDUAL, a < k), 1.0, u);
    if (token == NONE && a < k) { token = draw(t, a, P, 1.0, u); }
  }
  if (t == 0u) {
    result[0] = select(a, a + 1u, leaf != NONE);
    result[1] = token;
    result[2] = leaf;
  }
}
