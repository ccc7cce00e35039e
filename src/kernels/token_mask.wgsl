// A grammar's token masks on the rows the LM head wrote, after the logit rules, before the
// argmax or the draw reads them (src/sampling/token-mask.ts has the reference): row r keeps the
// logits of the tokens whose bits are set in its mask, words r * W .. r * W + W - 1 (bit t % 32
// of word t / 32), and every other logit becomes the lowest float. Not -Infinity: WGSL lets a
// compiler assume infinities never occur, and every allowed logit is above the lowest float, so
// the argmax and the draw choose as they would with -Infinity. One thread a logit.

override V: u32;
override W: u32 = (V + 31u) / 32u;  // mask words a row
const MASKED = -3.4028234663852886e38;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> head: Step;                     // the rows: head.tokens of them
@group(0) @binding(1) var<storage, read> masks: array<u32>;        // (head.tokens, W)
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // (head.tokens, V)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let r = id.y;
  let v = id.x;
  if (r >= head.tokens || v >= V) { return; }
  if (((masks[r * W + v / 32u] >> (v % 32u)) & 1u) == 0u) { logits[r * V + v] = MASKED; }
}
