/**
 * The reference forward pass: plain TypeScript over Float32Arrays, written to be read, and the
 * definition of correct for the GPU model. Half-precision weights are widened to float32 at
 * load; sums are formed in float64.
 *
 * Per token, per layer (d = hiddenSize; n = rmsnorm, with Gemma's norms scaling by 1 + w, or
 * StableLM's LayerNorm with its bias):
 *   q, k, v = q_proj(n(x)), k_proj(n(x)), v_proj(n(x))          (+ biases where the config has them)
 *   q, k    = rope(qnorm(q)), rope(knorm(k))                      (per-head norms: Qwen3, Gemma 3)
 *   a       = o_proj(attention(q, cache + k, cache + v))         (scale, soft cap, window per layer)
 *   x       = x + a                       or, Gemma:  x = x + n(a)
 *   m       = down_proj(act(gate_proj(n(x))) * up_proj(n(x)))    (act: SiLU, or GELU-tanh for Gemma)
 *             or without a gate (Phi-1/2) down_proj(act(up_proj(n(x))))
 *   x       = x + m                       or, Gemma:  x = x + n(m)
 * The embedding is scaled (Gemma: sqrt(d)); logits = lm_head(n(x)), lm_head = embed_tokens
 * when tied, soft-capped for Gemma 2. Phi-1/2's attention and MLP both read the layer's one norm
 * of x (before attention's add), and its LM head has a bias. An EAGLE head (config.hiddenInput)
 * starts x from the hidden state given with its token (loader/eagle.ts has both layouts; an MTP
 * head, loader/mtp.ts, from fc over the norms of both, and feeds itself its normed output).
 * Qwen3.5's Gated DeltaNet layers take attention's place in three layers of four (gated-delta.ts):
 * a sequence keeps their convolution's input rows and their state after every position, so that
 * truncating it stays a matter of its length; its attention multiplies each head's output by
 * sigmoid(gate), the gate rows following each head's query rows in q_proj.
 */

import { UnsupportedArchitectureError } from '../errors';
import { linearChannels } from '../kernels/gated-delta';
import type { KvFormat } from '../kernels/kv-cache';
import type { Activation, LinearAttention, ModelConfig } from '../loader/config';
import { f16ToF32, f32ToF16, widenF16 } from '../loader/half';
import { layerTensorNames, linearTensorNames } from '../loader/tensor-names';
import { toFloat32 } from '../loader/tensors';
import type { ModelWeights, WeightTensor } from '../loader/weights';
import { type CausalLM, prefixBytes, type Rows, type Sequence } from '../model/types';
import { applyLogitRules, hasRules, type LogitRules, tokenCounts } from '../sampling/logit-rules';
import { argmax, type SamplingParams, sampleToken } from '../sampling/sampling';
import { maskRows, maskWords } from '../sampling/token-mask';
import { Rng } from '../util/rng';
import { causalConvRow, deltaRuleStep, gatedRmsNorm, l2normHeads, sigmoid, softplus } from './gated-delta';
import { linear } from './linear';
import { activate, applyRope, attention, geluGate, layerNorm, rmsNorm, siluGate, softcap } from './ops';
import { ropeTables } from './rope';

interface Projection {
  weight: Float32Array; // (rows, in)
  bias?: Float32Array; // (rows)
}

/** A norm's bias, where it is a LayerNorm (StableLM 2): its weight stays where an RMSNorm's would be. */
type NormBias = Float32Array | undefined;

interface AttentionWeights {
  q: Projection; // (nh * hd, d)
  /** Qwen3.5's output gate, (nh * hd, d): each head's rows after its query's in q_proj. */
  gate?: Projection;
  k: Projection; // (nkv * hd, d)
  v: Projection; // (nkv * hd, d)
  qNorm?: Float32Array; // (hd), or (nh hd) over the whole projection (OLMo 2)
  kNorm?: Float32Array; // (hd), or (nkv hd)
  o: Projection; // (d, nh * hd)
}

/** A Gated DeltaNet layer's weights (Qwen3.5), as loader/config.ts's linearTensorNames lists them. */
interface LinearWeights {
  qkv: Float32Array; // (channels, d), channels = 2 keyHeads keyDim + valueHeads valueDim
  z: Float32Array; // (valueHeads valueDim, d)
  b: Float32Array; // (valueHeads, d)
  a: Float32Array; // (valueHeads, d)
  conv: Float32Array; // (channels, kernel)
  dtBias: Float32Array; // (valueHeads)
  /** -exp(A_log), (valueHeads), formed in float32 as PyTorch forms it. */
  negA: Float32Array;
  norm: Float32Array; // (valueDim)
  out: Float32Array; // (d, valueHeads valueDim)
}

