// Embedding lookup: x[n, :] = table[tokens[n], :] * SCALE, widened to f32 (SCALE: Gemma's sqrt(d), else 1).
// The table may be f32, packed 16-bit (f16 / bf16, two values per u32) or quantized groups
// (quantized.wgsl: 4- to 6-bit, eight values' low 4 bits per u32, or 8-bit, four, the scales
// after them; IQ4's levels from iq4_levels.wgsl, which follows this file): tied
// models share it with the LM head, so it stays in the weights' own format.

override D: u32;                // hidden size
override FORMAT: u32 = 0u;      // 0 = f32, 1 = f16, 2 = bf16, 3 = q4 with f16 scales, 4 = with f32 scales, 5 = Q4_0, 6 = Q4_K, 7 = q8, 8 = q8 with (scale, min), 9 = q5, 10 = q6, 11 = IQ4 levels, 12 = Q8_0, 13 = levels with a scale a 16, 14 = Q6_K
override SCALE: f32 = 1.0;
// A table split by rows: this buffer holds ids ROW_OFFSET .. ROW_OFFSET + PART_ROWS - 1.
override ROW_OFFSET: u32 = 0u;
override PART_ROWS: u32 = 0xffffffffu;
// x's rows are STRIDE wide: an EAGLE-1 head writes the first D columns of [embedding; hidden].
override STRIDE: u32 = D;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> table: array<u32>;       // (vocab, D) in FORMAT
@group(0) @binding(2) var<storage, read> tokens: array<u32>;      // (tokens)
@group(0) @binding(3) var<storage, read_write> x: array<f32>;     // (tokens, STRIDE)

fn load(i: u32) -> f32 {
  if (FORMAT == 0u) { return bitcast<f32>(table[i]); }
  if (FORMAT == 7u || FORMAT == 12u) {
    let q = bitcast<i32>(table[i / 4u] << (24u - 8u * (i % 4u))) >> 24u;  // the sign kept
    let scales = PART_ROWS * (D / 4u);
    if (FORMAT == 12u) { return f32(q) * unpack2x16float(table[scales + i / 64u])[(i / 32u) % 2u]; }
    return f32(q) * bitcast<f32>(table[scales + i / 16u]);
  }
  if (FORMAT == 8u) {
    let q = (table[i / 4u] >> (8u * (i % 4u))) & 255u;
    let pair = PART_ROWS * (D / 4u) + 2u * (i / 16u);  // (scale, min)
    return f32(q) * bitcast<f32>(table[pair]) - bitcast<f32>(table[pair + 1u]);
  }
  if (FORMAT == 10u || FORMAT == 14u) {
    let j = i % 32u;
    // (high bits of 0-15, of 16-31, then two pairs, or Q6_K's d and two int8 scales)
    let extras = PART_ROWS * (D / 8u) + select(4u, 3u, FORMAT == 14u) * (i / 32u);
    let high = (table[extras + j / 16u] >> (2u * (j % 16u))) & 3u;
    let q = ((table[i / 8u] >> (4u * (i % 8u))) & 15u) | (high << 4u);
    if (FORMAT == 14u) {
      // d sc, as quantized.wgsl's q6_k_scale forms it
      let bits = table[extras + 2u];
      let scale = unpack2x16float(bits).x * f32(bitcast<i32>(bits << (8u - 8u * (j / 16u))) >> 24u);
      return f32(q) * scale - 32.0 * scale;
    }
    let pair = unpack2x16float(table[extras + 2u + j / 16u]);
    return f32(q) * pair.x - pair.y;
  }
  if (FORMAT == 9u) {
    let group = PART_ROWS * (D / 8u) + 2u * (i / 32u);  // (fifth bits, (scale, min)) after the nibbles
    let q = ((table[i / 8u] >> (4u * (i % 8u))) & 15u) | (((table[group] >> (i % 32u)) & 1u) << 4u);
    let pair = unpack2x16float(table[group + 1u]);
    return f32(q) * pair.x - pair.y;
  }
  if (FORMAT >= 3u) {
    let q = (table[i / 8u] >> (4u * (i % 8u))) & 15u;
    let group = i / 32u;
    let base = PART_ROWS * (D / 8u);  // the scales follow the packed values of the part's rows
    var scale: f32;
    if (FORMAT == 11u) { return iq4_levels(vec4u(q)).x * bitcast<f32>(table[base + group]); }
    if (FORMAT == 13u) { return iq4_levels(vec4u(q)).x * bitcast<f32>(table[base + i / 16u]); }
    if (FORMAT == 6u) {
      let pair = unpack2x16float(table[base + group]);  // (scale, min)
      return f32(q) * pair.x - pair.y;
    }
    if (FORMAT == 4u) {
      scale = bitcast<f32>(table[base + group]);
    } else {
      scale = unpack2x16float(table[base + group / 2u])[group % 2u];
    }
    return (f32(q) - select(7.0, 8.0, FORMAT == 5u)) * scale;
  }
  let word = table[i / 2u];
  if (FORMAT == 1u) { return unpack2x16float(word)[i % 2u]; }
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, i % 2u == 1u));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let n = id.y;
  let i = id.x;
  if (n >= step.tokens || i >= D) { return; }
  let token = tokens[n];
  if (token < ROW_OFFSET || token - ROW_OFFSET >= PART_ROWS) { return; }
  x[n * STRIDE + i] = load((token - ROW_OFFSET) * D + i) * SCALE;
}
