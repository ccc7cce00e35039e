// Soft capping of logits (Gemma 2): x -> CAP tanh(x / CAP), for every logit of the step's rows.
// Elementwise, so a row's result never depends on the batch. tanh's argument is clamped to
// +-15, where tanh is already +-1 in f32, so no backend's tanh overflows.

override V: u32;     // logits a row
override CAP: f32;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;   // (rows, V)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let row = id.y;
  let i = id.x;
  if (row >= step.tokens || i >= V) { return; }
  logits[row * V + i] = CAP * tanh(clamp(logits[row * V + i] / CAP, -15.0, 15.0));
}
