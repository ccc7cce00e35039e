// Copies each token's row of x into a block of columns of a wider matrix:
// out[n, OFFSET + i] = x[n, i] for i < D, out's rows being STRIDE wide. A target with an EAGLE
// head gathers the inputs of three of its layers side by side so: [a; b; c], 3D wide.
//
// With AT_START, one side's rows are the sequence's, from the step's start: 1, out[start + n]
// (a target storing its pass's features at their positions); 2, x[start + n] (a head reading
// the features of its pairs' positions). The offset is the step uniform's, not the recording's,
// so a pass recorded ahead (GpuModel.recordAhead) reads and writes where it runs.

override D: u32;
override STRIDE: u32;
override OFFSET: u32;
override AT_START: u32 = 0u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // (tokens, D)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // (tokens, STRIDE)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let n = id.y;
  let i = id.x;
  if (n >= step.tokens || i >= D) { return; }
  let out_row = select(n, step.start + n, AT_START == 1u);
  let x_row = select(n, step.start + n, AT_START == 2u);
  out[out_row * STRIDE + OFFSET + i] = x[x_row * D + i];
}
