/**
 * Real-shape suite: models in the exact shapes of real checkpoints (bench/shapes.ts) with
 * random weights, generated in memory. Their timings are real; their acceptance is not (random
 * weights agree with nothing), so for each target/draft pair the suite reports the speed-up
 * *predicted* from the measured draft step, target step and verify costs at stated acceptance
 * rates (bench/predict.ts). Models are loaded one at a time and freed after.
 *
 * EAGLE heads of the Llama targets' shapes are measured too, in both layouts: EAGLE-3's (one
 * layer over [embedding; hidden], a draft vocabulary of 32,000) and EAGLE-1's (fc over
 * [hidden; embedding], one layer, the target's LM head over its whole vocabulary); and Qwen3.5's
 * own MTP layer for its shape (fc over two norms, one gated-attention layer, the target's LM
 * head), in f16 as the Hugging Face folders that carry it hold it: their step against the
 * target's, and the speed-up predicted at stated mean accepted lengths (`eagle`).
 *
 * A step alone (decode_ms, head_step_ms) is a pass and a readback: what plain decoding pays a
 * token. A speculative step on the GPU (model/gpu-speculation.ts) runs its drafts back to back,
 * each reading the token before it on the GPU, and waits once: there a draft costs what a
 * further step of such a chain adds (draft_chain_ms, head_chain_step_ms), and the predictions
 * price the drafts so. (Only drafts' chains are timed: a software adapter takes seconds a step.)
 */

import type { Gpu } from '../../src/gpu/device';
import { GpuModel } from '../../src/model/gpu-model';
import type { GpuSequence } from '../../src/model/gpu-sequence';
import { timingEagleHead, timingWeights } from '../../src/model/random-weights';
import { prefixBytes } from '../../src/model/types';
import { Rng } from '../../src/util/rng';
import { type Prediction, predict, verifyMs } from '../predict';
import { pairsToRun, parameterCount, QUICK_PAIRS, type Quantization, type Shape } from '../shapes';
import { time } from '../stats';
import { round } from './kernels';
import type { VerifyCost } from './model';

/** Acceptance rates the predictions are made at: each drafted token's chance to be accepted. */
export const STATED_ACCEPTANCE = [0.6, 0.7, 0.8];

export interface ShapeModelResult {
  name: string;
  role: 'target' | 'draft';
  /** How its weights are stored: q0f16 (f16) or q4f16_1 (MLC's 4-bit groups). */
  quantization: Quantization;
  parameters: number;
  /** Bytes its weights take on the GPU: what a decode step reads. */
  weight_bytes: number;
  scratch_bytes: number;
  kv_bytes_per_token: number;
  prefill_tok_s: number;
  decode_ms: number;
  decode_tok_s: number;
  /** weight_bytes / decode_ms: the bandwidth a decode step reaches on its weights. */
  decode_gb_s: number;
  /** Forward passes over n tokens at the context's end (targets; a draft only has n = 1). */
  verify: VerifyCost[];
}

export interface ShapePairResult {
  target: string;
  draft: string;
  target_decode_ms: number;
  draft_decode_ms: number;
  /** draft step / target step */
  draft_cost_ratio: number;
  /** The draft's chain step (what a draft adds to a speculative step on the GPU) */
  draft_chain_ms: number;
  /** draft_chain_ms / target step */
  draft_chain_ratio: number;
  /** Predicted, not measured, with the drafts priced at draft_chain_ms: one entry per stated acceptance rate. */
  predicted: Prediction[];
}

/** An EAGLE head of a target's shape: its step, and the speed-up predicted from it. */
export interface ShapeEagleResult {
  target: string;
  /** EAGLE-3's layout, EAGLE-1's (which EAGLE-2 drafts with), or a Qwen3.5 model's own MTP layer. */
  layout: HeadLayout;
  /** Ids its LM head scores: a reduced draft vocabulary (EAGLE-3), or the target's (EAGLE-1). */
  draft_vocab: number;
  head_step_ms: number;
  target_decode_ms: number;
  /** head step / target step */
  head_step_ratio: number;
  /** What each further head step of a chain on the GPU adds: a draft's cost in a speculative step */
  head_chain_step_ms: number;
  /** head_chain_step_ms / target step */
  head_chain_ratio: number;
  /** Predicted, not measured, the drafts priced at head_chain_step_ms: k = 4 drafts a pass, at stated tokens per target pass. */
  predicted: { tokens_per_pass: number; k: number; speedup: number }[];
}

