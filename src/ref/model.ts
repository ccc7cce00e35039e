/**
 * The reference Llama forward pass: plain TypeScript over Float32Arrays, written to be read,
 * and the definition of correct for the GPU model. Half-precision weights are widened to
 * float32 at load; sums are formed in float64.
 *
 * Per token, per layer (d = hiddenSize):
 *   h = x + o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   n = rmsnorm(x)
 *   x = h + down_proj(silu(gate_proj(m)) * up_proj(m))                       m = rmsnorm(h)
 * then logits = lm_head(rmsnorm(x)), with lm_head = embed_tokens when the embeddings are tied.
 */

import { widenBF16, widenF16 } from '../loader/half';
import type { ModelWeights, WeightTensor } from '../loader/weights';
import { type ModelConfig, ropeInverseFrequencies } from '../model/config';
import type { CausalLM, Rows, Sequence } from '../model/types';
import { argmax, type SamplingParams, sampleToken } from '../sampling/sampling';
import { Rng } from '../util/rng';
import { linear } from './linear';
import { applyRope, attention, rmsNorm, ropeTables, siluGate } from './ops';

interface LayerWeights {
  inputNorm: Float32Array; // (d)
  q: Float32Array; // (nh * hd, d)
  k: Float32Array; // (nkv * hd, d)
  v: Float32Array; // (nkv * hd, d)
  qBias?: Float32Array;
  kBias?: Float32Array;
  vBias?: Float32Array;
  o: Float32Array; // (d, nh * hd)
  postNorm: Float32Array; // (d)
  gate: Float32Array; // (f, d)
  up: Float32Array; // (f, d)
  down: Float32Array; // (d, f)
}

export class ReferenceSequence implements Sequence {
  length = 0;
  readonly keys: Float32Array[]; // per layer: (capacity, nkv, hd), after RoPE
  readonly values: Float32Array[]; // per layer: (capacity, nkv, hd)

  constructor(
    config: ModelConfig,
    readonly capacity: number,
  ) {
    const size = capacity * config.numKvHeads * config.headDim;
    this.keys = Array.from({ length: config.numLayers }, () => new Float32Array(size));
    this.values = Array.from({ length: config.numLayers }, () => new Float32Array(size));
  }

  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`truncate(${length}) on a sequence of ${this.length}`);
    this.length = length;
  }
}

export class ReferenceModel implements CausalLM<ReferenceSequence> {
  private readonly embed: Float32Array; // (vocab, d)
  private readonly layers: LayerWeights[];
  private readonly finalNorm: Float32Array; // (d)
  private readonly lmHead: Float32Array; // (vocab, d)
  private readonly invFreq: Float64Array;
  private rope = { cos: new Float32Array(0), sin: new Float32Array(0), positions: 0 };

  constructor(
    readonly config: ModelConfig,
    weights: ModelWeights,
  ) {
    const get = (name: string) => toFloat32(weights.get(name) as WeightTensor);
    const optional = (name: string) => (weights.has(name) ? get(name) : undefined);
    this.embed = get('model.embed_tokens.weight');
    this.layers = Array.from({ length: config.numLayers }, (_, l) => {
      const p = `model.layers.${l}`;
      return {
        inputNorm: get(`${p}.input_layernorm.weight`),
        q: get(`${p}.self_attn.q_proj.weight`),
        k: get(`${p}.self_attn.k_proj.weight`),
        v: get(`${p}.self_attn.v_proj.weight`),
        qBias: optional(`${p}.self_attn.q_proj.bias`),
        kBias: optional(`${p}.self_attn.k_proj.bias`),
        vBias: optional(`${p}.self_attn.v_proj.bias`),
        o: get(`${p}.self_attn.o_proj.weight`),
        postNorm: get(`${p}.post_attention_layernorm.weight`),
        gate: get(`${p}.mlp.gate_proj.weight`),
        up: get(`${p}.mlp.up_proj.weight`),
        down: get(`${p}.mlp.down_proj.weight`),
      };
    });
    this.finalNorm = get('model.norm.weight');
    this.lmHead = config.tieWordEmbeddings ? this.embed : get('lm_head.weight');
    this.invFreq = ropeInverseFrequencies(config);
  }

