// An MLP's activation, for the gate of SwiGLU and GeGLU (epilogue_gate.wgsl) and for the one
// in-projection of an MLP without a gate (Phi-1/2: y = act(x W^T + b), where ACTIVATE):
//   ACTIVATION 0, SiLU: silu(g) = g / (1 + e^-g)
//   ACTIVATION 1, GELU's tanh approximation: gelu(g) = g/2 (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
//   ACTIVATION 2, the exact GELU (GPT-NeoX): gelu(g) = g/2 (1 + erf(g / sqrt 2))
// tanh's argument is clamped to +-15, where tanh is already +-1 in f32, so no backend's tanh
// overflows. WGSL has no erf: Abramowitz and Stegun's 7.1.26, within 1.5e-7 of it.

override ACTIVATION: u32 = 0u;
override ACTIVATE: bool = false; // rows stand alone (PAIR_SPAN 0) and each is stored as act(value)

fn activate(g: f32) -> f32 {
  if (ACTIVATION == 0u) { return g / (1.0 + exp(-g)); }
  if (ACTIVATION == 2u) { return 0.5 * g * (1.0 + erf(g * 0.7071067811865476)); }
  let inner = 0.7978845608028654 * (g + 0.044715 * g * g * g);
  return 0.5 * g * (1.0 + tanh(clamp(inner, -15.0, 15.0)));
}

// erf(x) = 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5) e^(-x^2), t = 1 / (1 + p |x|), odd in x.
fn erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}

// A row's value as stored: itself, or activated.
fn stored(value: f32) -> f32 {
  if (ACTIVATE) { return activate(value); }
  return value;
}
