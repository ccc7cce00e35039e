/**
 * Time-to-first-token suite: a system prompt of over 1,000 tokens and a user question, three
 * ways, interleaved in the same run:
 *   cold       nothing cached: the whole prompt is prefilled;
 *   warm       the system prompt was cached by an earlier request (or warmed when it was set);
 *   typeahead  the system prompt and all but the last few tokens of the question were warmed
 *              while the user typed: on submit only those tokens remain.
 *   restored   the system prompt was stored on disk by an earlier page (the prefix store): the
 *              request reads its rows (checked by SHA-256) instead of computing them.
 * Also one decode step's time, which typed-ahead TTFT should approach, the same cold and
 * restored comparison on a real checkpoint's shape (random weights: the timings are real), and
 * prefixes of up to 32k tokens (long-context.ts).
 */

import { CachedGenerator } from '../../src/cache/cached-generator';
import { type FileDirectory, originDirectory } from '../../src/cache/file-directory';
import { kvBytes } from '../../src/cache/prefix-cache';
import { PrefixStore } from '../../src/cache/prefix-store';
import { type GenerationParams, generateReply } from '../../src/engine/generation';
import type { Gpu } from '../../src/gpu/device';
import type { ModelFolder } from '../../src/loader/model-folder';
import { GpuModel } from '../../src/model/gpu-model';
import type { GpuSequence } from '../../src/model/gpu-sequence';
import { timingWeights } from '../../src/model/random-weights';
import { GREEDY } from '../../src/sampling/sampling';
import { Rng } from '../../src/util/rng';
import { QUICK_PAIRS, SHAPE_PAIRS, type Shape } from '../shapes';
import { summarize } from '../stats';
import { round, share } from './kernels';
import { type LongPrefix, runLongContext } from './long-context';

export interface TtftResults {
  system_tokens: number;
  prompt_tokens: number;
  cold_ms: number;
  warm_ms: number;
  typeahead_ms: number;
  /** warm_ms / cold_ms */
  warm_ratio: number;
  /** typeahead_ms / cold_ms */
  typeahead_ratio: number;
  /** One plain decode step at the end of the prompt, for comparison with typeahead_ms. */
  decode_step_ms: number;
  /** The system prompt read from the prefix store on disk, as after a reload. */
  restored_ms: number;
  /** restored_ms / cold_ms */
  restored_ratio: number;
  /** Cold and restored on a real checkpoint's shape: Llama-3.2-1B (SmolLM2-135M in quick runs). */
  shape: ShapeRestore;
  /** Prefixes of 1k, 8k and 32k tokens (bench/suites/long-context.ts). */
  long: LongPrefix[];
}

export interface ShapeRestore {
  name: string;
  /** Tokens of the stored prefix; the request adds a question of QUESTION_TOKENS after them. */
  prefix_tokens: number;
  cold_ms: number;
  restored_ms: number;
  restored_ratio: number;
}

/** Tokens of the question after a real shape's stored prefix. */
const QUESTION_TOKENS = 16;

/** A long system prompt in the fixtures' own style: house rules and example stories. */
export function longSystemPrompt(minTokens: number, folder: ModelFolder): string {
  const names = ['Lily', 'Tom', 'Mia', 'Ben', 'Sara', 'Max', 'Anna', 'Leo', 'Zoe', 'Sam'];
  const animals = ['cat', 'dog', 'bird', 'rabbit', 'fox', 'bear', 'duck', 'mouse', 'frog', 'owl'];
  let text = 'You are a kind teacher who tells simple stories. Here are stories you told before.';
  for (let i = 0; folder.tokenizer.encode(text).length < minTokens; i++) {
    const name = names[i % names.length];
    const animal = animals[(i * 3) % animals.length];
    text +=
      ` Once upon a time, there was a little ${animal} named ${name}. ${name} lived in a small house near the river.` +
      ` Every day, ${name} liked to play in the sun. ${name} was very happy. The end.`;
  }
  return text;
}

