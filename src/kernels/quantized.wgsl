// Quantized groups in a linear kernel: a weight word (vec4u) is one group of a row, its values
// packed low bits first, and the part's scales follow its ROWS * K / GROUP_VALUES words in the
// same buffer, one scale per group (FORMAT 8 and 9: two u32s, 10: four, 14: three; 12: one
// per two words), row-major.
//   FORMAT 3, 4: MLC's 4-bit groups of 32 (src/loader/q4.ts), f16 / f32 scales, (q - 7) scale
//   FORMAT 5:    ggml's Q4_0 repacked into that layout: f16 scales, (q - 8) scale
//   FORMAT 6:    ggml's Q4_K as 4-bit groups of 32 with an f16 (scale, min) pair each (one u32:
//                the scale in its low half, the min in its high half), q scale - min
//   FORMAT 7:    8-bit groups of 16 (src/loader/q8.ts: ggml's i-quants, and Q8_0 fused with
//                them, repacked), signed values, f32 scales, q scale
//   FORMAT 8:    8-bit groups of 16 with an f32 (scale, min) pair each (two u32s), unsigned
//                values, q scale - min (q8.ts: matrices fused from parts of types no smaller
//                layout holds together)
//   FORMAT 9:    5-bit groups of 32 (q5.ts: ggml's Q5_K, Q5_0, Q5_1, and 4-bit types fused with
//                them): the low 4 bits as FORMAT 6's nibbles, and two u32s a group, its fifth
//                bits (bit j: value j's) and an f16 (scale, min) pair; q scale - min
//   FORMAT 10:   6-bit groups of 32 (q6.ts, Q6A: ggml's K-quants, Q6_K to Q2_K, fused, Q2_K
//                alone, and the 4- and 5-bit types fused with them): the nibbles, and four u32s
//                a group, the high 2 bits of its values 0-15 and of 16-31 (value j's at bits
//                2 (j % 16)), and an f16 (scale, min) pair for each half; q scale - min
//   FORMAT 11:   4-bit level groups of 32 (iq4.ts: ggml's IQ4_NL and IQ4_XS, and IQ3_XXS, IQ3_S,
//                IQ2_XXS, IQ1_S): the nibbles index 16 levels (iq4_levels.wgsl: IQ4's or the
//                lattice type's), f32 scales; level scale
//   FORMAT 12:   8-bit groups of 32 (q8.ts: ggml's Q8_0), signed values as FORMAT 7's, an f16
//                scale for each two words (two scales a u32); q scale
//   FORMAT 13:   FORMAT 11's level groups with an f32 scale for each 16 values (two a group:
//                ggml's IQ2_XS, IQ2_S, IQ1_M with their lattices' levels, Q3_K with its
//                integers -4 .. 3); level scale
//   FORMAT 14:   ggml's Q6_K alone (q6.ts): FORMAT 10's 6-bit values, and three u32s a group,
//                the high bits as FORMAT 10's, then the block's f16 d (low half) and the
//                halves' int8 scales (bits 16-23, 24-31); q scale - 32 scale, scale = d sc
// Each product q * scale is exact in f32 (a 4- to 6-bit q times an f16 scale needs at most 17
// bits; the 8-bit groups' scales are an f16 times at most a 7-bit integer, times q at most 24
// bits, as are a level's 7 bits times a level group's scale of at most 17, and Q6_K's 6-bit q
// times d sc, an f16 times an int8: 18 bits), so the sums are formed as for the float formats,
// whatever a compiler fuses.

override GROUP_VALUES: u32 = select(32u, 16u, FORMAT == 7u || FORMAT == 8u || FORMAT == 12u);  // values a word
override GROUP_CHUNKS: u32 = GROUP_VALUES / 4u;                               // 4-value chunks a word

