/**
 * The reference forward pass against the golden outputs of the independent PyTorch
 * implementation (scripts/fixtures/model.py), for every fixture: f32, f16 and bf16 weights,
 * the draft, and the Qwen2-style variant (tied embeddings, q/k/v biases).
 *
 * Tolerance: PyTorch sums in float32, the reference in float64; over these model sizes the
 * logits (magnitudes up to ~30) differ by ~1e-5, so atol 2e-3 + rtol 1e-3 is a wide margin
 * that still catches any real error (a wrong RoPE pairing moves logits by whole units).
 */

import { describe, expect, it } from 'vitest';
import { generate } from '../model/generate';
import { GREEDY } from '../sampling/sampling';
import { expectBitwiseEqual, expectClose } from '../testing/compare';
import { FIXTURES, loadFixture, loadGolden } from '../testing/fixtures';
import { ReferenceModel } from './model';

const TOLERANCE = { atol: 2e-3, rtol: 1e-3 };

describe.each(Object.values(FIXTURES))('reference model on %s', (name) => {
  it('matches the golden logits at every position of every prompt', async () => {
    const folder = await loadFixture(name);
    folder.tokenizer.dispose();
    const model = new ReferenceModel(folder.config, folder.weights);
    for (const golden of loadGolden(name)) {
      const sequence = model.createSequence(256);
      const logits = await model.forward(sequence, golden.ids);
      expectClose(logits, golden.logits, TOLERANCE, `${name} logits of "${golden.text.slice(0, 30)}..."`);
    }
  });

  it('continues each prompt greedily exactly as PyTorch does', async () => {
    const folder = await loadFixture(name);
    folder.tokenizer.dispose();
    const model = new ReferenceModel(folder.config, folder.weights);
    for (const golden of loadGolden(name)) {
      const sequence = model.createSequence(256);
      const tokens = await generate(model, sequence, golden.ids, {
        maxTokens: golden.greedyIds.length,
        sampling: GREEDY,
      });
      expect(tokens).toEqual(golden.greedyIds);
    }
  });
});

describe('reference KV cache', () => {
  it('truncating and running again gives exactly the logits of a fresh computation', async () => {
    const folder = await loadFixture(FIXTURES.target);
    folder.tokenizer.dispose();
    const model = new ReferenceModel(folder.config, folder.weights);
    const { ids } = loadGolden(FIXTURES.target)[0];
    const vocab = folder.config.vocabSize;
    const fresh = await model.forward(model.createSequence(128), ids);

    const sequence = model.createSequence(128);
    await model.forward(sequence, ids);
    await model.forward(sequence, [5, 6, 7]); // tokens that will be rolled back
    sequence.truncate(ids.length - 2);
    const again = await model.forward(sequence, ids.slice(-2));
    expectBitwiseEqual(again, fresh.subarray(-2 * vocab), 'logits after truncate');
  });
});