/** A folder for the prefix store: the origin's private file system in a page, a temporary folder in Node. */
async function scratchStore(): Promise<{ directory: FileDirectory; remove(): Promise<void> }> {
  const origin = await originDirectory('tandem-bench-prefixes');
  if (!origin) return (await import('../../src/cache/node-directory')).scratchFolder('tandem-bench-');
  const remove = async () => {
    for (const name of await origin.names()) await origin.remove(name);
  };
  await remove();
  return { directory: origin, remove };
}

/** Computes `prefix` once and stores it, as an earlier page would have. */
async function storePrefix(model: GpuModel, directory: FileDirectory, prefix: number[], capacity: number) {
  const store = new PrefixStore(directory, { model: 'bench', modelName: 'bench' });
  const generator = new CachedGenerator(model, undefined, { capacity, budgetBytes: kvBytes(model, capacity), store });
  await generator.warm(prefix);
  await store.flush();
  generator.cache.clear();
}

/** A generator as a new page makes it: nothing in memory, the store on disk read afresh. */
const reloaded = (model: GpuModel, directory: FileDirectory, capacity: number) =>
  new CachedGenerator<GpuSequence, GpuSequence>(model, undefined, {
    capacity,
    budgetBytes: kvBytes(model, capacity),
    store: new PrefixStore(directory, { model: 'bench', modelName: 'bench' }),
  });

/** Time to first token cold and with the prefix read from disk, on a real checkpoint's shape. */
async function shapeRestore(gpu: Gpu, shape: Shape, prefixTokens: number, runs: number): Promise<ShapeRestore> {
  const { config } = shape;
  const dtype = shape.quantization === 'q4f16_1' ? 'Q4F16' : 'F16';
  const capacity = prefixTokens + QUESTION_TOKENS + 8;
  const model = await GpuModel.create(gpu, config, timingWeights(config, 1, dtype), {
    maxContext: capacity,
    maxBatch: 128,
  });
  const rng = new Rng(3);
  const prompt = Array.from({ length: prefixTokens + QUESTION_TOKENS }, () => rng.int(0, config.vocabSize));
  const scratch = await scratchStore();
  try {
    await storePrefix(model, scratch.directory, prompt.slice(0, prefixTokens), capacity);
    const request = { maxTokens: 1, sampling: GREEDY, draft: 'none' as const, draftLength: 1 };
    const ttft = async (generator: CachedGenerator<GpuSequence, GpuSequence>, restored: number) => {
      const start = performance.now();
      const result = await generator.generate(prompt, request);
      const ms = performance.now() - start;
      generator.cache.clear();
      if (result.restored !== restored)
        throw new Error(`${shape.name}: ${result.restored} tokens read from disk, not ${restored}`);
      return ms;
    };
    const cold: number[] = [];
    const restored: number[] = [];
    for (let i = 0; i < runs; i++) {
      cold.push(
        await ttft(new CachedGenerator(model, undefined, { capacity, budgetBytes: kvBytes(model, capacity) }), 0),
      );
      restored.push(await ttft(reloaded(model, scratch.directory, capacity), prefixTokens));
    }
    const coldMs = summarize(cold).median;
    const restoredMs = summarize(restored).median;
    return {
      name: shape.name,
      prefix_tokens: prefixTokens,
      cold_ms: round(coldMs, 1),
      restored_ms: round(restoredMs, 1),
      restored_ratio: round(restoredMs / coldMs),
    };
  } finally {
    await scratch.remove();
    model.destroy();
  }
}