interface LayerWeights {
  inputNorm?: Float32Array; // (d); none in an EAGLE-1 head or OLMo 2
  inputNormBias?: NormBias;
  hiddenNorm?: Float32Array; // (d): an EAGLE head's norm of its hidden input
  /** The layer's mixer: attention, or (Qwen3.5) a Gated DeltaNet. */
  mixer: { attention: AttentionWeights } | { linear: LinearWeights };
  attentionOutNorm?: Float32Array; // (d), Gemma 2 and 3, OLMo 2
  mlpNorm?: Float32Array; // (d); none in OLMo 2
  mlpNormBias?: NormBias;
  gate?: Projection; // (f, d); none in an MLP without a gate (Phi-1/2)
  up: Projection; // (f, d)
  down: Projection; // (d, f)
  mlpOutNorm?: Float32Array; // (d), Gemma 2 and 3, OLMo 2
}

export class ReferenceSequence implements Sequence {
  length = 0;
  readonly keys: Float32Array[]; // per layer: (capacity, nkv, hd), after RoPE; empty for a Gated DeltaNet layer
  readonly values: Float32Array[]; // per layer: (capacity, nkv, hd)
  /** Per Gated DeltaNet layer (else empty): its convolution's input row at each position, (capacity, channels). */
  readonly convRows: Float32Array[];
  /** Per Gated DeltaNet layer (else empty): its state after each position, (capacity, valueHeads, keyDim, valueDim). */
  readonly states: Float32Array[];
  /** The token at each position. */
  readonly tokens: Int32Array;
  rules: LogitRules | undefined;
  countFrom = 0;
  /** A target's features at each position, projected by its EAGLE head's fc: (capacity, d). */
  readonly features?: Float32Array;
  /** An EAGLE head's hidden state after its last token (before the final norm): the next draft step's input. */
  readonly hidden?: Float32Array;

  constructor(
    config: ModelConfig,
    readonly capacity: number,
    exportsFeatures = false,
  ) {
    const size = capacity * config.numKvHeads * config.headDim;
    const perLayer = (attention: number, linear: (shape: LinearAttention) => number) =>
      config.layers.map(
        ({ linear: isLinear }) =>
          new Float32Array(isLinear && config.linearAttention ? linear(config.linearAttention) : attention),
      );
    this.keys = perLayer(size, () => 0);
    this.values = perLayer(size, () => 0);
    this.convRows = perLayer(0, (shape) => capacity * linearChannels(shape));
    this.states = perLayer(0, (shape) => capacity * shape.valueHeads * shape.keyDim * shape.valueDim);
    this.tokens = new Int32Array(capacity);
    if (exportsFeatures) this.features = new Float32Array(capacity * config.hiddenSize);
    if (config.hiddenInput) this.hidden = new Float32Array(config.hiddenSize);
  }

  setLogitRules(rules: LogitRules | undefined, countFrom: number): void {
    this.rules = hasRules(rules) ? rules : undefined;
    this.countFrom = countFrom;
  }

  /** Masks for the rows of the next pass (`maskNextPass`), taken by that pass. */
  masks: Uint32Array<ArrayBuffer> | undefined;

  maskNextPass(masks: Uint32Array<ArrayBuffer>): void {
    this.masks = masks;
  }

  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`truncate(${length}) on a sequence of ${this.length}`);
    this.length = length;
  }
}

/**
 * What a target exports for its EAGLE head, d values for every position it computes: the inputs
 * of three layers, concatenated (3d) and projected by the head's fc (EAGLE-3); or its last
 * hidden state after its final norm, what its LM head reads (EAGLE-1).
 */
export type FeatureExport = { layers: number[]; fc: WeightTensor } | { normedOutput: true };

/** The hidden inputs of an EAGLE head's tokens: rows of a target sequence's features from a position, or the head's own last state. */
export type HiddenInput<S> = { of: S; from: number } | 'own';

