/**
 * EAGLE draft heads, as they are published on Hugging Face: `config.json` and one safetensors
 * file (a `pytorch_model.bin` is converted by scripts/eagle-convert.py). Two layouts:
 *
 * EAGLE-3 (e.g. yuhuili/EAGLE3-LLaMA3.1-Instruct-8B, or heads trained with SpecForge), with
 * architectures ["LlamaForCausalLMEagle3"]:
 *
 *   fc.weight                         (d, 3 d_target)  the target's three features, projected
 *   midlayer.hidden_norm.weight       (d)              the norm of the hidden input
 *   midlayer.input_layernorm.weight   (d)              the norm of the token's embedding
 *   midlayer.self_attn.{q,k,v}_proj   (rows, 2d)       over [embedding; hidden]
 *   midlayer.self_attn.o_proj, midlayer.post_attention_layernorm, midlayer.mlp.*   as Llama's
 *   norm.weight, lm_head.weight       (draft_vocab_size, d)
 *   d2t                               (draft_vocab_size) I64: a draft id i is target id i + d2t[i]
 *
 * (`layers.0.` or `model.layers.0.` for `midlayer.` too, as some trainers write it; `t2d` and an
 * embedding are passed over: the head embeds with the target's table, as runtimes do). The
 * features are the inputs of the target layers `eagle_aux_hidden_state_layer_ids`, by default
 * 2, L/2 and L - 3 of its L layers, as vLLM and SGLang take them.
 *
 * EAGLE-1 (and EAGLE-2, which drafts with the same heads: e.g. yuhuili/EAGLE-LLaMA3-Instruct-8B),
 * a one-layer Llama config (architectures ["LlamaForCausalLM"], or SGLang's
 * ["LlamaForCausalLMEagle"]), as the EAGLE repository's `cnets.py` computes it:
 *
 *   fc.weight, fc.bias                (d, 2d), (d)     over [embedding; hidden]
 *   layers.0.self_attn.*, layers.0.post_attention_layernorm, layers.0.mlp.*   as Llama's,
 *                                                      with no input_layernorm
 *
 * with no final norm and no LM head of its own: its logits are the target's LM head over its
 * state, and its features are the target's last hidden states after the target's final norm
 * (what the target's LM head reads).
 *
 * The head becomes a one-layer model under Hugging Face names (config.hiddenInput), so the
 * reference and GPU models run it with the layer code they run every model with; an EAGLE-3
 * `fc` goes to the target, which projects its features as it computes them (model/eagle.ts).
 */

import { DraftHeadMismatchError, ModelConfigError, TensorMissingError, TensorShapeError } from '../errors';
import { type ModelConfig, parseModelConfig } from './config';
import { readSafetensors } from './safetensors';
import { type ModelSource, readJson } from './source';
import type { ModelWeights, WeightDType, WeightTensor } from './weights';

/** EAGLE-3, EAGLE-1, or a model's own multi-token prediction layer (loader/mtp.ts). */
export type EagleLayout = 'eagle3' | 'eagle1' | 'mtp';

export interface EagleHead {
  /** The head as a one-layer model (`hiddenInput`); its vocabulary is the draft vocabulary. */
  config: ModelConfig;
  /**
   * Under Hugging Face names, with the target's embedding (EAGLE-1: and its LM head); `fc.weight`
   * (and `fc.bias`, or `model.layers.0.hidden_norm.weight`) besides.
   */
  weights: ModelWeights;
  layout: EagleLayout;
  /** EAGLE-3: the target layers whose inputs are the features, in the order `fc` reads them (EAGLE-1: none). */
  layerIds: number[];
  /** The target id of each draft id. */
  draftToTarget: Uint32Array;
}

export const EAGLE3_ARCHITECTURE = 'LlamaForCausalLMEagle3';
/** SGLang's name for EAGLE-1 heads; the EAGLE repository's own say LlamaForCausalLM, with one layer. */
export const EAGLE1_ARCHITECTURE = 'LlamaForCausalLMEagle';

