// Epilogue of the fused gate|up projection, appended to a linear kernel with PAIR_SPAN = F
// (ROWS = 2F weight rows, F outputs): output j pairs gate row j with up row F + j, and the
// gate's activation (activation.wgsl: SiLU for SwiGLU, GELU for Gemma's GeGLU) is applied as
// the two sums leave the registers, so the (tokens, 2F) projection never goes through memory:
//   y[n, j] = act(gate) * up

fn store_pair(j: u32, n: u32, gate: f32, up: f32) {
  y[n * (ROWS / 2u) + j] = activate(gate) * up;
}