export class ReferenceModel implements CausalLM<ReferenceSequence> {
  private readonly embed: Float32Array; // (vocab, d)
  private readonly features?: { layers: number[]; fc: Float32Array } | { normedOutput: true };
  /** An EAGLE-1 head's first projection: x = fc([embedding; hidden]) + b; an MTP head's, over their norms. */
  private readonly inputFc?: Projection; // (d, 2d)
  /** An MTP head's norms of the embedding and of the hidden input, before its fc. */
  private readonly inputFcNorms?: [Float32Array, Float32Array];
  private readonly layers: LayerWeights[];
  private readonly finalNorm?: Float32Array; // (d); none in an EAGLE-1 head
  private readonly finalNormBias?: NormBias;
  private readonly lmHead: Float32Array; // (vocab, d)
  private readonly lmHeadBias?: Float32Array; // (vocab): Phi-1/2
  /** Each of the config's RoPEs: cos and sin, (positions, hd/2) each, grown as sequences need. */
  private ropes: { cos: Float32Array; sin: Float32Array; queryTable: number }[] = [];
  private ropePositions = 0;

  /** How its KV caches keep keys and values: f16 rounds each one as the GPU's f16 cache does. */
  readonly kvFormat: KvFormat;

  constructor(
    readonly config: ModelConfig,
    weights: ModelWeights,
    options: { kvCache?: KvFormat; features?: FeatureExport } = {},
  ) {
    this.kvFormat = options.kvCache ?? 'f32';
    const { features } = options;
    if (features) this.features = 'fc' in features ? { layers: features.layers, fc: toFloat32(features.fc) } : features;
    const get = (name: string) => toFloat32(weights.get(name) as WeightTensor);
    const optional = (name: string) => (weights.has(name) ? get(name) : undefined);
    // Gemma's norms multiply by 1 + w, formed once here in float32 (as PyTorch forms it).
    const norm = (name: string) => get(name).map((w) => w + config.normOffset);
    const bias = (name: string | undefined) =>
      config.norm === 'layer' && name ? get(name.replace(/weight$/, 'bias')) : undefined;
    const projection = (name: string): Projection => ({
      weight: get(`${name}.weight`),
      bias: optional(`${name}.bias`),
    });
    const { numHeads: nh, numKvHeads: nkv, headDim: hd, hiddenSize: d, intermediateSize: f } = config;
    this.embed = get('model.embed_tokens.weight');
    const eagle1 = config.hiddenInput === 'eagle1';
    if (eagle1 || config.hiddenInput === 'mtp') this.inputFc = projection('fc');
    if (config.hiddenInput === 'mtp') {
      this.inputFcNorms = [norm('pre_fc_norm_embedding.weight'), norm('pre_fc_norm_hidden.weight')];
    }
    this.layers = Array.from({ length: config.numLayers }, (_, l) => {
      const t = layerTensorNames(config, l);
      const linear = config.layers[l].linear ? linearTensorNames(l) : undefined;
      // Phi-3 (and MLC's folders) keep q|k|v and gate|up as one tensor each: their rows, split.
      const qkv = config.fused.qkv && !linear ? projection(t.qkv) : undefined;
      const gateUp = config.fused.gateUp ? projection(t.gateUp) : undefined;
      const rows = (p: Projection, from: number, count: number, width: number): Projection => ({
        weight: p.weight.subarray(from * width, (from + count) * width),
        bias: p.bias?.subarray(from, from + count),
      });
      // Qwen3.5's q_proj (in MLC's folders, the first rows of q|k|v): each head's query rows, then its gate's.
      const qRows = (config.attentionOutputGate ? 2 : 1) * nh * hd;
      const gatedQ =
        config.attentionOutputGate && !linear ? (qkv ? rows(qkv, 0, qRows, d) : projection(t.q)) : undefined;
      const everyOtherHead = (p: Projection, second: boolean): Projection => ({
        weight: new Float32Array(nh * hd * d).map((_, i) => {
          const [h, rest] = [Math.floor(i / (hd * d)), i % (hd * d)];
          return p.weight[(2 * h + (second ? 1 : 0)) * hd * d + rest];
        }),
      });
      const mixer = linear
        ? {
            linear: {
              qkv: get(linear.qkv),
              z: get(linear.z),
              b: get(linear.b),
              a: get(linear.a),
              conv: get(linear.conv),
              dtBias: get(linear.dtBias),
              negA: get(linear.aLog).map((a) => -Math.exp(a)),
              norm: get(linear.norm),
              out: get(linear.out),
            },
          }
        : {
            attention: {
              q: gatedQ ? everyOtherHead(gatedQ, false) : qkv ? rows(qkv, 0, qRows, d) : projection(t.q),
              gate: gatedQ ? everyOtherHead(gatedQ, true) : undefined,
              k: qkv ? rows(qkv, qRows, nkv * hd, d) : projection(t.k),
              v: qkv ? rows(qkv, qRows + nkv * hd, nkv * hd, d) : projection(t.v),
              qNorm: config.qkNorm ? norm(t.qNorm) : undefined,
              kNorm: config.qkNorm ? norm(t.kNorm) : undefined,
              o: projection(t.o),
            },
          };
      return {
        inputNorm: eagle1 || !t.inputNorm ? undefined : norm(t.inputNorm),
        inputNormBias: eagle1 ? undefined : bias(t.inputNorm),
        hiddenNorm: config.hiddenInput === 'eagle3' ? norm(`model.layers.${l}.hidden_norm.weight`) : undefined,
        mixer,
        attentionOutNorm: t.attentionOutNorm ? norm(t.attentionOutNorm) : undefined,
        mlpNorm: t.mlpNorm ? norm(t.mlpNorm) : undefined,
        mlpNormBias: bias(t.mlpNorm),
        gate: gateUp ? rows(gateUp, 0, f, d) : config.gatedMlp ? projection(t.gate) : undefined,
        up: gateUp ? rows(gateUp, f, f, d) : projection(t.up),
        down: projection(t.down),
        mlpOutNorm: t.mlpOutNorm ? norm(t.mlpOutNorm) : undefined,
      };
    });
    this.finalNorm = eagle1 ? undefined : norm('model.norm.weight');
    this.finalNormBias = eagle1 ? undefined : bias('model.norm.weight');
    this.lmHead = config.tieWordEmbeddings ? this.embed : get('lm_head.weight');
    this.lmHeadBias = config.headBias ? get('lm_head.bias') : undefined;
  }