/** Keys of an EAGLE-3 config.json besides a Llama config's, read here. */
const EAGLE_KEYS = ['draft_vocab_size', 'target_hidden_size', 'eagle_aux_hidden_state_layer_ids', 'eagle_config'];

/**
 * The layout of the head `json` (a config.json) describes, or undefined for a model: EAGLE-3 by
 * its architecture, EAGLE-1 by SGLang's, or as a Llama config of one layer (no model that
 * generates on its own has one; the EAGLE repository's heads do).
 */
export function eagleLayout(json: unknown): EagleLayout | undefined {
  const raw = json as { architectures?: unknown; num_hidden_layers?: unknown } | null;
  const architecture = Array.isArray(raw?.architectures) ? raw.architectures[0] : undefined;
  if (architecture === EAGLE3_ARCHITECTURE) return 'eagle3';
  if (architecture === EAGLE1_ARCHITECTURE) return 'eagle1';
  if (architecture === 'LlamaForCausalLM' && raw?.num_hidden_layers === 1) return 'eagle1';
  return undefined;
}

/**
 * Whether `json` (a config.json) names an EAGLE head's architecture. A one-layer Llama config
 * may be a model too: the folder decides (model/pair.ts reads it as a head where it has no tokenizer).
 */
export function isEagleConfig(json: unknown): boolean {
  const architectures = (json as { architectures?: unknown } | null)?.architectures;
  return Array.isArray(architectures) && [EAGLE3_ARCHITECTURE, EAGLE1_ARCHITECTURE].includes(architectures[0]);
}

/**
 * The head's shape from its config.json, checked against the target it will draft for. A head
 * for another target (hidden size, vocabulary, layer count) is refused with DraftHeadMismatchError.
 */
export function parseEagleConfig(json: unknown, target: ModelConfig, source = 'config.json') {
  const layout = eagleLayout(json);
  if (!layout) {
    throw new ModelConfigError(
      `${source}: not an EAGLE head (architectures must be ["${EAGLE3_ARCHITECTURE}"] for EAGLE-3, or ` +
        `["${EAGLE1_ARCHITECTURE}"] or a one-layer ["LlamaForCausalLM"] for EAGLE-1)`,
    );
  }
  const raw = { ...(json as Record<string, unknown>) };
  const fail = (message: string) => new ModelConfigError(`${source}: ${message}`);
  const vocab = raw.vocab_size;
  const draftVocab = layout === 'eagle3' ? (raw.draft_vocab_size ?? vocab) : vocab;
  const targetHidden = raw.target_hidden_size ?? raw.hidden_size;
  const nested = (raw.eagle_config as { eagle_aux_hidden_state_layer_ids?: unknown } | undefined) ?? {};
  const ids =
    layout === 'eagle1'
      ? []
      : (raw.eagle_aux_hidden_state_layer_ids ??
        nested.eagle_aux_hidden_state_layer_ids ?? [2, Math.floor(target.numLayers / 2), target.numLayers - 3]);
  for (const key of EAGLE_KEYS) delete raw[key];
  if (!Number.isSafeInteger(draftVocab) || (draftVocab as number) <= 0) {
    throw fail(`"draft_vocab_size" must be a whole number, got ${JSON.stringify(draftVocab)}`);
  }
  if (
    !Array.isArray(ids) ||
    (layout === 'eagle3' && ids.length !== 3) ||
    !ids.every((l) => Number.isSafeInteger(l) && l >= 0)
  ) {
    throw fail(`"eagle_aux_hidden_state_layer_ids" must be three layer indices, got ${JSON.stringify(ids)}`);
  }
  const head = parseModelConfig({ ...raw, architectures: ['LlamaForCausalLM'], vocab_size: draftVocab }, source);
  if (head.numLayers !== 1) throw fail(`an EAGLE head has one layer, not ${head.numLayers}`);
  const mismatch = (what: string) =>
    new DraftHeadMismatchError(
      `${source}: this EAGLE head was made for another target: ${what}. Load the head trained for this target.`,
    );
  if (vocab !== target.vocabSize) {
    throw mismatch(`its vocab_size is ${JSON.stringify(vocab)}, the target's ${target.vocabSize}`);
  }
  if (targetHidden !== target.hiddenSize || head.hiddenSize !== target.hiddenSize) {
    throw mismatch(`it reads hidden states of size ${targetHidden}, the target's are ${target.hiddenSize}`);
  }
  if ((draftVocab as number) > target.vocabSize) {
    throw mismatch(`its draft vocabulary (${draftVocab}) is larger than the target's (${target.vocabSize})`);
  }
  const layerIds = ids as number[];
  if (layerIds.some((l) => l >= target.numLayers)) {
    throw mismatch(`it reads layers ${layerIds.join(', ')}, the target has ${target.numLayers}`);
  }
  // An EAGLE-1 head's logits are the target's LM head's (tied to the embedding as the target's is).
  const shared =
    layout === 'eagle1' ? { tieWordEmbeddings: target.tieWordEmbeddings, finalSoftcap: target.finalSoftcap } : {};
  return { config: { ...head, ...shared, hiddenInput: layout }, layerIds, layout };
}

