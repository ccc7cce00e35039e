/**
 * The tensors a config implies: their Hugging Face names, by their part in the forward pass, and
 * their shapes; and the names some architectures' checkpoints (Phi-1/2, GPT-NeoX) and
 * multimodal repos (Qwen3.5) give them instead.
 */

import type { LinearAttention, ModelConfig } from './config';

/**
 * Phi-1/2's checkpoints name some tensors their own way: Tandem reads them under Llama's names
 * (the loaders map file names through `checkpointTensorName`).
 */
const PHI_NAMES: [RegExp, string][] = [
  [/^model\.norm\./, 'model.final_layernorm.'],
  [/\.self_attn\.o_proj\./, '.self_attn.dense.'],
  [/\.mlp\.up_proj\./, '.mlp.fc1.'],
  [/\.mlp\.down_proj\./, '.mlp.fc2.'],
];

/**
 * GPT-NeoX's names, in its checkpoints and in MLC's folders alike (q|k|v as query_key_value: its
 * rows head by head in a checkpoint, weights.ts puts them in q|k|v order; MLC's are in that order).
 */
const NEOX_NAMES: [RegExp, string][] = [
  [/^model\.embed_tokens\./, 'gpt_neox.embed_in.'],
  [/^model\.norm\./, 'gpt_neox.final_layer_norm.'],
  [/^lm_head\./, 'embed_out.'],
  [/^model\.layers\./, 'gpt_neox.layers.'],
  [/\.self_attn\.qkv_proj\./, '.attention.query_key_value.'],
  [/\.self_attn\.o_proj\./, '.attention.dense.'],
  [/\.mlp\.up_proj\./, '.mlp.dense_h_to_4h.'],
  [/\.mlp\.down_proj\./, '.mlp.dense_4h_to_h.'],
];

const rename = (names: [RegExp, string][], name: string) =>
  names.reduce((renamed, [pattern, replacement]) => renamed.replace(pattern, replacement), name);

/** The name of the tensor Tandem calls `name` in GPT-NeoX's checkpoints and MLC folders. */
export const neoxTensorName = (name: string) => rename(NEOX_NAMES, name);

/** The name a tensor Tandem calls `name` has in a Hugging Face checkpoint of `config`'s architecture. */
export function checkpointTensorName(config: ModelConfig, name: string): string {
  if (config.architecture === 'PhiForCausalLM') return rename(PHI_NAMES, name);
  if (config.architecture === 'GPTNeoXForCausalLM') return neoxTensorName(name);
  if (config.languageModelOfMultimodal) return name.replace(/^model\./, 'model.language_model.');
  return name;
}

/** The Hugging Face names of a Gated DeltaNet layer's tensors (Qwen3.5's `linear_attn`). */
export function linearTensorNames(l: number) {
  const p = `model.layers.${l}.linear_attn`;
  return {
    /** q|k|v before the convolution, (2 keyHeads keyDim + valueHeads valueDim, d). */
    qkv: `${p}.in_proj_qkv.weight`,
    /** The output gate z, (valueHeads valueDim, d). */
    z: `${p}.in_proj_z.weight`,
    /** beta's and the decay's projections, (valueHeads, d) each. */
    b: `${p}.in_proj_b.weight`,
    a: `${p}.in_proj_a.weight`,
    /** The depthwise convolution, (channels, 1, convKernel): the newest row meets the last tap. */
    conv: `${p}.conv1d.weight`,
    dtBias: `${p}.dt_bias`,
    aLog: `${p}.A_log`,
    /** The gated RMSNorm over each value head, (valueDim): by w, not 1 + w. */
    norm: `${p}.norm.weight`,
    out: `${p}.out_proj.weight`,
  };
}

/** The Hugging Face names of layer `l`'s tensors, by their part in the forward pass. */
export function layerTensorNames(config: ModelConfig, l: number) {
  const p = `model.layers.${l}`;
  const sandwich = config.sandwichNorms;
  const inputs = config.branchInputNorms;
  return {
    /** The norm before attention: none in OLMo 2. */
    inputNorm: inputs ? `${p}.input_layernorm.weight` : undefined,
    /** Gemma 2 and 3, OLMo 2: the norm on the attention branch's output; elsewhere none. */
    attentionOutNorm: sandwich ? `${p}.post_attention_layernorm.weight` : undefined,
    /**
     * The norm before the MLP: Gemma's pre_feedforward_layernorm, Llama's post_attention_layernorm;
     * none in OLMo 2, nor where the MLP reads attention's input norm (Phi-1/2).
     */
    mlpNorm:
      !inputs || config.sharedBranchNorm
        ? undefined
        : sandwich
          ? `${p}.pre_feedforward_layernorm.weight`
          : `${p}.post_attention_layernorm.weight`,
    mlpOutNorm: sandwich ? `${p}.post_feedforward_layernorm.weight` : undefined,
    q: `${p}.self_attn.q_proj`,
    k: `${p}.self_attn.k_proj`,
    v: `${p}.self_attn.v_proj`,
    qkv: `${p}.self_attn.qkv_proj`,
    o: `${p}.self_attn.o_proj`,
    qNorm: `${p}.self_attn.q_norm.weight`,
    kNorm: `${p}.self_attn.k_norm.weight`,
    gate: `${p}.mlp.gate_proj`,
    up: `${p}.mlp.up_proj`,
    gateUp: `${p}.mlp.gate_up_proj`,
    down: `${p}.mlp.down_proj`,
  };
}

