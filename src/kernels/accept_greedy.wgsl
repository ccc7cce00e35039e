// Greedy acceptance on the GPU, after a verify pass: drafts d_0 .. d_{K-1} are accepted while
// the target's choice after each input token agrees, c_i == d_i; the step's own token is the
// target's choice after the last accepted one. One thread: K is at most a few dozen.
//   result[0] = accepted a,  result[1] = c_a

struct Params { k: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> drafts: array<u32>;        // (K)
@group(0) @binding(2) var<storage, read> choices: array<u32>;       // (K + 1)
@group(0) @binding(3) var<storage, read_write> result: array<u32>;  // (2)

@compute @workgroup_size(1)
fn main() {
  var a = 0u;
  while (a < params.k && drafts[a] == choices[a]) { a++; }
  result[0] = a;
  result[1] = choices[a];
}