// A lane's unit of a row (linear.wgsl, linear_prefill.wgsl; the lanes of a row take units l,
// l + LANES, ...): with SPLIT_GROUPS one u32 of a word (8 values of the 4- to 6-bit groups, 4 of
// the 8-bit ones), else the whole word. Split, neighbouring lanes read neighbouring inputs, 32
// bytes apart as an f16 row's lanes do; whole, a 4-bit word's 32 values put them 128 bytes
// apart, so each load of an input chunk touches a cache line per lane (profile.ts).
override SPLIT_GROUPS: bool = false;
override UNITS_A_WORD: u32 = select(1u, 4u, SPLIT_GROUPS);
override UNIT_CHUNKS: u32 = GROUP_CHUNKS / UNITS_A_WORD;  // 4-value chunks a unit
override UNITS: u32 = K / GROUP_VALUES * UNITS_A_WORD;     // units a row

// Unit `u` of row `row` as a word group_chunk reads its chunks from (split: the u32 in every
// component, so that chunk h of the group finds it at word[h / 2] or word[h]).
fn unit_word(row: u32, u: u32) -> vec4u {
  if (SPLIT_GROUPS) { return vec4u(weight_u32(row * UNITS + u)); }
  return weight[row * UNITS + u];
}

// A unit of a row as a thread holds it before adding it (linear.wgsl, linear_blocked.wgsl): its
// word (unit_word's) and its group's (scale, min), second pair and high bits (group_scale,
// group_scale2, group_high).
struct Unit { word: vec4u, scale: vec2f, scale2: vec2f, high: vec2u }

fn load_unit(row: u32, u: u32) -> Unit {
  let c = unit_group(u);
  return Unit(unit_word(row, u), group_scale(row, c), group_scale2(row, c), group_high(row, c));
}

// Chunk h of the unit's group (values 4h .. 4h + 3), dequantized.
fn unit_chunk(unit: Unit, h: u32) -> vec4f {
  return group_chunk(unit.word, h, unit.scale, unit.scale2, unit.high);
}

// The group (word) unit `u` belongs to, and the first of its chunks there.
fn unit_group(u: u32) -> u32 { return u / UNITS_A_WORD; }
fn unit_first_chunk(u: u32) -> u32 { return (u % UNITS_A_WORD) * UNIT_CHUNKS; }

// The u32 at `i` of the weight buffer.
fn weight_u32(i: u32) -> u32 {
  return weight[i / 4u][i % 4u];
}

// The u32s after the packed values where group `word` of row `row` keeps what FORMAT 9, 10 and
// 14 add to it (two, four and three of them).
fn group_extras(row: u32, word: u32) -> u32 {
  let per = select(select(2u, 3u, FORMAT == 14u), 4u, FORMAT == 10u);
  return ROWS * (K / GROUP_VALUES) * 4u + per * (row * (K / GROUP_VALUES) + word);
}

// The (scale, min) of group `word` of row `row` (FORMAT 10, 13 and 14: of its values 0-15); min
// is 0 but for FORMAT 6, 8, 9, 10 and 14.
fn group_scale(row: u32, word: u32) -> vec2f {
  if (FORMAT == 10u) { return unpack2x16float(weight_u32(group_extras(row, word) + 2u)); }
  if (FORMAT == 14u) { return q6_k_scale(weight_u32(group_extras(row, word) + 2u), 0u); }
  let group = row * (K / GROUP_VALUES) + word;
  let base = ROWS * (K / GROUP_VALUES) * 4u;  // u32s of packed values before the scales
  if (FORMAT == 13u) { return vec2f(bitcast<f32>(weight_u32(base + 2u * group)), 0.0); }
  if (FORMAT == 8u) {
    let i = base + 2u * group;
    return vec2f(bitcast<f32>(weight[i / 4u][i % 4u]), bitcast<f32>(weight[(i + 1u) / 4u][(i + 1u) % 4u]));
  }
  if (FORMAT == 9u) { return unpack2x16float(weight_u32(group_extras(row, word) + 1u)); }
  if (FORMAT == 12u) {
    let block = group / 2u;  // a scale covers two words
    return vec2f(unpack2x16float(weight_u32(base + block / 2u))[block % 2u], 0.0);
  }
  if (FORMAT == 4u || FORMAT == 6u || FORMAT == 7u || FORMAT == 11u) {
    let i = base + group;
    let bits = weight[i / 4u][i % 4u];
    return select(vec2f(bitcast<f32>(bits), 0.0), unpack2x16float(bits), FORMAT == 6u);
  }
  let i = base + group / 2u;
  return vec2f(unpack2x16float(weight[i / 4u][i % 4u])[group % 2u], 0.0);
}

