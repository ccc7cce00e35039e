/** Checks shared by the speculative decoding tests on the reference and on the GPU. */

import { expect } from 'vitest';
import type { CausalLM, Sequence } from '../model/types';
import { expectBitwiseEqual } from './compare';

/**
 * After speculative decoding over `context`, the target's cache must hold every token but the
 * newest, and both caches must give bit for bit the logits a fresh computation gives.
 */
export async function expectCachesFresh<S extends Sequence, D extends Sequence>(
  target: CausalLM<S>,
  targetSequence: S,
  draft: CausalLM<D>,
  draftSequence: D,
  context: number[],
) {
  const vocab = target.config.vocabSize;
  expect(targetSequence.length).toBe(context.length - 1);
  const cached = await target.forward(targetSequence, context.slice(-1));
  const fresh = await target.forward(target.createSequence(targetSequence.capacity), context);
  expectBitwiseEqual(cached, fresh.subarray(-vocab), 'target logits from the cache');
  const draftVocab = draft.config.vocabSize;
  const draftCached = await draft.forward(draftSequence, context.slice(draftSequence.length));
  const draftFresh = await draft.forward(draft.createSequence(draftSequence.capacity), context);
  expectBitwiseEqual(
    draftCached.subarray(-draftVocab),
    draftFresh.subarray(-draftVocab),
    'draft logits from the cache',
  );
}