/** The head's tensors by the names the models read, with the shape each must have. */
export function expectedHeadTensors(head: ModelConfig): Map<string, number[]> {
  const { hiddenSize: d, intermediateSize: f, numHeads: nh, numKvHeads: nkv, headDim: hd } = head;
  const p = 'model.layers.0';
  const layer: [string, number[]][] = [
    [`${p}.self_attn.o_proj.weight`, [d, nh * hd]],
    [`${p}.post_attention_layernorm.weight`, [d]],
    [`${p}.mlp.gate_proj.weight`, [f, d]],
    [`${p}.mlp.up_proj.weight`, [f, d]],
    [`${p}.mlp.down_proj.weight`, [d, f]],
  ];
  if (head.hiddenInput === 'eagle1') {
    return new Map([
      ['fc.weight', [d, 2 * d]],
      [`${p}.self_attn.q_proj.weight`, [nh * hd, d]],
      [`${p}.self_attn.k_proj.weight`, [nkv * hd, d]],
      [`${p}.self_attn.v_proj.weight`, [nkv * hd, d]],
      ...layer,
    ]);
  }
  return new Map([
    ['fc.weight', [d, 3 * d]],
    [`${p}.hidden_norm.weight`, [d]],
    [`${p}.input_layernorm.weight`, [d]],
    [`${p}.self_attn.q_proj.weight`, [nh * hd, 2 * d]],
    [`${p}.self_attn.k_proj.weight`, [nkv * hd, 2 * d]],
    [`${p}.self_attn.v_proj.weight`, [nkv * hd, 2 * d]],
    ...layer,
    ['model.norm.weight', [d]],
    ['lm_head.weight', [head.vocabSize, d]],
  ]);
}

/** Tensors a head may have, with their shapes: an EAGLE-1 head's fc bias (the EAGLE repository's heads have one). */
function optionalHeadTensors(head: ModelConfig): Map<string, number[]> {
  return new Map(head.hiddenInput === 'eagle1' ? [['fc.bias', [head.hiddenSize]]] : []);
}

/** A published name as the models read it: `midlayer.` (or `layers.0.`) is layer 0, `norm` the final norm. */
export function headTensorName(name: string): string {
  const bare = name.replace(/^model\./, '').replace(/^midlayer\./, 'layers.0.');
  if (bare.startsWith('layers.')) return `model.${bare}`;
  if (bare === 'norm.weight') return 'model.norm.weight';
  return bare;
}

const FLOATS = new Set(['F32', 'F16', 'BF16']);

