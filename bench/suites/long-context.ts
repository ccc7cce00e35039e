/**
 * Long cached prefixes (a knowledge base before every question): for prefixes of 1k, 8k and
 * 32k tokens, on the fixture target and on Llama-3.2-1B's shape (random weights: the timings
 * are real), the time to first token of the prefix and a question of QUESTION_TOKENS three ways,
 * as the ttft suite takes them:
 *   cold       nothing cached: the whole prompt is prefilled, in the pipeline's chunks;
 *   warm       the prefix was cached before: only the question is computed;
 *   typeahead  the prefix and all but the question's last TYPED_LEFT tokens were cached;
 * and one decode step after the prefix, whose growth with the context says what split
 * attention (flash-decoding) leaves of a long context's cost. Quick runs take the fixture
 * target and one prefix of QUICK_PREFIX tokens.
 */

import { CachedGenerator } from '../../src/cache/cached-generator';
import { kvBytes } from '../../src/cache/prefix-cache';
import type { Gpu } from '../../src/gpu/device';
import type { ModelConfig } from '../../src/loader/config';
import type { ModelFolder } from '../../src/loader/model-folder';
import type { ModelWeights } from '../../src/loader/weights';
import { GpuModel } from '../../src/model/gpu-model';
import type { GpuSequence } from '../../src/model/gpu-sequence';
import { timingWeights } from '../../src/model/random-weights';
import { GREEDY } from '../../src/sampling/sampling';
import { Rng } from '../../src/util/rng';
import { SHAPE_PAIRS } from '../shapes';
import { summarize } from '../stats';
import { round, share } from './kernels';

export interface LongPrefix {
  /** 'fixture target' or a real checkpoint's shape */
  shape: string;
  prefix_tokens: number;
  cold_ms: number;
  warm_ms: number;
  typeahead_ms: number;
  /** warm_ms / cold_ms */
  warm_ratio: number;
  /** typeahead_ms / cold_ms */
  typeahead_ratio: number;
  /** One plain decode step after the prefix and the question. */
  decode_step_ms: number;
  /** decode_step_ms over the same shape's step after its shortest prefix. */
  decode_step_ratio: number;
}

/** Tokens of the question after the prefix, and those of it still being typed at submit. */
const QUESTION_TOKENS = 16;
const TYPED_LEFT = 4;
const FULL_PREFIXES = [1024, 8192, 32768];
const QUICK_PREFIX = 512;

interface Subject {
  name: string;
  config: ModelConfig;
  weights: () => ModelWeights;
}

/** The three times to first token and the decode step for one prefix length on one model. */
async function measurePrefix(model: GpuModel, name: string, prefixTokens: number) {
  const capacity = prefixTokens + QUESTION_TOKENS + 8;
  const rng = new Rng(prefixTokens);
  const prompt = Array.from({ length: prefixTokens + QUESTION_TOKENS }, () => rng.int(0, model.config.vocabSize));
  const prefix = prompt.slice(0, prefixTokens);
  // Room for the cached prefix and the request's own copy of it.
  const options = { capacity, budgetBytes: 2 * kvBytes(model, capacity) };
  const request = { maxTokens: 1, sampling: GREEDY, draft: 'none' as const, draftLength: 1 };
  type Generator = CachedGenerator<GpuSequence, GpuSequence>;
  const ttft = async (warmed: number[][], after?: (generator: Generator) => Promise<void>) => {
    const generator: Generator = new CachedGenerator(model, undefined, options);
    for (const tokens of warmed) await generator.warm(tokens);
    const start = performance.now();
    const result = await generator.generate(prompt, request);
    const ms = performance.now() - start;
    await after?.(generator);
    generator.cache.clear();
    const reused = warmed.length > 0 ? warmed[warmed.length - 1].length : 0;
    if (result.reused !== reused)
      throw new Error(`${name}: ${result.reused} tokens read from the cache, not ${reused}`);
    return ms;
  };
  // The decode step runs on the cold request's cached prompt (a long prefill is not repeated
  // for it): the prompt's last token again, one id read back.
  const steps: number[] = [];
  const decodeSteps = async (generator: Generator) => {
    const { entry, reused } = await generator.cache.acquire(prompt);
    try {
      if (reused < prompt.length - 1) throw new Error(`${name}: the cold request's prompt is not cached`);
      for (let i = 0; i < 5; i++) {
        entry.target.truncate(prompt.length - 1);
        const start = performance.now();
        await model.greedy(entry.target, prompt.slice(-1), 'last');
        steps.push(performance.now() - start);
      }
    } finally {
      generator.cache.release(entry, prompt);
    }
  };
  const coldMs = await ttft([], decodeSteps);
  const warmMs = await ttft([prefix]);
  const typeaheadMs = await ttft([prefix, prompt.slice(0, -TYPED_LEFT)]);
  return { coldMs, warmMs, typeaheadMs, stepMs: summarize(steps).median };
}

async function measureSubject(gpu: Gpu, subject: Subject, prefixes: number[]): Promise<LongPrefix[]> {
  const longest = Math.max(...prefixes) + QUESTION_TOKENS + 8;
  const model = await GpuModel.create(gpu, subject.config, subject.weights(), { maxContext: longest, maxBatch: 256 });
  const results: LongPrefix[] = [];
  try {
    for (const prefixTokens of prefixes) {
      const { coldMs, warmMs, typeaheadMs, stepMs } = await measurePrefix(model, subject.name, prefixTokens);
      const firstStep = results.length > 0 ? results[0].decode_step_ms : stepMs;
      results.push({
        shape: subject.name,
        prefix_tokens: prefixTokens,
        cold_ms: round(coldMs, 1),
        warm_ms: round(warmMs, 1),
        typeahead_ms: round(typeaheadMs, 1),
        warm_ratio: share(warmMs / coldMs),
        typeahead_ratio: share(typeaheadMs / coldMs),
        decode_step_ms: round(stepMs, 2),
        decode_step_ratio: round(stepMs / firstStep),
      });
    }
  } finally {
    model.destroy();
  }
  return results;
}

export async function runLongContext(gpu: Gpu, target: ModelFolder, quick: boolean): Promise<LongPrefix[]> {
  const subjects: Subject[] = [{ name: 'fixture target', config: target.config, weights: () => target.weights }];
  const llama = SHAPE_PAIRS.find((p) => p.target.name === 'Llama-3.2-1B')?.target;
  if (!quick && llama) {
    const dtype = llama.quantization === 'q4f16_1' ? 'Q4F16' : 'F16';
    subjects.push({ name: llama.name, config: llama.config, weights: () => timingWeights(llama.config, 1, dtype) });
  }
  const results: LongPrefix[] = [];
  for (const subject of subjects)
    results.push(...(await measureSubject(gpu, subject, quick ? [QUICK_PREFIX] : FULL_PREFIXES)));
  return results;
}
