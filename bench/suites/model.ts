/**
 * Model suite: the GPU model's prefill and decode throughput on one model, and the cost of a
 * forward pass over n tokens (a speculative verify) relative to a one-token decode step.
 * Verify passes are timed at a fixed position and rolled back with `truncate`, as speculative
 * decoding does.
 */

import type { Gpu } from '../../src/gpu/device';
import type { ModelFolder } from '../../src/loader/model-folder';
import { GpuModel } from '../../src/model/gpu-model';
import type { GpuSequence } from '../../src/model/gpu-sequence';
import { time } from '../stats';
import { round } from './kernels';

export interface VerifyCost {
  tokens: number;
  ms: number;
  /** ms / ms of a one-token pass */
  ratio: number;
}

export interface ModelResults {
  model: string;
  parameters: number;
  weight_bytes: number;
  prefill_tokens: number;
  prefill_tok_s: number;
  decode_tok_s: number;
  decode_ms: number;
  verify: VerifyCost[];
  verify5_ratio: number;
}

/** A prompt of `length` ids cycling through the tokenizer's ordinary tokens. */
function syntheticPrompt(folder: ModelFolder, length: number): number[] {
  const text = 'Once upon a time, there was a little cat named Tom. Tom lived in a small house near the river. ';
  const ids = folder.tokenizer.encode(text);
  return Array.from({ length }, (_, i) => ids[i % ids.length]);
}

/** Token counts whose verify pass is timed: what the cost model interpolates between (bench/predict.ts). */
export const VERIFY_QUICK = [1, 2, 3, 5, 8];
export const VERIFY_FULL = [1, 2, 3, 4, 5, 6, 8, 12, 16];

/**
 * A pass over n of `tokens` after the first `at` positions of `sequence`, for each n of
 * `counts` (the median of `repeats`), cut back after each; ratios to the first count's.
 */
export async function verifyCosts(
  model: GpuModel,
  sequence: GpuSequence,
  at: number,
  tokens: number[],
  counts: number[],
  repeats: number,
): Promise<VerifyCost[]> {
  const verify: VerifyCost[] = [];
  for (const n of counts) {
    const summary = await time(async () => {
      sequence.truncate(at);
      await model.greedy(sequence, tokens.slice(0, n), 'all');
    }, repeats);
    verify.push({ tokens: n, ms: round(summary.median), ratio: 0 });
  }
  sequence.truncate(at);
  for (const v of verify) v.ratio = round(v.ms / verify[0].ms);
  return verify;
}

export async function runModelSuite(gpu: Gpu, folder: ModelFolder, quick: boolean): Promise<ModelResults> {
  const runs = quick ? 3 : 7;
  const prefillTokens = quick ? 64 : 256;
  const decodeSteps = quick ? 16 : 64;
  const model = await GpuModel.create(gpu, folder.config, folder.weights, { maxContext: prefillTokens + 128 });
  const prompt = syntheticPrompt(folder, prefillTokens);
  const sequence = model.createSequence(prefillTokens + 128);

  const prefill = await time(async () => {
    sequence.truncate(0);
    await model.greedy(sequence, prompt, 'last');
  }, runs);

  const decode = await time(async () => {
    sequence.truncate(prefillTokens);
    let token = 1;
    for (let i = 0; i < decodeSteps; i++) token = (await model.greedy(sequence, [token], 'last'))[0];
  }, runs);

  const verify = await verifyCosts(
    model,
    sequence,
    prefillTokens,
    prompt,
    quick ? VERIFY_QUICK : VERIFY_FULL,
    runs * 3,
  );

  sequence.release();
  model.destroy();
  const parameters = [...folder.weights.values()].reduce((sum, t) => sum + t.data.length, 0);
  return {
    model: folder.name,
    parameters,
    weight_bytes: model.weights.bytes,
    prefill_tokens: prefillTokens,
    prefill_tok_s: round(prefillTokens / (prefill.median / 1000), 1),
    decode_tok_s: round(decodeSteps / (decode.median / 1000), 1),
    decode_ms: round(decode.median / decodeSteps),
    verify,
    verify5_ratio: verify.find((v) => v.tokens === 5)?.ratio ?? Number.NaN,
  };
}
