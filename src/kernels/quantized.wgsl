// Quantized groups in a linear kernel: a weight word (vec4u) is one group of a row, its values
// packed low bits first, and the part's scales follow its ROWS * K / GROUP_VALUES words in the
// same buffer, one per group (FORMAT 8: two), row-major.
//   FORMAT 3, 4: MLC's 4-bit groups of 32 (src/loader/q4.ts), f16 / f32 scales, (q - 7) scale
//   FORMAT 5:    ggml's Q4_0 repacked into that layout: f16 scales, (q - 8) scale
//   FORMAT 6:    ggml's Q4_K as 4-bit groups of 32 with an f16 (scale, min) pair each (one u32:
//                the scale in its low half, the min in its high half), q scale - min
//   FORMAT 7:    8-bit groups of 16 (src/loader/q8.ts: ggml's Q8_0, Q5_0 and Q6_K repacked),
//                signed values, f32 scales, q scale
//   FORMAT 8:    8-bit groups of 16 with an f32 (scale, min) pair each (two u32s), unsigned
//                values, q scale - min (q8.ts: every other ggml block type, and matrices fused
//                from parts of different types)
//   FORMAT 9:    5-bit groups of 32 (q5.ts: ggml's Q5_K, Q5_0, Q5_1, and 4-bit types fused with
//                them): the low 4 bits as FORMAT 6's nibbles, and two u32s a group, its fifth
//                bits (bit j: value j's) and an f16 (scale, min) pair; q scale - min
// Each product q * scale is exact in f32 (a 4- or 5-bit q times an f16 scale needs 16 bits; the
// 8-bit groups' scales are an f16 times at most a 7-bit integer, times q at most 24 bits), so
// the sums are formed as for the float formats, whatever a compiler fuses.

override GROUP_VALUES: u32 = select(32u, 16u, FORMAT == 7u || FORMAT == 8u);  // values a word
override GROUP_CHUNKS: u32 = GROUP_VALUES / 4u;                               // 4-value chunks a word

// The (scale, min) of group `word` of row `row`; min is 0 but for FORMAT 6, 8 and 9.
fn group_scale(row: u32, word: u32) -> vec2f {
  let group = row * (K / GROUP_VALUES) + word;
  let base = ROWS * (K / GROUP_VALUES) * 4u;  // u32s of packed values before the scales
  if (FORMAT == 8u) {
    let i = base + 2u * group;
    return vec2f(bitcast<f32>(weight[i / 4u][i % 4u]), bitcast<f32>(weight[(i + 1u) / 4u][(i + 1u) % 4u]));
  }
  if (FORMAT == 9u) {
    let i = base + 2u * group + 1u;
    return unpack2x16float(weight[i / 4u][i % 4u]);
  }
  if (FORMAT == 4u || FORMAT == 6u || FORMAT == 7u) {
    let i = base + group;
    let bits = weight[i / 4u][i % 4u];
    return select(vec2f(bitcast<f32>(bits), 0.0), unpack2x16float(bits), FORMAT == 6u);
  }
  let i = base + group / 2u;
  return vec2f(unpack2x16float(weight[i / 4u][i % 4u])[group % 2u], 0.0);
}

// The fifth bits of group `word` of row `row` (FORMAT 9; 0 for the others).
fn group_high(row: u32, word: u32) -> u32 {
  if (FORMAT != 9u) { return 0u; }
  let i = ROWS * (K / GROUP_VALUES) * 4u + 2u * (row * (K / GROUP_VALUES) + word);
  return weight[i / 4u][i % 4u];
}

// Chunk h (values 4h .. 4h + 3) of a word, dequantized with its group's (scale, min) and fifth bits.
fn group_chunk(word: vec4u, h: u32, scale: vec2f, high: u32) -> vec4f {
  if (FORMAT == 7u) {
    let u = bitcast<vec4i>(vec4u(word[h] << 24u, word[h] << 16u, word[h] << 8u, word[h]));
    return vec4f(u >> vec4u(24u)) * scale.x;  // >> of a signed integer keeps the sign
  }
  if (FORMAT == 8u) {
    let q = vec4f(vec4u(word[h], word[h] >> 8u, word[h] >> 16u, word[h] >> 24u) & vec4u(255u));
    return q * scale.x - scale.y;
  }
  let u = word[h / 2u] >> (16u * (h % 2u));
  let low = vec4u(u, u >> 4u, u >> 8u, u >> 12u) & vec4u(15u);
  if (FORMAT == 9u) {
    let fifth = (vec4u(high) >> (vec4u(0u, 1u, 2u, 3u) + 4u * h)) & vec4u(1u);
    return vec4f(low | (fifth << vec4u(4u))) * scale.x - scale.y;
  }
  let q = vec4f(low);
  if (FORMAT == 6u) { return q * scale.x - scale.y; }
  return (q - select(7.0, 8.0, FORMAT == 5u)) * scale.x;
}