export async function runTtftSuite(gpu: Gpu, target: ModelFolder, quick: boolean): Promise<TtftResults> {
  const { tokenizer } = target;
  const system = longSystemPrompt(1024, target);
  const question = 'Please tell me a story about a brave fox named Leo who finds a magic map.';
  const prompt = tokenizer.encodeChat([
    { role: 'system', content: system },
    { role: 'user', content: question },
  ]);
  const systemTokens = tokenizer.encodeChat([{ role: 'system', content: system }], false);
  const typed = prompt.slice(0, prompt.length - 4); // the question as typed, before its last words
  const capacity = prompt.length + 8;
  const model = await GpuModel.create(gpu, target.config, target.weights, { maxContext: capacity, maxBatch: 128 });
  const options = { capacity, budgetBytes: 256 << 20 };
  const params: GenerationParams = {
    maxTokens: 1,
    sampling: GREEDY,
    seed: 0,
    seeded: true,
    stop: [],
    draft: 'none',
    draftLength: 1,
    draftTree: 0,
    draftTreeWidth: 1,
    keep: 0,
  };
  /** The request pipeline's time to first token for `prompt` through `generator`. */
  const ttftMs = async (generator: CachedGenerator<GpuSequence, GpuSequence>) => {
    const reply = await generateReply(generator, target, prompt, params);
    generator.cache.clear();
    return reply.usage.extra.time_to_first_token_s * 1000;
  };

  const cold: number[] = [];
  const warm: number[] = [];
  const typeahead: number[] = [];
  const restored: number[] = [];
  const runs = quick ? 1 : 3;
  const scratch = await scratchStore();
  await storePrefix(model, scratch.directory, systemTokens, capacity);
  for (let i = 0; i < runs; i++) {
    cold.push(await ttftMs(new CachedGenerator(model, undefined, options)));

    const warmGenerator = new CachedGenerator<GpuSequence, GpuSequence>(model, undefined, options);
    await warmGenerator.warm(systemTokens);
    warm.push(await ttftMs(warmGenerator));

    const typingGenerator = new CachedGenerator<GpuSequence, GpuSequence>(model, undefined, options);
    await typingGenerator.warm(systemTokens);
    await typingGenerator.warm(typed);
    typeahead.push(await ttftMs(typingGenerator));

    const fromDisk = reloaded(model, scratch.directory, capacity);
    const reply = await generateReply(fromDisk, target, prompt, params);
    fromDisk.cache.clear();
    if (reply.usage.prompt_tokens_details.disk_tokens !== systemTokens.length) {
      throw new Error(
        `ttft: ${reply.usage.prompt_tokens_details.disk_tokens} tokens read from disk, not ${systemTokens.length}`,
      );
    }
    restored.push(reply.usage.extra.time_to_first_token_s * 1000);
  }
  await scratch.remove();

  const sequence = model.createSequence(capacity);
  await model.greedy(sequence, prompt, 'last');
  const steps: number[] = [];
  for (let i = 0; i < 5; i++) {
    sequence.truncate(prompt.length - 1);
    const start = performance.now();
    await model.greedy(sequence, prompt.slice(-1), 'last');
    steps.push(performance.now() - start);
  }
  sequence.release();
  model.destroy();

  const coldMs = summarize(cold).median;
  const warmMs = summarize(warm).median;
  const typeaheadMs = summarize(typeahead).median;
  const restoredMs = summarize(restored).median;
  // Llama-3.2-1B with the fixture's prefix length; quick runs take the smallest real shape.
  const shape = quick
    ? QUICK_PAIRS[0].draft
    : (SHAPE_PAIRS.find((p) => p.target.name === 'Llama-3.2-1B')?.target as Shape);
  return {
    system_tokens: systemTokens.length,
    prompt_tokens: prompt.length,
    cold_ms: round(coldMs, 1),
    warm_ms: round(warmMs, 1),
    typeahead_ms: round(typeaheadMs, 1),
    warm_ratio: share(warmMs / coldMs),
    typeahead_ratio: share(typeaheadMs / coldMs),
    decode_step_ms: round(summarize(steps).median, 1),
    restored_ms: round(restoredMs, 1),
    restored_ratio: round(restoredMs / coldMs),
    shape: await shapeRestore(gpu, shape, quick ? 64 : systemTokens.length, runs),
    long: await runLongContext(gpu, target, quick),
  };
}
