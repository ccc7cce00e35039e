/**
 * Qwen3.5's multi-token prediction (MTP) layer, read as a draft head. The checkpoint carries it
 * beside the model (`mtp_num_hidden_layers`: 1; tensors under `mtp.`, outside the language
 * model's prefix), trained with the model to predict the token after next:
 *
 *   mtp.pre_fc_norm_embedding.weight   (d)       e = rmsnorm(embed(x_{t+1})) (1 + w)
 *   mtp.pre_fc_norm_hidden.weight      (d)       h = rmsnorm(hidden_t) (1 + w)
 *   mtp.fc.weight                      (d, 2d)   x = fc([e; h])
 *   mtp.layers.0.*                               one of the model's own attention layers (gated
 *                                                attention, q and k norms, partial RoPE) and MLP
 *   mtp.norm.weight                    (d)       logits = lm_head(rmsnorm(x) (1 + w)), the model's LM head
 *
 * hidden_t is the model's last state after its final norm (what its LM head reads) for the
 * first draft, and the head's own output after mtp.norm for each draft after it, as vLLM's and
 * SGLang's MTP drafting feed it. The head embeds with the model's table, unless the config says
 * it has its own (`mtp_use_dedicated_embeddings`, refused here).
 *
 * MLC and GGUF conversions leave the layer out: only a Hugging Face folder has it. The head
 * becomes an EagleHead (loader/eagle.ts) of layout 'mtp', so model/eagle.ts and the drafting
 * code run it as they run EAGLE heads.
 */

import { NoMtpLayerError, UnsupportedArchitectureError } from '../errors';
import type { ModelConfig } from './config';
import type { EagleHead } from './eagle';
import { expectedTensors } from './tensor-names';
import type { ModelWeights } from './weights';

/**
 * The head of a model of `target`'s config as a one-layer model: the target's attention layer
 * (Qwen3.5's MTP layer is a full-attention layer), its norms, RoPE and LM head. Refused, by
 * name, for a model without the layer and for layouts Tandem does not run.
 */
export function mtpHeadConfig(target: ModelConfig, name: string): ModelConfig {
  if (!target.mtp) {
    throw new NoMtpLayerError(
      `${name} has no multi-token prediction layer (its config has no mtp_num_hidden_layers): draft with a ` +
        'draft model, an EAGLE head or "ngram" instead.',
    );
  }
  if (target.mtp.layers !== 1 || target.mtp.dedicatedEmbeddings) {
    throw new UnsupportedArchitectureError(
      `${name}: an MTP head of ${target.mtp.layers} layers${target.mtp.dedicatedEmbeddings ? ' with embeddings of its own' : ''} ` +
        'is not one Tandem runs (Qwen3.5 has one layer that embeds with the model).',
    );
  }
  const attention = target.layers.find((layer) => !layer.linear);
  if (!attention) throw new UnsupportedArchitectureError(`${name}: no attention layer for the MTP head to be`);
  return {
    ...target,
    numLayers: 1,
    layers: [attention],
    linearAttention: undefined,
    languageModelOfMultimodal: undefined,
    mtp: undefined,
    fused: { qkv: false, gateUp: false },
    hiddenInput: 'mtp',
    unknownKeys: [],
  };
}

/**
 * The head's tensors with their shapes: Tandem's name (as the reference and GPU models read a
 * one-layer head) to the checkpoint's, which is `mtp.` and the name without its `model.`.
 */
export function mtpTensors(head: ModelConfig): Map<string, { file: string; shape: number[] }> {
  const d = head.hiddenSize;
  const layer = [...expectedTensors(head)].filter(([name]) => name.startsWith('model.layers.0.'));
  const outside: [string, number[]][] = [
    ['fc.weight', [d, 2 * d]],
    ['pre_fc_norm_embedding.weight', [d]],
    ['pre_fc_norm_hidden.weight', [d]],
    ['model.norm.weight', [d]],
  ];
  return new Map(
    [...layer, ...outside].map(([name, shape]) => [name, { file: `mtp.${name.replace(/^model\./, '')}`, shape }]),
  );
}

/**
 * The MTP head of a loaded folder whose weights were read with its `mtpTensors`: they are taken
 * out of `weights` (the model's own stay as they are), and the head embeds with the model's
 * table and reads its LM head.
 */
export function takeMtpHead(folder: { name: string; config: ModelConfig; weights: ModelWeights }): EagleHead {
  const config = mtpHeadConfig(folder.config, folder.name);
  const weights: ModelWeights = new Map();
  for (const name of mtpTensors(config).keys()) {
    const tensor = folder.weights.get(mtpWeightKey(name));
    if (!tensor) throw new NoMtpLayerError(`${folder.name}: the MTP head's "${name}" was not read`);
    folder.weights.delete(mtpWeightKey(name));
    weights.set(name, { ...tensor, name });
  }
  for (const shared of ['model.embed_tokens.weight', 'lm_head.weight']) {
    const tensor = folder.weights.get(shared);
    if (tensor) weights.set(shared, tensor);
  }
  const vocab = folder.config.vocabSize;
  return {
    config,
    weights,
    layout: 'mtp',
    layerIds: [],
    draftToTarget: Uint32Array.from({ length: vocab }, (_, i) => i),
  };
}

/** Where a head tensor waits among the model's weights between the read and `takeMtpHead`. */
export function mtpWeightKey(name: string): string {
  return `mtp:${name}`;
}
