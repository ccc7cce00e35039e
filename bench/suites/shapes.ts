/**
 * Real-shape suite: models in the exact shapes of real checkpoints (bench/shapes.ts) with
 * random weights, generated in memory. Their timings are real; their acceptance is not (random
 * weights agree with nothing), so for each target/draft pair the suite reports the speed-up
 * *predicted* from the measured draft step, target step and verify costs at stated acceptance
 * rates (bench/predict.ts). Models are loaded one at a time and freed after.
 */

import type { Gpu } from '../../src/gpu/device';
import { GpuModel } from '../../src/model/gpu-model';
import { timingWeights } from '../../src/model/random-weights';
import { Rng } from '../../src/util/rng';
import { type Prediction, predict } from '../predict';
import { parameterCount, QUICK_PAIRS, type Quantization, SHAPE_PAIRS, type Shape } from '../shapes';
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
  /** Predicted, not measured: one entry per stated acceptance rate. */
  predicted: Prediction[];
}

export interface ShapeResults {
  context_tokens: number;
  acceptance_rates: number[];
  models: ShapeModelResult[];
  pairs: ShapePairResult[];
}

async function measureShape(
  gpu: Gpu,
  shape: Shape,
  role: 'target' | 'draft',
  context: number,
  counts: number[],
  runs: number,
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

export async function runShapesSuite(
  gpu: Gpu,
  quick: boolean,
  log: (line: string) => void = () => {},
): Promise<ShapeResults> {
  const context = quick ? 8 : 64;
  const runs = quick ? 1 : 3;
  const counts = quick ? [1, 2, 3, 5] : [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const maxK = Math.max(...counts) - 1;
  const models: ShapeModelResult[] = [];
  const pairs: ShapePairResult[] = [];
  for (const pair of quick ? QUICK_PAIRS : SHAPE_PAIRS) {
    const target = await measureShape(gpu, pair.target, 'target', context, counts, runs);
    log(
      `shape ${target.name}: decode ${target.decode_ms} ms, verify(${maxK + 1})/decode ${target.verify.at(-1)?.ratio}`,
    );
    const measured = models.find((m) => m.name === pair.draft.name); // drafts may serve several targets
    const draft = measured ?? (await measureShape(gpu, pair.draft, 'draft', context, [1], runs));
    log(`shape ${draft.name}: decode ${draft.decode_ms} ms`);
    models.push(target);
    if (!measured) models.push(draft);
    const costs = { targetStepMs: target.decode_ms, draftStepMs: draft.decode_ms, verify: target.verify };
    pairs.push({
      target: target.name,
      draft: draft.name,
      target_decode_ms: target.decode_ms,
      draft_decode_ms: draft.decode_ms,
      draft_cost_ratio: round(draft.decode_ms / target.decode_ms),
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
  }
  return { context_tokens: context, acceptance_rates: STATED_ACCEPTANCE, models, pairs };
}
