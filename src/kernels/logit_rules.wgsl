// The request's logit rules (src/sampling/logit-rules.ts has the definition) on each row the
// LM head wrote, before the argmax or the draw reads it. Row r holds the next-token logits of
// the token at position p = head.start + r; its counts are those of the generated tokens up to
// and including p: `counts` holds the ones before this step (positions COUNT_FROM .. step.start
// - 1, kept up to date by the sequence), and the step's own tokens from COUNT_FROM on, up to p,
// are added here, so in a verify pass each row counts the drafts before it and no other. In a
// tree pass (step.chain > 0) a leaf's context is the chain up to its parent and then itself: it
// counts those, not the chain after its depth nor the other leaves (step.ts has the layout).
//   l = logits[r, v] + bias[v]
//   if count > 0:  l = (l > 0 ? l * inverse_repetition : l * repetition) - (frequency * count + presence)
// One thread a logit; every operation a float32 one, as in the reference.

override V: u32;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }
struct Rules { repetition: f32, inverse_repetition: f32, frequency: f32, presence: f32, count_from: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> head: Step;                    // the rows: head.tokens of them
@group(0) @binding(1) var<uniform> step: Step;                    // the step's tokens and first position
@group(0) @binding(2) var<uniform> rules: Rules;
@group(0) @binding(3) var<storage, read> counts: array<u32>;      // (V) generated tokens before the step
@group(0) @binding(4) var<storage, read> bias: array<f32>;        // (V)
@group(0) @binding(5) var<storage, read> tokens: array<u32>;      // (step.tokens)
@group(0) @binding(6) var<storage, read_write> logits: array<f32>; // (head.tokens, V)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let r = id.y;
  let v = id.x;
  if (r >= head.tokens || v >= V) { return; }
  let p = head.start + r;
  let n = p - step.start;  // the row's token in the step
  let leaf = step.chain > 0u && n >= step.chain;
  // A leaf sits at depth (n - chain) mod depths + 1: at that position after the step's first token.
  let at = select(p, step.start + (n - step.chain) % max(step.depths, 1u) + 1u, leaf);
  // Along the chain: the step's tokens up to this row's, or up to a leaf's parent.
  let last = select(p, at - 1u, leaf);
  var count = counts[v];
  for (var position = max(rules.count_from, step.start); position <= last; position++) {
    if (tokens[position - step.start] == v) { count += 1u; }
  }
  if (leaf && at >= rules.count_from && tokens[n] == v) { count += 1u; }
  var l = logits[r * V + v] + bias[v];
  if (count > 0u) {
    l = select(l * rules.repetition, l * rules.inverse_repetition, l > 0.0);
    l = l - (rules.frequency * f32(count) + rules.presence);
  }
  logits[r * V + v] = l;
}
