// A ranked choice's memory of the ranks before it (argmax.wgsl and sample.wgsl with RANK r > 0,
// a token tree's further candidates: src/speculative/tree.ts): the ids that ranks 0 .. r - 1 of
// row n hold (ids[j * step.tokens + n]), read once a row, so that the scan over the vocabulary
// asks chosen(i) of registers, not of memory. Appended to a kernel that declares RANK, step and ids.

var<private> earlier: array<u32, 3>;  // RANK of them, at most 3

fn read_earlier(n: u32) {
  for (var j = 0u; j < RANK; j++) { earlier[j] = ids[j * step.tokens + n]; }
}

// Whether index i is one of the ranks chosen before this one.
fn chosen(i: u32) -> bool {
  for (var j = 0u; j < RANK; j++) {
    if (earlier[j] == i) { return true; }
  }
  return false;
}
