/**
 * A GPU model's activations: the buffers a forward pass of up to B tokens works in, made once
 * at load and shared by every pass and sequence of the model (a sequence's own state is its KV
 * cache, gpu-sequence.ts). Only what the config's layers and head use is made.
 */

import { createStorage } from '../gpu/buffers';
import { linearChannels, linearProjectionWidth } from '../kernels/gated-delta';
import type { ModelConfig } from '../loader/config';
import type { FeatureExport } from '../ref/model';
import { maskWords } from '../sampling/token-mask';
import type { LayerActivations } from './gpu-layer';
import type { LmHeadBuffers } from './gpu-lm-head';

export interface Activations extends LayerActivations, LmHeadBuffers {
  tokens: GPUBuffer; // (B) u32
  headIn: GPUBuffer; // (B, d) the rows the LM head reads, copied out of x when they are not all of a pass's
  logits: GPUBuffer; // (B, vocab)
  ids: GPUBuffer; // (B) u32
  idsReadback: GPUBuffer; // (B) u32, MAP_READ
  logitsReadback: GPUBuffer; // (B, vocab), MAP_READ
  masks: GPUBuffer; // (B, vocab / 32) u32: a grammar's token masks for the head's rows
  slot: GPUBuffer; // one position's keys and values, every layer, and its features: moveSlot's stop on the way
  captured?: GPUBuffer; // (B, 3d): the inputs of the layers an EAGLE-3 head reads
  features?: GPUBuffer; // (B, d): those, projected by the head's fc; or x after the final norm (EAGLE-1)
}

/** The activations of a model of `config` for passes of up to B tokens, `features`: an EAGLE head's export. */
export function createActivations(
  device: GPUDevice,
  config: ModelConfig,
  B: number,
  features: FeatureExport | undefined,
): Activations {
  const { hiddenSize: d, intermediateSize: f, numHeads: nh, numKvHeads: nkv, headDim: hd, vocabSize } = config;
  const linear = config.linearAttention;
  const f32 = (count: number, label: string) => createStorage(device, count * 4, label);
  const readback = (count: number, label: string) =>
    device.createBuffer({ label, size: count * 4, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
  const hiddenInput = config.hiddenInput !== undefined;
  const captures = features !== undefined && 'fc' in features;
  return {
    tokens: f32(B, 'tokens'),
    x: f32(B * d, 'x'),
    normed: f32(B * d * (hiddenInput ? 2 : 1), 'normed'),
    normScale: f32(B, 'norm scale'),
    // An EAGLE-1 head embeds straight into [embedding; hidden] (normed), which its fc reads.
    ...(hiddenInput && config.hiddenInput !== 'eagle1' ? { embedded: f32(B * d, 'embedded') } : {}),
    ...(config.hiddenInput === 'mtp' ? { ownState: f32(B * d, 'own state') } : {}),
    ...(captures ? { captured: f32(B * 3 * d, 'captured') } : {}),
    ...(features ? { features: f32(B * d, 'features') } : {}),
    ...(config.qkNorm ? { qkv: f32(B * (nh + 2 * nkv) * hd, 'qkv') } : {}),
    q: f32(B * nh * hd, 'q'),
    attn: f32(B * nh * hd, 'attn'),
    ...(config.sandwichNorms ? { branch: f32(B * d, 'branch') } : {}),
    ...(config.parallelBranches && !config.sharedBranchNorm ? { mlpInput: f32(B * d, 'mlp_input') } : {}),
    gated: f32(B * f, 'gated'),
    ...(linear && {
      proj: f32(B * linearProjectionWidth(linear), 'linear proj'),
      mixed: f32(B * linearChannels(linear), 'linear mixed'),
      linearOut: f32(B * linear.valueHeads * linear.valueDim, 'linear out'),
    }),
    ...(config.attentionOutputGate ? { outputGate: f32(B * nh * hd, 'output gate') } : {}),
    headIn: f32(B * d, 'head_in'),
    logits: f32(B * vocabSize, 'logits'),
    ids: f32(B, 'ids'),
    idsReadback: readback(B, 'ids readback'),
    slot: f32(2 * config.numLayers * nkv * hd + d, 'slot'),
    logitsReadback: readback(B * vocabSize, 'logits readback'),
    masks: createStorage(device, B * maskWords(vocabSize) * 4, 'token masks'),
  };
}
