// SwiGLU's gate on the fused gate|up projection output:
//   out[n, i] = silu(gate_up[n, i]) * gate_up[n, F + i],   silu(x) = x / (1 + e^-x)

override F: u32;   // intermediate size

struct Step { tokens: u32, start: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> gate_up: array<f32>;     // (tokens, 2F)
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // (tokens, F)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let n = id.y;
  let i = id.x;
  if (n >= step.tokens || i >= F) { return; }
  let g = gate_up[n * 2u * F + i];
  out[n * F + i] = g / (1.0 + exp(-g)) * gate_up[n * 2u * F + F + i];
}