export interface ShapeResults {
  context_tokens: number;
  acceptance_rates: number[];
  models: ShapeModelResult[];
  pairs: ShapePairResult[];
  eagle: ShapeEagleResult[];
}

/** Tokens per target pass the EAGLE predictions are made at (EAGLE-3 reports 3-4 and more with trees). */
export const STATED_ACCEPTED_LENGTHS = [3, 4];
const EAGLE_DRAFT_VOCAB = 32000;
const EAGLE_K = 4;
/** Steps of the chain whose time, less one step's, gives a chain step. */
const CHAIN = 5;
type HeadLayout = 'eagle3' | 'eagle1' | 'mtp';
/**
 * The targets whose heads are measured, with their layouts: Llama 3's, as published EAGLE heads
 * exist for them, and Qwen3.5's, whose checkpoints carry an MTP layer.
 */
const HEAD_TARGETS: Record<string, HeadLayout[]> = {
  'Llama-3.2-1B': ['eagle3', 'eagle1'],
  'Llama-3.2-1B q4f16_1': ['eagle3', 'eagle1'],
  'Llama-3.1-8B q4f16_1': ['eagle3', 'eagle1'],
  'Qwen3.5-9B q4f16_1': ['mtp'],
};
const HEAD_NAMES: Record<HeadLayout, string> = { eagle3: 'EAGLE-3', eagle1: 'EAGLE-1', mtp: 'MTP' };

/** The ids an EAGLE head of `layout` scores for a target of `shape`. */
const headVocab = (shape: Shape, layout: HeadLayout) =>
  layout === 'eagle3' ? Math.min(EAGLE_DRAFT_VOCAB, shape.config.vocabSize) : shape.config.vocabSize;

/**
 * What each further step of a chain adds, ms: CHAIN decode steps recorded back to back, each
 * reading the argmax before it on the GPU (and a head its own last hidden state), as a
 * speculative step's drafts run, the CPU waiting once at the end; their time less one step's,
 * over CHAIN - 1. The CPU records each step while the GPU runs the one before, so a step costs
 * the longer of the two.
 */
async function chainStepMs(model: GpuModel, sequence: GpuSequence, context: number, runs: number): Promise<number> {
  const { device } = model.gpu;
  const id = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const hidden = sequence.extra.hidden;
  const input = hidden ? { hidden: { buffer: hidden, offset: 0 } } : {};
  const previous = { buffer: model.idsBuffer, offset: 0, count: 1 };
  const chain = (steps: number) =>
    model.exclusive(async () => {
      sequence.truncate(context);
      for (let i = 0; i < steps; i++) {
        const last = i === steps - 1;
        const after = last
          ? (encoder: GPUCommandEncoder) => encoder.copyBufferToBuffer(model.idsBuffer, 0, id, 0, 4)
          : undefined;
        model.recordPass(
          sequence,
          { tokens: i === 0 ? [1] : [], ...(i > 0 ? { fromGpu: previous } : {}), ...input },
          1,
          'ids',
          after,
        );
      }
      await model.readBack(id, 4);
    });
  try {
    // Right after the step alone was timed: the GPU is warm.
    const one = await time(() => chain(1), runs, 0);
    const many = await time(() => chain(CHAIN), runs, 0);
    const further = (many.median - one.median) / (CHAIN - 1);
    return further > 0 ? further : many.median / CHAIN; // noise left nothing: the chain's mean step
  } finally {
    id.destroy();
  }
}

