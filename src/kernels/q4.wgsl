// 4-bit groups in a linear kernel (src/loader/q4.ts): MLC's (FORMAT 3: f16 scales, 4: f32
// scales), ggml's Q4_0 repacked into the same layout (FORMAT 5: f16 scales, zero point 8), and
// ggml's Q4_K as groups with an f16 (scale, min) pair each (FORMAT 6).
// A weight word (vec4u) is one group of 32 values of a row, 8 to a u32, low nibble first; the
// part's scales follow its ROWS * K / 32 words in the same buffer, one per group, row-major
// (FORMAT 6: one u32 a group, the scale in its low half and the min in its high half).
// Each value is (q - zero) * scale, or q * scale - min, exact in f32 for f16 scales (q * scale
// needs 15 bits), so the sums are formed as for the float formats, whatever a compiler fuses.

// The (scale, min) of group `word` of row `row`; min is 0 but for FORMAT 6.
fn q4_scale(row: u32, word: u32) -> vec2f {
  let group = row * (K / 32u) + word;
  let base = ROWS * (K / 8u);  // u32s of packed values before the scales
  if (FORMAT == 4u || FORMAT == 6u) {
    let i = base + group;
    let bits = weight[i / 4u][i % 4u];
    return select(vec2f(bitcast<f32>(bits), 0.0), unpack2x16float(bits), FORMAT == 6u);
  }
  let i = base + group / 2u;
  return vec2f(unpack2x16float(weight[i / 4u][i % 4u])[group % 2u], 0.0);
}

// Chunk h (values 4h .. 4h + 3) of a q4 word, dequantized with its group's (scale, min).
fn q4_chunk(word: vec4u, h: u32, scale: vec2f) -> vec4f {
  let u = word[h / 2u] >> (16u * (h % 2u));
  let q = vec4f(vec4u(u, u >> 4u, u >> 8u, u >> 12u) & vec4u(15u));
  if (FORMAT == 6u) { return q * scale.x - scale.y; }
  return (q - select(7.0, 8.0, FORMAT == 5u)) * scale.x;
}