  createSequence(capacity: number): ReferenceSequence {
    if (capacity > this.config.maxPositions) {
      throw new RangeError(`capacity ${capacity} exceeds max_position_embeddings ${this.config.maxPositions}`);
    }
    if (capacity > this.ropePositions) {
      this.ropes = this.config.ropes.map((rope) =>
        ropeTables(rope, this.config.headDim, capacity, this.config.rotaryDim),
      );
      this.ropePositions = capacity;
    }
    return new ReferenceSequence(this.config, capacity, this.features !== undefined);
  }

  /**
   * An EAGLE head's pass: `tokens` with their hidden inputs (`hidden`: the target's features
   * from a position, one row per token; or the head's own last state, for one token). Returns
   * the last row's logits over the draft vocabulary; the head's state after it is kept.
   */
  async forwardHidden(
    sequence: ReferenceSequence,
    tokens: ArrayLike<number>,
    hidden: HiddenInput<ReferenceSequence>,
  ): Promise<Float32Array> {
    const d = this.config.hiddenSize;
    if (!this.config.hiddenInput || !sequence.hidden) throw new Error('forwardHidden runs EAGLE heads only');
    if (hidden === 'own' && tokens.length !== 1) throw new RangeError('the head feeds itself one token at a time');
    let logits: Float32Array = new Float32Array(0);
    for (let i = 0; i < tokens.length; i++) {
      const rows =
        hidden === 'own'
          ? sequence.hidden.slice()
          : hidden.of.features?.slice((hidden.from + i) * d, (hidden.from + i + 1) * d);
      if (!rows || rows.length !== d) throw new RangeError('the target has no features at these positions');
      logits = this.step(sequence, tokens[i], rows);
    }
    return logits;
  }

  async forward(sequence: ReferenceSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return this.outputRows(sequence, tokens, 'all');
  }

  async forwardLast(sequence: ReferenceSequence, tokens: ArrayLike<number>): Promise<Float32Array> {
    return this.outputRows(sequence, tokens, 'last');
  }

  async greedy(sequence: ReferenceSequence, tokens: ArrayLike<number>, rows: Rows = 'all'): Promise<Uint32Array> {
    return (await this.greedyWithLogits(sequence, tokens, rows)).ids;
  }

  async greedyWithLogits(sequence: ReferenceSequence, tokens: ArrayLike<number>, rows: Rows = 'all') {
    const vocab = this.config.vocabSize;
    const logits = this.outputRows(sequence, tokens, rows);
    const ids = Uint32Array.from({ length: logits.length / vocab }, (_, i) => argmax(logits, i * vocab, vocab));
    return { ids, logits };
  }

  async sample(sequence: ReferenceSequence, tokens: ArrayLike<number>, sampling: SamplingParams, seed: number) {
    return (await this.sampleWithLogits(sequence, tokens, sampling, seed)).id;
  }