/** An EAGLE head's decode step for a target of `shape`, after `context` positions, ms: alone, and in a chain. */
async function measureHeadStep(
  gpu: Gpu,
  shape: Shape,
  layout: HeadLayout,
  context: number,
  runs: number,
): Promise<{ alone: number; chained: number }> {
  // An MTP layer is only in Hugging Face folders (conversions leave it out): f16.
  const dtype = shape.quantization === 'q4f16_1' && layout !== 'mtp' ? 'Q4F16' : 'F16';
  const kind = layout === 'eagle3' ? { layout, draftVocab: headVocab(shape, layout) } : { layout };
  const { config, weights } = timingEagleHead(shape.config, kind, 3, dtype);
  const head = await GpuModel.create(gpu, config, weights, { maxContext: context + 32 });
  const sequence = head.createSequence(context + 32);
  try {
    // A context of `context` positions (their keys and values are zeros: the timing is the same).
    await head.writePrefix(sequence, new Array(context).fill(0), new Uint8Array(prefixBytes(head, context)));
    const alone = await time(async () => {
      sequence.truncate(context);
      await head.greedyHidden(sequence, [1], 'own');
    }, runs + 2);
    return { alone: alone.median, chained: await chainStepMs(head, sequence, context, runs) };
  } finally {
    sequence.release();
    head.destroy();
  }
}

/**
 * A model of `shape`: its prefill, decode step and verify passes over `counts` tokens; with
 * `chainMs`, its chain step too (chainStepMs), set there under its name.
 */
async function measureShape(
  gpu: Gpu,
  shape: Shape,
  role: 'target' | 'draft',
  context: number,
  counts: number[],
  runs: number,
  chainMs?: Map<string, number>,
): Promise<ShapeModelResult> {
  // Prefill runs the many-token kernels and the decode warm-up keeps the GPU busy right before
  // them, so the verify passes need no warm-up of their own.
  const { config } = shape;
  const dtype = shape.quantization === 'q4f16_1' ? 'Q4F16' : 'F16';
  const model = await GpuModel.create(gpu, config, timingWeights(config, 1, dtype), { maxContext: context + 32 });
  const sequence = model.createSequence(context + 32);
  const rng = new Rng(2);
  const prompt = Array.from({ length: context }, () => rng.int(0, config.vocabSize));
  try {
    const prefill = await time(async () => {
      sequence.truncate(0);
      await model.greedy(sequence, prompt, 'last');
    }, runs);
    const step = async (n: number) => {
      sequence.truncate(context);
      await model.greedy(sequence, prompt.slice(0, n), n === 1 ? 'last' : 'all');
    };
    const decode = await time(() => step(1), runs + 2);
    if (chainMs) chainMs.set(shape.name, await chainStepMs(model, sequence, context, runs));
    const verify: VerifyCost[] = [];
    for (const n of counts) {
      const summary = n === 1 ? decode : await time(() => step(n), runs, 0);
      verify.push({ tokens: n, ms: round(summary.median), ratio: round(summary.median / decode.median) });
    }
    return {
      name: shape.name,
      role,
      quantization: shape.quantization,
      parameters: parameterCount(config),
      weight_bytes: model.weights.bytes,
      scratch_bytes: model.scratchBytes,
      kv_bytes_per_token: sequence.bytes / sequence.capacity,
      prefill_tok_s: round(context / (prefill.median / 1000), 1),
      decode_ms: round(decode.median),
      decode_tok_s: round(1000 / decode.median, 1),
      decode_gb_s: round(model.weights.bytes / (decode.median / 1000) / 1e9),
      verify,
    };
  } finally {
    sequence.release();
    model.destroy();
  }
}

/**
 * Every pair of the run (quick: QUICK_PAIRS), or those whose target's name holds `only`; then
 * the EAGLE heads of the targets measured. `keep` gets the results so far after each pair
 * and head, so that a run stopped part way keeps them.
 */
