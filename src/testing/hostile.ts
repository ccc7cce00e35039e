/**
 * What the loader's fuzz tests share: a loaded model used as the engine would use it (prompt
 * ids inside the vocabulary, finite logits from the reference model), and the rule every
 * hostile input is held to: it loads and works, or fails with a named TandemError whose message
 * says something, within a time and a memory bound.
 */

import { expect } from 'vitest';
import { TandemError } from '../errors';
import type { ModelFolder } from '../loader/model-folder';
import { ReferenceModel } from '../ref/model';

/** Checks that `ids`, the loaded model's prompt, lie inside its vocabulary and give finite logits; frees the tokenizer. */
export function expectWorks(loaded: ModelFolder, ids: () => number[]): void {
  try {
    const prompt = ids();
    expect(prompt.length).toBeGreaterThan(0);
    for (const id of prompt) expect(id).toBeLessThan(loaded.config.vocabSize);
    const model = new ReferenceModel(loaded.config, loaded.weights);
    const logits = model.forwardSync(model.createSequence(prompt.length), prompt);
    expect(logits.length).toBe(prompt.length * loaded.config.vocabSize);
    expect(logits.every(Number.isFinite)).toBe(true);
  } finally {
    loaded.tokenizer.dispose();
  }
}

export interface HostileCase {
  /** What was changed, for messages. */
  what: string;
  /** Loads the input and uses it (expectWorks). */
  run: () => Promise<void>;
}

/**
 * Runs `count` cases from `next`, holding each to the rule above; returns how many loaded and
 * how many were refused with each error name.
 */
export async function runHostileCases(
  count: number,
  next: () => HostileCase,
  limits: { ms: number; bytes: number },
): Promise<{ loaded: number; refused: Map<string, number> }> {
  const outcomes = { loaded: 0, refused: new Map<string, number>() };
  for (let i = 0; i < count; i++) {
    const hostile = next();
    const started = performance.now();
    const memoryBefore = process.memoryUsage().rss;
    const error = await Promise.resolve()
      .then(hostile.run)
      .then(
        () => undefined,
        (e: Error) => e,
      );
    const label = `case ${i} (${hostile.what})`;
    if (error === undefined) outcomes.loaded++;
    else {
      // A failed expectation is an input that loaded and does not work: report it as itself.
      if (error.name === 'AssertionError') throw new Error(`${label} loaded but does not work: ${error.message}`);
      expect(error, `${label}: ${error.name}: ${error.message}`).toBeInstanceOf(TandemError);
      expect(error.message.length, label).toBeGreaterThan(20);
      outcomes.refused.set(error.name, (outcomes.refused.get(error.name) ?? 0) + 1);
    }
    expect(performance.now() - started, `${label} took too long`).toBeLessThan(limits.ms);
    expect(process.memoryUsage().rss - memoryBefore, `${label} used too much memory`).toBeLessThan(limits.bytes);
  }
  return outcomes;
}
