// A Gated DeltaNet layer's recurrence and its gated output norm (Qwen3.5; ref/gated-delta.ts),
// for a step's tokens in order. Per token, for value head h (key head kh = h / (NV / NK), or with
// TILED, llama.cpp's order of value heads, h mod NK):
//   q, k   = l2norm(q_kh) / sqrt(DK), l2norm(k_kh)                  (from the convolution's output)
//   decay  = exp(-exp(A_log[h]) softplus(a_h + dt_bias[h])),  beta = sigmoid(b_h)
//   S      = decay S;  S += k (beta (v_h - S^T k))^T;  o = S^T q       S: (DK, DV)
//   out_h  = rmsnorm(o) w silu(z_h)
// One workgroup per value head, one thread per column of S: the thread keeps its column in
// registers and forms every sum over the column in one fixed order, and the norms' sums by a fixed
// tree, so a token's result never depends on how many tokens share the step.
// The sequence keeps S after each of its last W positions, position p in slot p mod W (a ring):
// a step starts from the slot of the position before it (zeros at position 0) and writes the
// slots of its last W tokens, so the sequence can be cut back by up to W - 1 positions and go on.

override NK: u32;                // key heads
override NV: u32;                // value heads, a multiple of NK
override DK: u32;                // a key head's values, at most MAX_DK
override DV: u32;                // a value head's values: the workgroup, a power of two
override W: u32;                 // positions whose state the ring keeps
override P: u32;                 // values in a row of the projection: q|k|v, z, b, a
override EPS: f32;
override TILED: bool = false;

const MAX_DK = 128u;

struct Step { tokens: u32, start: u32, chain: u32, depths: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> mixed: array<f32>;          // (tokens, 2 NK DK + NV DV): the convolution's q|k|v
@group(0) @binding(2) var<storage, read> proj: array<f32>;           // (tokens, P): z at 2 NK DK + NV DV, then b, then a
@group(0) @binding(3) var<storage, read> params: array<f32>;         // -exp(A_log) (NV), dt_bias (NV), the norm's w (DV)
@group(0) @binding(4) var<storage, read_write> states: array<f32>;   // (W, NV, DK, DV)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;      // (tokens, NV DV)

var<workgroup> qk: array<f32, 2 * DK>;
var<workgroup> partial: array<vec2f, DV>;

// Both sums of every thread's `value`, by a fixed tree; every thread gets them.
fn workgroup_sum(t: u32, value: vec2f) -> vec2f {
  partial[t] = value;
  workgroupBarrier();
  for (var s = DV / 2u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let sum = partial[0];
  workgroupBarrier(); // read by all before partial is written again
  return sum;
}

fn softplus(v: f32) -> f32 { return select(log(1.0 + exp(v)), v, v > 20.0); }

@compute @workgroup_size(DV)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) c: u32) {
  let h = wg.x;
  let kh = select(h / (NV / NK), h % NK, TILED);
  let channels = 2u * NK * DK + NV * DV;
  var s: array<f32, MAX_DK>;
  if (step.start > 0u) {
    let slot = ((step.start - 1u) % W) * NV + h;
    for (var r = 0u; r < DK; r++) { s[r] = states[(slot * DK + r) * DV + c]; }
  }
  for (var n = 0u; n < step.tokens; n++) {
    let row = n * channels;
    for (var i = c; i < DK; i += DV) {
      qk[i] = mixed[row + kh * DK + i];
      qk[DK + i] = mixed[row + NK * DK + kh * DK + i];
    }
    workgroupBarrier();
    var squares = vec2f(0.0);
    for (var i = c; i < DK; i += DV) { squares += vec2f(qk[i] * qk[i], qk[DK + i] * qk[DK + i]); }
    let inverse = inverseSqrt(workgroup_sum(c, squares) + 1e-6);
    let query_scale = inverseSqrt(f32(DK));

    let a = proj[n * P + channels + NV * DV + NV + h];
    let b = proj[n * P + channels + NV * DV + h];
    let decay = exp(params[h] * softplus(a + params[NV + h]));
    let beta = 1.0 / (1.0 + exp(-b));

    // What S recalls for k, then the delta rule's correction towards v, then the answer to q.
    var recalled = 0.0;
    for (var r = 0u; r < DK; r++) {
      s[r] *= decay;
      recalled += s[r] * (qk[DK + r] * inverse.y);
    }
    let delta = (mixed[row + 2u * NK * DK + h * DV + c] - recalled) * beta;
    var answer = 0.0;
    for (var r = 0u; r < DK; r++) {
      s[r] += (qk[DK + r] * inverse.y) * delta;
      answer += s[r] * (qk[r] * inverse.x * query_scale);
    }

    let z = proj[n * P + channels + h * DV + c];
    let scale = inverseSqrt(workgroup_sum(c, vec2f(answer * answer, 0.0)).x / f32(DV) + EPS);
    out[(n * NV + h) * DV + c] = answer * scale * params[2u * NV + c] * (z / (1.0 + exp(-z)));

    if (n + W >= step.tokens) {
      let slot = ((step.start + n) % W) * NV + h;
      for (var r = 0u; r < DK; r++) { states[(slot * DK + r) * DV + c] = s[r]; }
    }
  }
}
