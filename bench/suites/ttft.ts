/**
 * Time-to-first-token suite: a system prompt of over 1,000 tokens and a user question, three
 * ways, interleaved in the same run:
 *   cold       nothing cached: the whole prompt is prefilled;
 *   warm       the system prompt was cached by an earlier request (or warmed when it was set);
 *   typeahead  the system prompt and all but the last few tokens of the question were warmed
 *              while the user typed: on submit only those tokens remain.
 * Also one decode step's time, which typed-ahead TTFT should approach.
 */

import { CachedGenerator } from '../../src/cache/cached-generator';
import { type GenerationParams, generateReply } from '../../src/engine/generation';
import type { Gpu } from '../../src/gpu/device';
import type { ModelFolder } from '../../src/loader/model-folder';
import { GpuModel, type GpuSequence } from '../../src/model/gpu-model';
import { GREEDY } from '../../src/sampling/sampling';
import { summarize } from '../stats';
import { round } from './kernels';

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
}

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
    stop: [],
    draft: 'none',
    draftLength: 1,
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
  const runs = quick ? 1 : 3;
  for (let i = 0; i < runs; i++) {
    cold.push(await ttftMs(new CachedGenerator(model, undefined, options)));

    const warmGenerator = new CachedGenerator<GpuSequence, GpuSequence>(model, undefined, options);
    await warmGenerator.warm(systemTokens);
    warm.push(await ttftMs(warmGenerator));

    const typingGenerator = new CachedGenerator<GpuSequence, GpuSequence>(model, undefined, options);
    await typingGenerator.warm(systemTokens);
    await typingGenerator.warm(typed);
    typeahead.push(await ttftMs(typingGenerator));
  }

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
  return {
    system_tokens: systemTokens.length,
    prompt_tokens: prompt.length,
    cold_ms: round(coldMs, 1),
    warm_ms: round(warmMs, 1),
    typeahead_ms: round(typeaheadMs, 1),
    warm_ratio: round(warmMs / coldMs),
    typeahead_ratio: round(typeaheadMs / coldMs),
    decode_step_ms: round(summarize(steps).median, 1),
  };
}
