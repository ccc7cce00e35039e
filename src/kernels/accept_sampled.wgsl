// The acceptance rule of speculative sampling on the GPU (src/speculative/acceptance.ts), after
// a sampled step's draft passes and verify pass, so that the step reads back its verdict, not
// 2k + 1 rows of logits. With p_i the target's kept distribution after input i and q_i the
// draft's at draft i (distribution.wgsl; their statistics from distribution_stats.wgsl):
//
//   for i = 0 .. k - 1: accept draft d_i with probability min(1, p_i(d_i) / q_i(d_i));
//   at the first rejection, at i = a: draw the token from the residual max(0, p_a - q_a);
//   if all k are accepted (a = k): draw it from p_k.
//   result[0] = a, result[1] = the token (NONE if no row gave a positive total: NaN logits),
//   result[2] = the accepted leaf's slot among the leaves (rank * leaves + depth), or NONE.
//
// A tree (src/speculative/tree.ts) has `ranks` leaves beside each of the first `leaves` drafts,
// rank by rank after the chain in `drafts` (leaf j of rank r at k + r * leaves + j, its row
// k + 1 + r * leaves + j). Beside d_i, rank r's leaf was drawn from q_i without d_i and the
// leaves of the ranks before (renormalised; 0 where nothing else had mass and the leaf repeats
// one). When d_a is rejected, the leaves beside it take their turns, rank by rank, under
// SpecInfer's rule (acceptance.ts `acceptAmong`): with r_0 = max(0, p_a - q_a) and Z_j its
// total after j turns, candidate j (rank j - 1) is accepted with probability
// min(1, (r_(j-1)(l) / Z_(j-1)) / q'_j(l)), when the token is drawn from the leaf's row and a + 1
// tokens are accepted; else r_j = max(0, r_(j-1) / Z_(j-1) - q'_j) and the next turn, and after
// the last rejection the token is drawn from r_ranks.
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

struct Accept { sampling: Sampling, k: u32, leaves: u32, ranks: u32, _pad2: u32 }
const MAX_RANKS = 3u;

@group(0) @binding(0) var<uniform> params: Accept;
@group(0) @binding(1) var<storage, read> drafts: array<u32>;          // (k + ranks * leaves) target ids
@group(0) @binding(2) var<storage, read> draft_ids: array<u32>;       // (V) draft id of each target id
@group(0) @binding(3) var<storage, read> stats: array<vec4f>;         // (m, inv_total, tau, kept) a row
@group(0) @binding(4) var<storage, read> draft_logits: array<f32>;    // (k, DV)
@group(0) @binding(5) var<storage, read> logits: array<f32>;          // (k + 1 + ranks * leaves, V): the target's
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

// The candidates at the rejected depth: the chain's draft (0), then its leaves, rank by rank;
// rests[j], the mass q leaves beside candidates 0 .. j - 1 (candidate j's q' normaliser); and
// totals[j], the total of the residual r_j (the turns of candidates 0 .. j done).
var<private> candidates: array<u32, MAX_RANKS + 1u>;
var<private> rests: array<f32, MAX_RANKS + 1u>;
var<private> totals: array<f32, MAX_RANKS + 1u>;

// q' of candidate j >= 1 at depth i: q without candidates 0 .. j - 1, renormalised (0 everywhere if nothing is left).
fn q_turn(i: u32, j: u32, x: u32) -> f32 {
  if (!(rests[j] > 0.0)) { return 0.0; }
  for (var c = 0u; c < j; c++) {
    if (x == candidates[c]) { return 0.0; }
  }
  return q_of(i, x) / rests[j];
}

// What a draw weighs token x by at depth i: p after input i itself (level P), or the residual
// r_level after the turns of candidates 0 .. level, unnormalised.
const P = 0xffffffffu;

fn weight(i: u32, x: u32, level: u32) -> f32 {
  let p = p_of(i, x);
  if (level == P) { return p; }
  var r = max(0.0, p - q_of(i, x));
  for (var j = 1u; j <= level; j++) { r = max(0.0, r / totals[j - 1u] - q_turn(i, j, x)); }
  return r;
}

