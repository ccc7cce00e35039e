// The 16 levels of a level group's 4-bit indices (src/loader/iq4.ts) as int8s, four to a u32,
// level q at byte q % 4 of word q / 4: by default IQ4's (ggml's kvalues_iq4nl), -127 -104 -83
// -65 | -49 -35 -22 -10 | 1 13 25 38 | 53 69 89 113; a lattice type's layout sets its own
// (linear-shape.ts: `formatConstants`). Picked with selects and shifts rather than an indexed
// array, which a compiler may place in slow per-thread memory.
override LEVELS_0: u32 = 0xbfad9881u;
override LEVELS_1: u32 = 0xf6eaddcfu;
override LEVELS_2: u32 = 0x26190d01u;
override LEVELS_3: u32 = 0x71594535u;

// The levels of four 4-bit indices.
fn iq4_levels(q: vec4u) -> vec4f {
  let second = (q & vec4u(4u)) != vec4u(0u);  // word 1 of 0-1, or 3 of 2-3
  let low = select(vec4u(LEVELS_0), vec4u(LEVELS_1), second);
  let high = select(vec4u(LEVELS_2), vec4u(LEVELS_3), second);
  let word = select(low, high, q >= vec4u(8u));
  // The level's byte to the top, then an arithmetic shift back down keeps its sign.
  return vec4f(bitcast<vec4i>(word << (vec4u(24u) - 8u * (q & vec4u(3u)))) >> vec4u(24u));
}
