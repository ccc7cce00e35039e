// 4-bit groups in a linear kernel (src/loader/q4.ts): MLC's (FORMAT 3: f16 scales, 4: f32
// scales) and ggml's Q4_0 repacked into the same layout (FORMAT 5: f16 scales, zero point 8).
// A weight word (vec4u) is one group of 32 values of a row, 8 to a u32, low nibble first; the
// part's scales follow its ROWS * K / 32 words in the same buffer, one per group, row-major.
// Each value is (q - zero) * scale, exact in f32, so the sums are formed as for the float formats.

// The scale of group `word` of row `row`.
fn q4_scale(row: u32, word: u32) -> f32 {
  let group = row * (K / 32u) + word;
  let base = ROWS * (K / 8u);  // u32s of packed values before the scales
  if (FORMAT == 4u) {
    let i = base + group;
    return bitcast<f32>(weight[i / 4u][i % 4u]);
  }
  let i = base + group / 2u;
  return unpack2x16float(weight[i / 4u][i % 4u])[group % 2u];
}

// Chunk h (values 4h .. 4h + 3) of a q4 word, dequantized.
fn q4_chunk(word: vec4u, h: u32, scale: f32) -> vec4f {
  let u = word[h / 2u] >> (16u * (h % 2u));
  let q = vec4f(vec4u(u, u >> 4u, u >> 8u, u >> 12u) & vec4u(15u));
  return (q - select(7.0, 8.0, FORMAT == 5u)) * scale;
}