  createSequence(capacity: number): ReferenceSequence {
    if (capacity > this.config.maxPositions) {
      throw new RangeError(`capacity ${capacity} exceeds max_position_embeddings ${this.config.maxPositions}`);
    }
    if (capacity > this.rope.positions) this.rope = { ...ropeTables(this.invFreq, capacity), positions: capacity };
    return new ReferenceSequence(this.config, capacity);
  }

  async forward(sequence: ReferenceSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return this.forwardSync(sequence, tokens);
  }

  async forwardLast(sequence: ReferenceSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return this.forwardSync(sequence, tokens).slice(-this.config.vocabSize);
  }

  async greedy(sequence: ReferenceSequence, tokens: ArrayLike<number>, rows: Rows = 'all'): Promise<Uint32Array> {
    const vocab = this.config.vocabSize;
    const logits = this.forwardSync(sequence, tokens);
    if (rows === 'last') return Uint32Array.of(argmax(logits, logits.length - vocab, vocab));
    return Uint32Array.from({ length: tokens.length }, (_, i) => argmax(logits, i * vocab, vocab));
  }

  async sample(sequence: ReferenceSequence, tokens: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    const position = sequence.length + tokens.length - 1;
    const logits = this.forwardSync(sequence, tokens).subarray(-this.config.vocabSize);
    return sampleToken(logits, sampling, new Rng((seed ^ Math.imul(position + 1, 0x9e3779b1)) >>> 0));
  }

  copyPrefix(from: ReferenceSequence, to: ReferenceSequence, length: number): void {
    if (length > from.length || length > to.capacity) throw new RangeError(`copyPrefix(${length}) out of range`);
    const rows = length * this.config.numKvHeads * this.config.headDim;
    for (let l = 0; l < this.config.numLayers; l++) {
      to.keys[l].set(from.keys[l].subarray(0, rows));
      to.values[l].set(from.values[l].subarray(0, rows));
    }
    to.length = length;
  }

  /** The same as `forward`, without a promise (the reference does no asynchronous work). */
  forwardSync(sequence: ReferenceSequence, tokens: ArrayLike<number>): Float32Array {
    const { vocabSize } = this.config;
    if (sequence.length + tokens.length > sequence.capacity) {
      throw new RangeError(`sequence capacity ${sequence.capacity} exceeded`);
    }
    const logits = new Float32Array(tokens.length * vocabSize);
    for (let i = 0; i < tokens.length; i++) {
      logits.set(this.step(sequence, tokens[i]), i * vocabSize);
    }
    return logits;
  }

  /** One token at position sequence.length: appends its KV, returns its logits. */
  private step(sequence: ReferenceSequence, token: number): Float32Array {
    const { hiddenSize: d, numHeads: nh, numKvHeads: nkv, headDim: hd, rmsNormEps: eps } = this.config;
    if (!(token >= 0 && token < this.config.vocabSize)) throw new RangeError(`token id ${token} out of range`);
    const position = sequence.length;
    const x = this.embed.slice(token * d, (token + 1) * d);
    for (let l = 0; l < this.layers.length; l++) {
      const w = this.layers[l];
      const n = rmsNorm(x, w.inputNorm, eps);
      const q = linear(n, w.q, nh * hd, w.qBias);
      const k = linear(n, w.k, nkv * hd, w.kBias);
      const v = linear(n, w.v, nkv * hd, w.vBias);
      applyRope(q, nh, position, this.rope.cos, this.rope.sin);
      applyRope(k, nkv, position, this.rope.cos, this.rope.sin);
      sequence.keys[l].set(k, position * nkv * hd);
      sequence.values[l].set(v, position * nkv * hd);
      const attended = attention(q, sequence.keys[l], sequence.values[l], position + 1, nh, nkv);
      linear(attended, w.o, d, undefined, x); // x += o_proj(attended)
      const m = rmsNorm(x, w.postNorm, eps);
      const gated = siluGate(
        linear(m, w.gate, this.config.intermediateSize),
        linear(m, w.up, this.config.intermediateSize),
      );
      linear(gated, w.down, d, undefined, x); // x += down_proj(gated)
    }
    sequence.length = position + 1;
    return linear(rmsNorm(x, this.finalNorm, eps), this.lmHead, this.config.vocabSize);
  }
}

export function toFloat32(tensor: WeightTensor): Float32Array {
  if (tensor.dtype === 'F32') return tensor.data as Float32Array;
  return tensor.dtype === 'F16' ? widenF16(tensor.data as Uint16Array) : widenBF16(tensor.data as Uint16Array);
}