/**
 * Loads the head in `source` for `target`: its config checked against the target's, every
 * tensor against the config (from the header, before the data is read), d2t into target ids.
 * `target.lmHead`: the target's LM head where it is not its embedding (an EAGLE-1 head's logits).
 */
export async function loadEagleHead(
  source: ModelSource,
  target: { config: ModelConfig; embedding: WeightTensor; lmHead?: WeightTensor },
): Promise<EagleHead> {
  const { config, layerIds, layout } = parseEagleConfig(
    await readJson(source, 'config.json', ModelConfigError),
    target.config,
    `${source.name}/config.json`,
  );
  const expected = expectedHeadTensors(config);
  const optional = optionalHeadTensors(config);
  const draftVocab = config.vocabSize;
  if (layout === 'eagle1' && !config.tieWordEmbeddings && !target.lmHead) {
    throw new TensorMissingError(`${source.name}: an EAGLE-1 head needs its target's lm_head, which was not given`);
  }
  const where = `${source.name}/model.safetensors`;
  const opened = await source.open('model.safetensors');
  let tensors: Awaited<ReturnType<typeof readSafetensors>>;
  try {
    tensors = await readSafetensors(
      opened.stream,
      'model.safetensors',
      (info) =>
        expected.has(headTensorName(info.name)) || optional.has(headTensorName(info.name)) || info.name === 'd2t',
      (header) => {
        const found = new Map([...header.tensors.values()].map((info) => [headTensorName(info.name), info]));
        const present = [...optional].filter(([name]) => found.has(name));
        for (const [name, shape] of [...expected, ...present]) {
          const info = found.get(name);
          if (!info) {
            const hint =
              layout === 'eagle1' && name === 'fc.weight'
                ? ' (a one-layer Llama config is read as an EAGLE-1 head)'
                : '';
            throw new TensorMissingError(`${where}: the head's tensor "${name}" is missing${hint}`);
          }
          if (info.shape.length !== shape.length || info.shape.some((n, i) => n !== shape[i])) {
            throw new TensorShapeError(
              `${where}: "${info.name}" has shape [${info.shape}], the config implies [${shape}]`,
            );
          }
          if (!FLOATS.has(info.dtype))
            throw new TensorShapeError(`${where}: "${info.name}" is ${info.dtype}, not a float`);
        }
        const d2t = header.tensors.get('d2t');
        if (d2t && (d2t.dtype !== 'I64' || d2t.shape.length !== 1 || d2t.shape[0] !== draftVocab)) {
          throw new TensorShapeError(`${where}: "d2t" is ${d2t.dtype} [${d2t.shape}], not I64 [${draftVocab}]`);
        }
        if (!d2t && draftVocab !== target.config.vocabSize) {
          throw new TensorMissingError(`${where}: a draft vocabulary smaller than the target's needs its "d2t" map`);
        }
      },
    );
  } catch (error) {
    await opened.settle(false);
    throw error;
  }
  await opened.settle(true);

  const weights: ModelWeights = new Map([['model.embed_tokens.weight', target.embedding]]);
  if (layout === 'eagle1' && target.lmHead && !config.tieWordEmbeddings) weights.set('lm_head.weight', target.lmHead);
  let draftToTarget = Uint32Array.from({ length: draftVocab }, (_, i) => i);
  for (const [name, { info, data }] of tensors) {
    if (name === 'd2t') {
      const offsets = data as BigInt64Array;
      draftToTarget = Uint32Array.from(offsets, (offset, i) => i + Number(offset));
      const bad = draftToTarget.findIndex((id) => id >= target.config.vocabSize);
      if (bad >= 0) throw new TensorShapeError(`${where}: d2t maps draft id ${bad} past the target's vocabulary`);
      continue;
    }
    const renamed = headTensorName(name);
    weights.set(renamed, { name: renamed, dtype: info.dtype as WeightDType, shape: info.shape, data: data as never });
  }
  return { config, weights, layout, layerIds, draftToTarget };
}