// The weight of each thread's contiguous chunk of the vocabulary (into `mine`); sums[t] becomes
// the weight before the chunk (an exclusive prefix, in index order), and the total is returned.
fn chunk_weights(t: u32, i: u32, level: u32, mine: ptr<function, f32>) -> f32 {
  let chunk = (V + WG - 1u) / WG;
  let begin = min(t * chunk, V);
  let end = min(begin + chunk, V);
  var sum = 0.0;
  for (var x = begin; x < end; x++) { sum += weight(i, x, level); }
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
fn draw(t: u32, i: u32, level: u32, u: f32) -> u32 {
  if (t == 0u) { found = NONE; }
  var mine = 0.0;
  let total = chunk_weights(t, i, level, &mine);
  if (!(total > 0.0)) { return NONE; }
  let chunk = (V + WG - 1u) / WG;
  let begin = min(t * chunk, V);
  let end = min(begin + chunk, V);
  let goal = u * total;
  var running = sums[t];
  // The chunks' ranges [running, running + mine) are disjoint: at most one thread writes.
  if (goal >= running && goal < running + mine) {
    for (var x = begin; x < end; x++) {
      running += weight(i, x, level);
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
      if (weight(i, x - 1u, level) > 0.0) { found = x - 1u; break; }
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
  if (a < k && a < params.leaves && params.ranks > 0u) {
    // The leaves' turns beside d_a, rank by rank; candidate j's test is number a + j.
    candidates[0] = drafts[a];
    rests[0] = 1.0;
    var mine = 0.0;
    // The residual's total, kept here too: control flow reads it (a private variable is not uniform).
    var total = chunk_weights(t, a, 0u, &mine);
    totals[0] = total;
    let ranks = min(params.ranks, MAX_RANKS);
    var level = 0u;  // the residual the draw reads if no leaf is accepted
    var tests = 1u;  // random numbers the tests used: the chain's, then one a turn
    for (var j = 1u; j <= ranks; j++) {
      if (!(total > 0.0)) { break; }  // no residual left (rounding): draw from the one before
      let slot = (j - 1u) * params.leaves + a;
      let l = drafts[k + slot];
      candidates[j] = l;
      // q's mass beside candidates 0 .. j - 1, each counted once (a leaf may repeat one).
      var counted = false;
      for (var c = 0u; c + 1u < j; c++) { counted = counted || candidates[c] == candidates[j - 1u]; }
      rests[j] = rests[j - 1u] - select(q_of(a, candidates[j - 1u]), 0.0, counted);
      if (t == 0u) {
        let ql = q_turn(a, j, l);
        let r = weight(a, l, j - 1u) / totals[j - 1u];
        decision = select(0u, 1u, ql > 0.0 && uniform01(seed, a + j) < min(1.0, r / ql));
      }
      tests = j + 1u;
      if (workgroupUniformLoad(&decision) == 1u) {
        leaf = slot;
        break;
      }
      level = j;
      if (j < ranks) {
        total = chunk_weights(t, a, j, &mine);
        totals[j] = total;
      }
    }
    let u = uniform01(seed, a + tests);
    if (leaf != NONE) {
      token = draw(t, k + 1u + leaf, P, u);
    } else {
      // The last residual; where it has no mass (rounding), the ones before it, then p.
      token = draw(t, a, level, u);
      for (var down = level; token == NONE && down > 0u; down--) { token = draw(t, a, down - 1u, u); }
      if (token == NONE) { token = draw(t, a, P, u); }
    }
  } else {
    // The draw's number follows the accept tests: a + 1 of them after a rejection, k without.
    let u = uniform01(seed, select(a + 1u, k, a == k));
    token = draw(t, a, select(P, 0u, a < k), u);
    if (token == NONE && a < k) { token = draw(t, a, P, u); }
  }
  if (t == 0u) {
    result[0] = select(a, a + 1u, leaf != NONE);
    result[1] = token;
    result[2] = leaf;
  }
}
