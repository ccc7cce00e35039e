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
import type { Gpu } from '../../src/gpu/device';
import type { ModelFolder } from '../../src/loader/model-folder';
import { GpuModel } from '../../src/model/gpu-model';
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
  const prompt = tokenizer.encodePrompt(
    tokenizer.applyChatTemplate([
      { role: 'system', content: system },
      { role: 'user', content: question },
    ]),
  );
  const systemTokens = tokenizer.encodePrompt(
    tokenizer.applyChatTemplate([{ role: 'system', content: system }], false),
  );
  const typed = prompt.slice(0, prompt.length - 4); // the question as typed, before its last words
  const capacity = prompt.length + 8;
  const model = await GpuModel.create(gpu, target.config, target.weights, { maxContext: capacity, maxBatch: 128 });
  const options = { capacity, budgetBytes: 256 << 20 };
  const request = { maxTokens: 1, sampling: GREEDY, draft: 'none' as const, draftLength: 1, fallback: false };

  const cold: number[] = [];
  const warm: number[] = [];
  const typeahead: number[] = [];
  const runs = quick ? 1 : 3;
  for (let i = 0; i < runs; i++) {
    const coldGenerator = new CachedGenerator(model, undefined, options);
    cold.push((await coldGenerator.generate(prompt, request)).usage.ttft_ms);
    coldGenerator.cache.clear();

    const warmGenerator = new CachedGenerator(model, undefined, options);
    await warmGenerator.warm(systemTokens);
    warm.push((await warmGenerator.generate(prompt, request)).usage.ttft_ms);
    warmGenerator.cache.clear();

    const typingGenerator = new CachedGenerator(model, undefined, options);
    await typingGenerator.warm(systemTokens);
    await typingGenerator.warm(typed);
    typeahead.push((await typingGenerator.generate(prompt, request)).usage.ttft_ms);
    typingGenerator.cache.clear();
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
