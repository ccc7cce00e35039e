// An MLP's activation, for the gate of SwiGLU and GeGLU (epilogue_gate.wgsl) and for the one
// in-projection of an MLP without a gate (Phi-1/2: y = act(x W^T + b), where ACTIVATE):
//   ACTIVATION 0, SiLU: silu(g) = g / (1 + e^-g)
//   ACTIVATION 1, GELU's tanh approximation: gelu(g) = g/2 (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
// tanh's argument is clamped to +-15, where tanh is already +-1 in f32, so no backend's tanh
// overflows.

override ACTIVATION: u32 = 0u;
override ACTIVATE: bool = false; // rows stand alone (PAIR_SPAN 0) and each is stored as act(value)

fn activate(g: f32) -> f32 {
  if (ACTIVATION == 0u) { return g / (1.0 + exp(-g)); }
  let inner = 0.7978845608028654 * (g + 0.044715 * g * g * g);
  return 0.5 * g * (1.0 + tanh(clamp(inner, -15.0, 15.0)));
}

// A row's value as stored: itself, or activated.
fn stored(value: f32) -> f32 {
  if (ACTIVATE) { return activate(value); }
  return value;
}