export async function runShapesSuite(
  gpu: Gpu,
  quick: boolean,
  log: (line: string) => void = () => {},
  only = '',
  keep: (soFar: ShapeResults) => void = () => {},
): Promise<ShapeResults> {
  const context = quick ? 8 : 64;
  const runs = quick ? 1 : 3;
  const counts = quick ? [1, 2, 3, 5] : [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const maxK = Math.max(...counts) - 1;
  const models: ShapeModelResult[] = [];
  const pairs: ShapePairResult[] = [];
  const eagle: ShapeEagleResult[] = [];
  const soFar = (): ShapeResults => ({
    context_tokens: context,
    acceptance_rates: STATED_ACCEPTANCE,
    models,
    pairs,
    eagle,
  });
  const chosen = pairsToRun(quick, only);
  /** The chain steps of the models some pair drafts with, by name. */
  const chainMs = new Map<string, number>();
  // A model some pair drafts with gets its chain step timed, whichever role it has here.
  const drafts = (shape: Shape) => (chosen.some((p) => p.draft.name === shape.name) ? chainMs : undefined);
  for (const pair of chosen) {
    const target = await measureShape(gpu, pair.target, 'target', context, counts, runs, drafts(pair.target));
    log(
      `shape ${target.name}: decode ${target.decode_ms} ms, verify(${maxK + 1})/decode ${target.verify.at(-1)?.ratio}`,
    );
    const measured = models.find((m) => m.name === pair.draft.name); // drafts may serve several targets
    const draft = measured ?? (await measureShape(gpu, pair.draft, 'draft', context, [1], runs, chainMs));
    const draftChainMs = chainMs.get(draft.name) ?? Number.NaN;
    log(`shape ${draft.name}: decode ${draft.decode_ms} ms, ${round(draftChainMs)} ms in a chain`);
    models.push(target);
    if (!measured) models.push(draft);
    const costs = { targetStepMs: target.decode_ms, draftStepMs: draftChainMs, verify: target.verify };
    pairs.push({
      target: target.name,
      draft: draft.name,
      target_decode_ms: target.decode_ms,
      draft_decode_ms: draft.decode_ms,
      draft_cost_ratio: round(draft.decode_ms / target.decode_ms),
      draft_chain_ms: round(draftChainMs),
      draft_chain_ratio: round(draftChainMs / target.decode_ms),
      predicted: STATED_ACCEPTANCE.map((a) => {
        const p = predict(costs, a, maxK);
        return {
          acceptance: a,
          by_k: p.by_k.map((e) => ({ k: e.k, speedup: round(e.speedup) })),
          best_k: p.best_k,
          best_speedup: round(p.best_speedup),
        };
      }),
    });
    keep(soFar());
  }
  const heads = quick
    ? [QUICK_PAIRS[0].target]
    : chosen.map((p) => p.target).filter((t) => HEAD_TARGETS[t.name] !== undefined);
  for (const shape of heads) {
    const target = models.find((m) => m.name === shape.name && m.role === 'target');
    if (!target) continue;
    for (const layout of HEAD_TARGETS[shape.name] ?? ['eagle3', 'eagle1']) {
      let headMs: number;
      let headChainMs: number;
      try {
        ({ alone: headMs, chained: headChainMs } = await measureHeadStep(gpu, shape, layout, context, runs));
      } catch (error) {
        // One head's failure (its random weights' logits, say) leaves the heads after it to measure.
        log(
          `shape ${target.name}: ${HEAD_NAMES[layout]} head step failed: ${(error as Error).name}: ${(error as Error).message}`,
        );
        continue;
      }
      const passMs = EAGLE_K * headChainMs + verifyMs(target.verify, EAGLE_K + 1);
      eagle.push({
        target: target.name,
        layout,
        draft_vocab: headVocab(shape, layout),
        head_step_ms: round(headMs),
        target_decode_ms: target.decode_ms,
        head_step_ratio: round(headMs / target.decode_ms),
        head_chain_step_ms: round(headChainMs),
        head_chain_ratio: round(headChainMs / target.decode_ms),
        predicted: STATED_ACCEPTED_LENGTHS.map((length) => ({
          tokens_per_pass: length,
          k: EAGLE_K,
          speedup: round((length * target.decode_ms) / passMs),
        })),
      });
      const name = HEAD_NAMES[layout];
      log(
        `shape ${target.name}: ${name} head step ${round(headMs)} ms (${round(headMs / target.decode_ms)} of the target's), ${round(headChainMs)} ms in a chain (${round(headChainMs / target.decode_ms)})`,
      );
      keep(soFar());
    }
  }
  return soFar();
}
