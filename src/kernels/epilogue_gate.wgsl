// Epilogue of the fused gate|up projection, appended to a linear kernel with PAIR_SPAN = F
// (ROWS = 2F weight rows, F outputs): output j pairs gate row j with up row F + j, and the
// gate's activation is applied as the two sums leave the registers, so the (tokens, 2F)
// projection never goes through memory:
//   y[n, j] = act(gate) * up
//   ACTIVATION 0, SwiGLU: silu(g) = g / (1 + e^-g)
//   ACTIVATION 1, GeGLU (Gemma): gelu(g) = g/2 (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
// tanh's argument is clamped to +-15, where tanh is already +-1 in f32, so no backend's tanh
// overflows.

override ACTIVATION: u32 = 0u;

fn store_pair(j: u32, n: u32, gate: f32, up: f32) {
  var act: f32;
  if (ACTIVATION == 0u) {
    act = gate / (1.0 + exp(-gate));
  } else {
    let inner = 0.7978845608028654 * (gate + 0.044715 * gate * gate * gate);
    act = 0.5 * gate * (1.0 + tanh(clamp(inner, -15.0, 15.0)));
  }
  y[n * (ROWS / 2u) + j] = act * up;
}
