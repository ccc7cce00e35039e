// Epilogue of the fused gate|up projection, appended to linear.wgsl or linear_blocked.wgsl
// with PAIR_SPAN = F (ROWS = 2F weight rows, F outputs): output j pairs gate row j with up row
// F + j, and SwiGLU's gate is applied as the two sums leave the registers, so the (tokens, 2F)
// projection never goes through memory:
//   y[n, j] = silu(gate) * up,   silu(g) = g / (1 + e^-g)

fn store_pair(j: u32, n: u32, gate: f32, up: f32) {
  y[n * (ROWS / 2u) + j] = gate / (1.0 + exp(-gate)) * up;
}
