// Greedy acceptance on the GPU, after a verify pass: drafts d_0 .. d_{K-1} are accepted while
// the target's choice after each input token agrees, c_i == d_i; the step's own token is the
// target's choice after the last accepted one. One thread: K is at most a few dozen.
//
// A tree (speculative/tree.ts, `acceptTree`): leaves follow the chain in the drafts list, rank
// by rank, each rank one leaf beside each of the first `leaves` drafts (rank r's at depth i in
// slot r * leaves + i), and the pass's rows are [newest, chain, leaves]. Where the chain's d_i
// is refused but a leaf beside it is the target's choice, that leaf is accepted too and the
// walk ends; the step's own token is the target's choice after the leaf (its row, K + 1 + slot).
//   result[0] = accepted a (the leaf included),  result[1] = the step's own token,
//   result[2] = the accepted leaf's slot, or NO_LEAF

struct Params { k: u32, leaves: u32, ranks: u32, _pad1: u32 }

const NO_LEAF = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> drafts: array<u32>;        // (K + ranks * leaves): the chain, then the leaves
@group(0) @binding(2) var<storage, read> choices: array<u32>;       // (K + 1 + ranks * leaves)
@group(0) @binding(3) var<storage, read_write> result: array<u32>;  // (3)

@compute @workgroup_size(1)
fn main() {
  let k = params.k;
  var a = 0u;
  while (a < k && drafts[a] == choices[a]) { a++; }
  if (a < min(params.leaves, k)) {
    for (var r = 0u; r < params.ranks; r++) {
      let slot = r * params.leaves + a;
      if (drafts[k + slot] == choices[a]) {
        result[0] = a + 1u;
        result[1] = choices[k + 1u + slot];
        result[2] = slot;
        return;
      }
    }
  }
  result[0] = a;
  result[1] = choices[a];
  result[2] = NO_LEAF;
}