  async sampleWithLogits(
    sequence: ReferenceSequence,
    tokens: ArrayLike<number>,
    sampling: SamplingParams,
    seed: number,
  ) {
    const position = sequence.length + tokens.length - 1;
    const logits = this.outputRows(sequence, tokens, 'last');
    const id = sampleToken(logits, sampling, new Rng((seed ^ Math.imul(position + 1, 0x9e3779b1)) >>> 0));
    return { id, logits };
  }

  async copyPrefix(from: ReferenceSequence, to: ReferenceSequence, length: number): Promise<void> {
    if (length > from.length || length > to.capacity) throw new RangeError(`copyPrefix(${length}) out of range`);
    const rows = length * this.config.numKvHeads * this.config.headDim;
    for (let l = 0; l < this.config.numLayers; l++) {
      to.keys[l].set(from.keys[l].subarray(0, rows));
      to.values[l].set(from.values[l].subarray(0, rows));
      // A Gated DeltaNet layer's rows and states, position by position.
      for (const [a, b] of [
        [from.convRows[l], to.convRows[l]],
        [from.states[l], to.states[l]],
      ]) {
        b.set(a.subarray(0, (length * a.length) / from.capacity));
      }
    }
    if (from.features && to.features) {
      const d = this.config.hiddenSize;
      to.features.set(from.features.subarray(0, length * d));
    }
    to.tokens.set(from.tokens.subarray(0, length));
    to.length = length;
  }

  /** Values of exported features per position: the EAGLE head's width, or none. */
  get featureWidth(): number {
    return this.features ? this.config.hiddenSize : 0;
  }

  async readPrefix(sequence: ReferenceSequence, length: number): Promise<Uint8Array<ArrayBuffer>> {
    this.refuseRecurrentState('readPrefix');
    if (length > sequence.length) throw new RangeError(`readPrefix(${length}) on a sequence of ${sequence.length}`);
    const rows = length * this.config.numKvHeads * this.config.headDim;
    const out = new Uint8Array(prefixBytes(this, length));
    const half = this.kvFormat === 'f16';
    let at = 0;
    for (let l = 0; l < this.config.numLayers; l++) {
      for (const cache of [sequence.keys[l], sequence.values[l]]) {
        const values = cache.subarray(0, rows);
        const bytes = half ? Uint16Array.from(values, f32ToF16) : values.slice();
        out.set(new Uint8Array(bytes.buffer), at);
        at += bytes.byteLength;
      }
    }
    const features = sequence.features?.slice(0, length * this.featureWidth);
    if (features) out.set(new Uint8Array(features.buffer), at);
    return out;
  }

  async writePrefix(
    sequence: ReferenceSequence,
    tokens: ArrayLike<number>,
    rows: Uint8Array<ArrayBuffer>,
  ): Promise<void> {
    this.refuseRecurrentState('writePrefix');
    const length = tokens.length;
    if (length > sequence.capacity || rows.byteLength !== prefixBytes(this, length)) {
      throw new RangeError(`writePrefix: ${rows.byteLength} bytes for ${length} positions`);
    }
    const count = length * this.config.numKvHeads * this.config.headDim;
    const copy = rows.slice(); // aligned
    const half = this.kvFormat === 'f16';
    const width = half ? 2 : 4;
    for (let l = 0; l < this.config.numLayers; l++) {
      for (const [i, cache] of [sequence.keys[l], sequence.values[l]].entries()) {
        const offset = (2 * l + i) * count * width;
        const values = half
          ? widenF16(new Uint16Array(copy.buffer, offset, count))
          : new Float32Array(copy.buffer, offset, count);
        cache.set(values);
      }
    }
    if (sequence.features) {
      const offset = 2 * this.config.numLayers * count * width;
      sequence.features.set(new Float32Array(copy.buffer, offset, length * this.featureWidth));
    }
    sequence.tokens.set(Array.from(tokens));
    sequence.length = length;
  }