// FORMAT 14's (scale, min) of half `half` of a group from its u32 `bits`: d sc (exact: an f16
// times an int8) and 32 times that.
fn q6_k_scale(bits: u32, half: u32) -> vec2f {
  let sc = bitcast<i32>(bits << (8u - 8u * half)) >> 24u;  // >> of a signed integer keeps the sign
  let scale = unpack2x16float(bits).x * f32(sc);
  return vec2f(scale, 32.0 * scale);
}

// FORMAT 10, 13 and 14: the (scale, min) of values 16-31 of group `word` of row `row`; unused
// for the others.
fn group_scale2(row: u32, word: u32) -> vec2f {
  if (FORMAT == 14u) { return q6_k_scale(weight_u32(group_extras(row, word) + 2u), 1u); }
  if (FORMAT == 13u) {
    let group = row * (K / GROUP_VALUES) + word;
    return vec2f(bitcast<f32>(weight_u32(ROWS * (K / GROUP_VALUES) * 4u + 2u * group + 1u)), 0.0);
  }
  if (FORMAT != 10u) { return vec2f(0.0); }
  return unpack2x16float(weight_u32(group_extras(row, word) + 3u));
}

// The bits above the nibbles of group `word` of row `row`: FORMAT 9's fifth bits (x), FORMAT
// 10's and 14's high 2 bits of values 0-15 (x) and 16-31 (y); 0 for the others.
fn group_high(row: u32, word: u32) -> vec2u {
  if (FORMAT == 9u) { return vec2u(weight_u32(group_extras(row, word)), 0u); }
  if (FORMAT == 10u || FORMAT == 14u) {
    let i = group_extras(row, word);
    return vec2u(weight_u32(i), weight_u32(i + 1u));
  }
  return vec2u(0u);
}

// Chunk h (values 4h .. 4h + 3) of a word, dequantized with its group's (scale, min) (FORMAT 10,
// 13 and 14: `scale2` for values 16-31) and the bits above its nibbles.
fn group_chunk(word: vec4u, h: u32, scale: vec2f, scale2: vec2f, high: vec2u) -> vec4f {
  if (FORMAT == 7u || FORMAT == 12u) {
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
    let fifth = (vec4u(high.x) >> (vec4u(0u, 1u, 2u, 3u) + 4u * h)) & vec4u(1u);
    return small_floats(low | (fifth << vec4u(4u)), 0.0) * scale.x - scale.y;
  }
  if (FORMAT == 10u || FORMAT == 14u) {
    let upper = h >= 4u;  // values 16-31
    let bits = (vec4u(select(high.x, high.y, upper)) >> (vec4u(0u, 2u, 4u, 6u) + 8u * (h % 4u))) & vec4u(3u);
    let pair = select(scale, scale2, upper);
    return small_floats(low | (bits << vec4u(4u)), 0.0) * pair.x - pair.y;
  }
  if (FORMAT == 11u) { return iq4_levels(low) * scale.x; }
  if (FORMAT == 13u) { return iq4_levels(low) * select(scale.x, scale2.x, h >= 4u); }
  if (FORMAT == 6u) { return small_floats(low, 0.0) * scale.x - scale.y; }
  return small_floats(low, select(7.0, 8.0, FORMAT == 5u)) * scale.x;
}

// f32(q) - zero for integers q below 2^23, without an integer-to-float conversion (a quarter of
// the arithmetic rate on NVIDIA's GPUs, where a dequantizing kernel converts every value): the
// float with q as its mantissa and 2^23's exponent is 2^23 + q, and taking 2^23 + zero from it
// leaves q - zero, exact, so the bits are those of f32(q) - zero.
fn small_floats(q: vec4u, zero: f32) -> vec4f {
  return bitcast<vec4f>(q | vec4u(0x4b000000u)) - vec4f(8388608.0 + zero);
}