/** Every tensor the config implies, by its Hugging Face name, with its shape [out, in] or [n]. */
export function expectedTensors(config: ModelConfig): Map<string, number[]> {
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim: hd, vocabSize } = config;
  const qRows = numHeads * hd;
  const kvRows = numKvHeads * hd;
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [vocabSize, d]);
  for (let l = 0; l < config.numLayers; l++) {
    const t = layerTensorNames(config, l);
    for (const norm of [t.inputNorm, t.attentionOutNorm, t.mlpNorm, t.mlpOutNorm]) if (norm) shapes.set(norm, [d]);
    const linear = config.layers[l].linear && config.linearAttention;
    if (linear) {
      for (const [name, shape] of linearTensorShapes(linear, l, d)) shapes.set(name, shape);
    } else if (config.fused.qkv) {
      // Qwen3.5 in MLC's folders: q_proj's rows (each head's query, then its gate), k's, v's.
      shapes.set(`${t.qkv}.weight`, [(config.attentionOutputGate ? 2 : 1) * qRows + 2 * kvRows, d]);
      if (config.qkvBias) shapes.set(`${t.qkv}.bias`, [qRows + 2 * kvRows]);
    } else {
      // Qwen3.5's q_proj gives each head's gate after its query.
      for (const [name, rows] of [
        [t.q, config.attentionOutputGate ? 2 * qRows : qRows],
        [t.k, kvRows],
        [t.v, kvRows],
      ] as const) {
        shapes.set(`${name}.weight`, [rows, d]);
        if (config.qkvBias) shapes.set(`${name}.bias`, [rows]);
      }
    }
    if (config.fused.gateUp) {
      shapes.set(`${t.gateUp}.weight`, [2 * f, d]);
      if (config.mlpBias) shapes.set(`${t.gateUp}.bias`, [2 * f]);
    } else {
      for (const name of config.gatedMlp ? [t.gate, t.up] : [t.up]) {
        shapes.set(`${name}.weight`, [f, d]);
        if (config.mlpBias) shapes.set(`${name}.bias`, [f]);
      }
    }
    if (config.qkNorm && !linear) {
      const whole = config.qkNorm === 'projection';
      shapes.set(t.qNorm, [whole ? qRows : hd]);
      shapes.set(t.kNorm, [whole ? kvRows : hd]);
    }
    if (!linear) shapes.set(`${t.o}.weight`, [d, qRows]);
    if (config.outputBias && !linear) shapes.set(`${t.o}.bias`, [d]);
    shapes.set(`${t.down}.weight`, [d, f]);
    if (config.mlpBias) shapes.set(`${t.down}.bias`, [d]);
  }
  shapes.set('model.norm.weight', [d]);
  // A LayerNorm's bias beside each norm's weight.
  if (config.norm === 'layer') {
    for (const [name, shape] of [...shapes]) {
      if (/norm\.weight$/.test(name)) shapes.set(name.replace(/weight$/, 'bias'), shape);
    }
  }
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [vocabSize, d]);
  if (config.headBias) shapes.set('lm_head.bias', [vocabSize]);
  return shapes;
}

/** A Gated DeltaNet layer's tensors and their shapes. */
function linearTensorShapes(linear: LinearAttention, l: number, d: number): [string, number[]][] {
  const { keyHeads, valueHeads, keyDim, valueDim, convKernel } = linear;
  const channels = 2 * keyHeads * keyDim + valueHeads * valueDim;
  const t = linearTensorNames(l);
  return [
    [t.qkv, [channels, d]],
    [t.z, [valueHeads * valueDim, d]],
    [t.b, [valueHeads, d]],
    [t.a, [valueHeads, d]],
    [t.conv, [channels, 1, convKernel]],
    [t.dtBias, [valueHeads]],
    [t.aLog, [valueHeads]],
    [t.norm, [valueDim]],
    [t.out, [d, valueHeads * valueDim]],
  ];
}