  /** As `forwardHidden`, the last row's argmax (a draft id). */
  async greedyHidden(
    sequence: ReferenceSequence,
    tokens: ArrayLike<number>,
    hidden: HiddenInput<ReferenceSequence>,
  ): Promise<number> {
    return argmax(await this.forwardHidden(sequence, tokens, hidden));
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

  /** The logits of each token's row, or of the last one's, masked by the masks the sequence was given for this pass. */
  private outputRows(sequence: ReferenceSequence, tokens: ArrayLike<number>, rows: Rows): Float32Array {
    const vocab = this.config.vocabSize;
    const masks = sequence.masks;
    sequence.masks = undefined;
    const all = this.forwardSync(sequence, tokens);
    const logits = rows === 'last' ? all.slice(-vocab) : all;
    if (!masks) return logits;
    if (masks.length !== (logits.length / vocab) * maskWords(vocab)) {
      throw new RangeError(`${masks.length} mask words for ${logits.length / vocab} rows of ${vocab} logits`);
    }
    return maskRows(logits, masks, vocab);
  }

  /**
   * A tree verify pass (speculative/tree.ts): the first `chain` tokens run as usual; the leaves
   * after them stand in ranks of `depths` (one rank unless told): leaf j sits at the position
   * of the chain's token j mod depths + 1 and sees the positions before it and itself, its keys
   * and values in the next slot. The argmax of each row.
   */
  async greedyTree(
    sequence: ReferenceSequence,
    tokens: ArrayLike<number>,
    chain: number,
    depths = tokens.length - chain,
  ): Promise<Uint32Array> {
    const vocab = this.config.vocabSize;
    const logits = await this.forwardTree(sequence, tokens, chain, depths);
    return Uint32Array.from({ length: tokens.length }, (_, i) => argmax(logits, i * vocab, vocab));
  }

  /** As `greedyTree`, the logits of every row. */
  async forwardTree(
    sequence: ReferenceSequence,
    tokens: ArrayLike<number>,
    chain: number,
    depths = tokens.length - chain,
  ): Promise<Float32Array> {
    const vocab = this.config.vocabSize;
    const start = sequence.length;
    if (start + tokens.length > sequence.capacity) {
      throw new RangeError(`sequence capacity ${sequence.capacity} exceeded`);
    }
    this.refuseRecurrentState('a tree pass');
    if (sequence.masks) throw new Error('a tree pass takes no token masks');
    const logits = new Float32Array(tokens.length * vocab);
    for (let i = 0; i < tokens.length; i++) {
      const position = i < chain ? start + i : start + ((i - chain) % depths) + 1;
      logits.set(this.step(sequence, tokens[i], undefined, position), i * vocab);
    }
    return logits;
  }

  /** Makes slot `to` hold slot `from`'s keys, values, token and features (a tree's accepted leaf, moved to its position). */
  moveSlot(sequence: ReferenceSequence, from: number, to: number): void {
    const width = this.config.numKvHeads * this.config.headDim;
    for (const cache of [...sequence.keys, ...sequence.values])
      cache.copyWithin(to * width, from * width, (from + 1) * width);
    const d = this.config.hiddenSize;
    sequence.features?.copyWithin(to * d, from * d, (from + 1) * d);
    sequence.tokens[to] = sequence.tokens[from];
  }

  /**
   * What a sequence keeps of a Gated DeltaNet layer is its state after each position: a tree's
   * branches would each need their own, and the prefix store's layout has no place for it yet.
   */
  private refuseRecurrentState(what: string): void {
    if (this.config.linearAttention) {
      throw new UnsupportedArchitectureError(
        `${what} is not available for ${this.config.architecture}: its Gated DeltaNet layers keep a recurrent state`,
      );
    }
  }

  /**
   * One token in the next slot: appends its KV, returns its logits. An EAGLE head's residual
   * stream starts from `hidden`, and its layer reads the embedding beside it. Its position is
   * its slot's, or (a tree's leaf) an earlier one: it then attends to the positions before that
   * and to itself.
   */
  private step(sequence: ReferenceSequence, token: number, hidden?: Float32Array, at = sequence.length): Float32Array {
    const c = this.config;
    const { hiddenSize: d, normEps: eps } = c;
    /** The residual stream's norms: RMSNorm, or LayerNorm where it has a bias. */
    const norm = (v: Float32Array, weight: Float32Array, bias: NormBias) =>
      bias ? layerNorm(v, weight, bias, eps) : rmsNorm(v, weight, eps);
    if (!(token >= 0 && token < this.embed.length / d)) throw new RangeError(`token id ${token} out of range`);
    const position = sequence.length; // the slot
    const embedded = this.embed.slice(token * d, (token + 1) * d);
    if (c.embeddingScale !== 1) for (let i = 0; i < d; i++) embedded[i] *= Math.fround(c.embeddingScale);
    // An EAGLE-3 head's stream starts from its hidden input; an EAGLE-1 head's from fc over both,
    // an MTP head's from fc over their norms.
    const fcNorms = this.inputFcNorms;
    const fcInput = (h: Float32Array) =>
      fcNorms ? concat(rmsNorm(embedded, fcNorms[0], eps), rmsNorm(h, fcNorms[1], eps)) : concat(embedded, h);
    const x = hidden && this.inputFc ? project(fcInput(hidden), this.inputFc) : (hidden ?? embedded);
    const taps = this.features && 'layers' in this.features ? this.features : undefined;
    const features = taps && sequence.features ? new Float32Array(3 * d) : undefined;
    for (let l = 0; l < this.layers.length; l++) {
      const w = this.layers[l];
      // A target with an EAGLE head keeps the inputs of its chosen layers.
      taps?.layers.forEach((layer, i) => {
        if (layer === l) features?.set(x, i * d);
      });
      const n =
        w.hiddenNorm && w.inputNorm
          ? concat(rmsNorm(embedded, w.inputNorm, eps), rmsNorm(x, w.hiddenNorm, eps))
          : w.inputNorm
            ? norm(x, w.inputNorm, w.inputNormBias)
            : x.slice();
      // Side by side (Phi-1/2, GPT-NeoX), the MLP reads x before attention's add: attention's norm
      // of it, or its own.
      const parallelIn = c.parallelBranches ? (w.mlpNorm ? norm(x, w.mlpNorm, w.mlpNormBias) : n) : undefined;
      if ('linear' in w.mixer) {
        if (at !== position) throw new Error('a Gated DeltaNet layer runs no tree'); // refused before
        addBranch(x, this.linearMixer(sequence, l, w.mixer.linear, n, position), w.attentionOutNorm, eps);
      } else {
        addBranch(x, this.attend(sequence, l, w.mixer.attention, n, at, position), w.attentionOutNorm, eps);
      }
      const m = parallelIn ?? (w.mlpNorm ? norm(x, w.mlpNorm, w.mlpNormBias) : x);
      const gated = w.gate
        ? gate(c.activation, project(m, w.gate), project(m, w.up))
        : activate(project(m, w.up), c.activation);
      addBranch(x, project(gated, w.down), w.mlpOutNorm, eps);
    }
    return this.finish(sequence, token, x, position, at, features, taps);
  }

  /** Attention's branch for one token at `at` (its slot `position`): its keys and values cached, o_proj of the heads' output. */
  private attend(
    sequence: ReferenceSequence,
    l: number,
    w: AttentionWeights,
    n: Float32Array,
    at: number,
    position: number,
  ): Float32Array {
    const c = this.config;
    const { numHeads: nh, numKvHeads: nkv, headDim: hd, normEps: eps } = c;
    const { cos, sin, queryTable } = this.ropes[c.layers[l].rope];
    const q = project(n, w.q);
    const k = project(n, w.k);
    const v = project(n, w.v);
    if (w.qNorm && w.kNorm) {
      rmsNorm(q, w.qNorm, eps, q); // each head of hd values, or all heads at once (OLMo 2)
      rmsNorm(k, w.kNorm, eps, k);
    }
    // Queries scaled by position (Ministral 3) take their own tables.
    applyRope(q, nh, at, cos.subarray(queryTable), sin.subarray(queryTable), c.rotaryDim);
    applyRope(k, nkv, at, cos, sin, c.rotaryDim);
    sequence.keys[l].set(this.kvFormat === 'f16' ? roundToF16(k) : k, position * nkv * hd);
    sequence.values[l].set(this.kvFormat === 'f16' ? roundToF16(v) : v, position * nkv * hd);
    // A leaf sees positions 0..at - 1 and its own slot: as the cache would hold it at `at`.
    const seen = (cache: Float32Array) =>
      at === position
        ? cache
        : concat(cache.subarray(0, at * nkv * hd), cache.subarray(position * nkv * hd, (position + 1) * nkv * hd));
    const attended = attention(q, seen(sequence.keys[l]), seen(sequence.values[l]), at + 1, nh, nkv, {
      scale: c.attentionScale,
      softcap: c.attentionSoftcap,
      window: c.layers[l].window,
    });
    if (w.gate) {
      const gate = project(n, w.gate);
      for (let i = 0; i < attended.length; i++) attended[i] *= sigmoid(gate[i]);
    }
    return project(attended, w.o);
  }

  /**
   * A Gated DeltaNet layer's branch for the token at `position` (gated-delta.ts): its convolution
   * reads the rows kept for the positions before, its state the one kept after the last.
   */
  private linearMixer(
    sequence: ReferenceSequence,
    l: number,
    w: LinearWeights,
    n: Float32Array,
    position: number,
  ): Float32Array {
    const shape = this.config.linearAttention as LinearAttention;
    const { keyHeads, valueHeads, keyDim, valueDim, convKernel } = shape;
    const channels = linearChannels(shape);
    const rows = sequence.convRows[l];
    rows.set(linear(n, w.qkv, channels), position * channels);
    const window = Array.from({ length: convKernel }, (_, j) => {
      const p = position - convKernel + 1 + j;
      return p < 0 ? undefined : rows.subarray(p * channels, (p + 1) * channels);
    });
    const mixed = causalConvRow(window, w.conv, convKernel);
    const q = l2normHeads(mixed.slice(0, keyHeads * keyDim), keyHeads, 1e-6, Math.fround(1 / Math.sqrt(keyDim)));
    const k = l2normHeads(mixed.slice(keyHeads * keyDim, 2 * keyHeads * keyDim), keyHeads);
    const v = mixed.subarray(2 * keyHeads * keyDim);
    const a = linear(n, w.a, valueHeads);
    const b = linear(n, w.b, valueHeads);
    const decay = a.map((ah, h) => Math.exp(Math.fround(w.negA[h] * softplus(ah + w.dtBias[h]))));
    const beta = b.map(sigmoid);
    const size = valueHeads * keyDim * valueDim;
    const states = sequence.states[l];
    const state = position === 0 ? new Float32Array(size) : states.slice((position - 1) * size, position * size);
    const o = deltaRuleStep(shape, state, q, k, v, decay, beta);
    states.set(state, position * size);
    const gated = gatedRmsNorm(o, linear(n, w.z, valueHeads * valueDim), w.norm, this.config.normEps);
    return linear(gated, w.out, this.config.hiddenSize);
  }

  /** After the layers: the token recorded, features and the head's state kept, the logits (rules applied). */
  private finish(
    sequence: ReferenceSequence,
    token: number,
    x: Float32Array,
    position: number,
    at: number,
    features: Float32Array | undefined,
    taps: { layers: number[]; fc: Float32Array } | undefined,
  ): Float32Array {
    const c = this.config;
    const d = c.hiddenSize;
    const norm = (v: Float32Array, weight: Float32Array, bias: NormBias) =>
      bias ? layerNorm(v, weight, bias, c.normEps) : rmsNorm(v, weight, c.normEps);
    sequence.tokens[position] = token;
    sequence.length = position + 1;
    const normed = this.finalNorm ? norm(x, this.finalNorm, this.finalNormBias) : x;
    if (features && sequence.features && taps) sequence.features.set(linear(features, taps.fc, d), position * d);
    if (this.features && 'normedOutput' in this.features) sequence.features?.set(normed, position * d);
    // A head feeds itself its last state: an MTP head, its output after its final norm.
    sequence.hidden?.set(this.inputFcNorms ? normed : x);
    const logits = linear(normed, this.lmHead, c.vocabSize, this.lmHeadBias);
    if (c.finalSoftcap !== null) softcap(logits, c.finalSoftcap);
    if (!sequence.rules) return logits;
    // The generated tokens of this row's context: from countFrom up to this token; for a tree's
    // leaf (at a position before its slot) the chain up to its parent, then the leaf.
    const { countFrom } = sequence;
    const generated =
      at === position
        ? sequence.tokens.subarray(Math.min(countFrom, position + 1), position + 1)
        : [...sequence.tokens.subarray(Math.min(countFrom, at), at), ...(at >= countFrom ? [token] : [])];
    return applyLogitRules(logits, tokenCounts(generated), sequence.rules);
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** x W^T + b for one token. */
function project(x: Float32Array, p: Projection): Float32Array {
  return linear(x, p.weight, p.weight.length / x.length, p.bias);
}

/** x += branch, or with a norm on the branch (Gemma), x += rmsnorm(branch). */
function addBranch(x: Float32Array, branch: Float32Array, norm: Float32Array | undefined, eps: number): void {
  const add = norm ? rmsNorm(branch, norm, eps) : branch;
  for (let i = 0; i < x.length; i++) x[i] += add[i];
}

function gate(activation: Activation, g: Float32Array, up: Float32Array): Float32Array {
  if (activation === 'gelu') return activate(g, 'gelu').map((a, i) => a * up[i]);
  return activation === 'silu' ? siluGate(g, up) : geluGate(g, up);
}

/** Each value rounded to the nearest f16 (a GPU may take the other neighbour: WGSL leaves it open, so tests compare with a tolerance). */
function roundToF16(values: Float32Array): Float32Array {
  return values.map((x) => f16ToF32(f32ToF16(x)));
}
