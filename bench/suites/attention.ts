/**
 * Attention's share of a step at long contexts, kernel by kernel: a decode step (and a 5-token
 * verify pass) over 1k, 8k and 32k cached positions with the heads of Llama-3.2-1B and
 * Llama-3.1-8B, each in its model's default cache format, timed the device profile's way and
 * with each attention choice the other way (a KV head's query heads grouped or apart; segments
 * half as long past the one-tile ones), side by side in one run.
 *
 * A step attends over every layer's cache, so the dispatches cycle through one cache per layer
 * (as many as the model has): the GPU's cache holds a layer's keys as a real step leaves them,
 * not the same few megabytes again. The caches hold zeros; attention's time does not depend on
 * the values. A dispatch's time is the difference of passes of many and of few (dispatchMs).
 */

import { createStorage } from '../../src/gpu/buffers';
import type { Gpu } from '../../src/gpu/device';
import { AttentionKernel } from '../../src/kernels/attention';
import { kvValueBytes } from '../../src/kernels/kv-cache';
import { type KernelProfile, kernelProfile } from '../../src/kernels/profile';
import { StepUniform } from '../../src/kernels/step';
import { attentionLayerCount, type ModelConfig } from '../../src/loader/config';
import { defaultKvFormat } from '../../src/model/gpu-model';
import { SHAPE_PAIRS } from '../shapes';
import { dispatchMs, round } from './kernels';

export interface AttentionResult {
  /** The model whose heads these are */
  shape: string;
  /** 'NH/NKVxHD' */
  heads: string;
  kv: 'f32' | 'f16';
  context: number;
  tokens: number;
  /** 'profile', or the choice made the other way: 'heads grouped', 'heads apart', 'segments of N' */
  variant: string;
  /** Whether a KV head's query heads shared a workgroup (attention_tiled.wgsl with G rows) */
  grouped: boolean;
  /** Positions a workgroup walks past the one-tile segments */
  split: number;
  /** One layer's attention (with the merge of its segments) */
  ms: number;
  /** The step's share of all layers: ms times the model's attention layers */
  step_ms: number;
  /** The layer's cached keys and values, read once, over ms */
  kv_gb_s: number;
}

const CONTEXTS = [1024, 8192, 32768];
const TOKENS = [1, 5];

/** The attention choices timed beside the profile's at a context of `length` positions. */
export function attentionVariants(
  profile: KernelProfile,
  length: number,
): { variant: string; change: Partial<KernelProfile> }[] {
  if (profile.serialAttention) return [{ variant: 'profile', change: {} }];
  const grouped = length >= profile.attentionGroupedFrom;
  const out: { variant: string; change: Partial<KernelProfile> }[] = [
    { variant: 'profile', change: {} },
    grouped
      ? { variant: 'heads apart', change: { attentionGroupedFrom: Number.POSITIVE_INFINITY } }
      : { variant: 'heads grouped', change: { attentionGroupedFrom: 0 } },
  ];
  if (length > profile.attentionFine) {
    const split = profile.attentionSplit / 2;
    out.push({ variant: `segments of ${split}`, change: { attentionSplit: split } });
  }
  return out;
}

async function timeAttention(
  gpu: Gpu,
  name: string,
  config: ModelConfig,
  context: number,
  tokens: number,
  profile: KernelProfile,
  runs: number,
  layers: number,
): Promise<{ ms: number; bytes: number }> {
  const { device } = gpu;
  const { numHeads: nh, numKvHeads: nkv, headDim: hd } = config;
  const kv = defaultKvFormat(config);
  const capacity = context + tokens;
  const kernel = new AttentionKernel(
    device,
    { numHeads: nh, numKvHeads: nkv, headDim: hd },
    profile.serialAttention,
    { scale: 1 / Math.sqrt(hd), softcap: null, window: null },
    kv,
    {
      maxTokens: tokens,
      maxContext: capacity,
      split: profile.attentionSplit,
      fine: profile.attentionFine,
      tiled: profile.tiledAttention,
      groupedFrom: profile.attentionGroupedFrom,
    },
  );
  const cacheBytes = capacity * nkv * hd * kvValueBytes(kv);
  const step = new StepUniform(device);
  step.write(tokens, context);
  const q = createStorage(device, tokens * nh * hd * 4, `${name} q`);
  const out = createStorage(device, tokens * nh * hd * 4, `${name} out`);
  const caches = Array.from({ length: layers }, () => ({
    kCache: createStorage(device, cacheBytes, `${name} keys`),
    vCache: createStorage(device, cacheBytes, `${name} values`),
  }));
  const binds = caches.map((cache) => kernel.bind({ step: step.buffer, q, out, ...cache }));
  try {
    const ms = await dispatchMs(
      device,
      (pass, i) => kernel.encode(pass, binds[i % layers], tokens, context),
      layers,
      3 * layers,
      runs,
    );
    return { ms, bytes: 2 * context * nkv * hd * kvValueBytes(kv) };
  } finally {
    for (const buffer of [step.buffer, q, out, ...caches.flatMap((c) => [c.kCache, c.vCache])]) buffer.destroy();
    kernel.destroy();
  }
}

/**
 * Every context, step and choice for Llama-3.2-1B's and Llama-3.1-8B's heads; a quick run (a
 * CPU adapter's) the 1B's decode step after 1,024 positions, the profile's way, two layers.
 * `keep` gets the results so far after each context.
 */
export async function runAttentionTimings(
  gpu: Gpu,
  quick: boolean,
  keep: (soFar: AttentionResult[]) => void = () => {},
): Promise<AttentionResult[]> {
  const runs = quick ? 3 : 7;
  const profile = kernelProfile(gpu.info);
  const names = quick ? ['Llama-3.2-1B'] : ['Llama-3.2-1B', 'Llama-3.1-8B q4f16_1'];
  const results: AttentionResult[] = [];
  for (const name of names) {
    const shape = SHAPE_PAIRS.map((pair) => pair.target).find((target) => target.name === name);
    if (!shape) throw new Error(`no shape named ${name}`);
    const { config } = shape;
    const layers = quick ? 2 : attentionLayerCount(config);
    for (const context of quick ? [1024] : CONTEXTS) {
      for (const tokens of quick ? [1] : TOKENS) {
        for (const { variant, change } of attentionVariants(profile, context + tokens)) {
          const chosen = { ...profile, ...change };
          const { ms, bytes } = await timeAttention(gpu, name, config, context, tokens, chosen, runs, layers);
          results.push({
            shape: name,
            heads: `${config.numHeads}/${config.numKvHeads}x${config.headDim}`,
            kv: defaultKvFormat(config),
            context,
            tokens,
            variant,
            grouped: !chosen.serialAttention && context + tokens >= chosen.attentionGroupedFrom,
            split: chosen.attentionSplit,
            ms: round(ms, 4),
            step_ms: round(ms * attentionLayerCount(config), 3),
            kv_gb_s: round(bytes / (ms / 1000) / 1e9),
          });
        }
      }
      keep(results);
    }
  }
  return results;
}
