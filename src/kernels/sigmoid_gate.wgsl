// Qwen3.5's attention output gate: each head's output times sigmoid of its gate row,
//   attn[n, i] *= 1 / (1 + e^-gate[n, i])      for the step's tokens' WIDTH values (heads x head_dim)
// before o_proj reads it.

override WIDTH: u32;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> gate: array<f32>;        // (tokens, WIDTH)
@group(0) @binding(2) var<storage, read_write> attn: array<f32>;  // (tokens, WIDTH)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = id.x;
  if (i >= step.tokens * WIDTH) { return; }
  attn[i] *= 1.0 / (1.0 + exp(-gate[i]));
}
