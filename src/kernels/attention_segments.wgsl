// Where split attention's segments lie (attention.wgsl, attention_tiled.wgsl and
// attention_combine.wgsl append this): the first FINE positions fall in segments of WG, one
// tile each, the rest in segments of SPLIT. A short context then spreads over a workgroup per
// tile, where a workgroup walking SPLIT positions one tile after another would wait on each
// (H200: Llama-3.2-1B's decode step after 1,024 positions took 3.55 ms in segments of 512 and
// 2.16 in segments of 64); a long one keeps few segments for attention_combine.wgsl to merge and
// `partials` to hold. The bounds are fixed positions, so a token's result depends on its
// position only. FINE is a multiple of WG; 0: every segment is SPLIT wide.

override FINE: u32 = 0u;

// The first position of segment `segment` (of a context long enough to have it).
fn segment_start(segment: u32) -> u32 {
  let fine = FINE / WG;
  if (segment <= fine) { return segment * WG; }
  return FINE + (segment - fine) * SPLIT;
}

// The segments of a context of `length` positions.
fn segment_count(length: u32) -> u32 {
  if (length <= FINE) { return (length + WG - 1u) / WG; }
  return FINE / WG + (length - FINE + SPLIT - 1u) / SPLIT;
}
