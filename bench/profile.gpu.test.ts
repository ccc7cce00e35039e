/**
 * Every kernel-profile change `--profile` times beside the GPU profile (alternatives) still
 * computes the fixture target's golden logits: a run on a GPU server must not be the first
 * to build those models.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/device';
import { GPU_PROFILE } from '../src/kernels/profile';
import type { ModelFolder } from '../src/loader/model-folder';
import { GpuModel } from '../src/model/gpu-model';
import { expectClose } from '../src/testing/compare';
import { FIXTURES, loadFixture, loadGolden } from '../src/testing/fixtures';
import { testGpu } from '../src/testing/gpu';
import { alternatives, describeChange } from './profile';

const GOLDEN = { atol: 2e-3, rtol: 1e-3 };

let gpu: Gpu;
let target: ModelFolder;
beforeAll(async () => {
  gpu = await testGpu();
  target = await loadFixture(FIXTURES.target);
});

describe('--profile alternatives on the GPU profile', () => {
  it('each computes the golden logits of the fixture target', { timeout: 600_000 }, async () => {
    const { config, weights } = target;
    // The longest golden prompt (31 tokens): a chunk of 24 and a tile of the rest.
    const golden = loadGolden(FIXTURES.target).reduce((a, b) => (b.ids.length > a.ids.length ? b : a));
    expect(golden.ids.length).toBeGreaterThan(24);
    const changes = new Map(
      [1, 5, 64]
        .flatMap((tokens) => alternatives(GPU_PROFILE, tokens, config.headDim))
        .map((c) => [describeChange(c), c]),
    );
    expect([...changes.keys()]).toEqual([
      'fusedNorm: false',
      'twoRowsFrom: Infinity',
      'fourRowsMinThreads: Infinity',
      'minWorkgroups: 4096',
      'attentionFine: 0',
      'attentionGroupedFrom: 0',
      'tiles: 2,3, prefill: false',
      'prefill: false',
    ]);
    for (const [name, change] of changes) {
      const profile = { ...GPU_PROFILE, ...change };
      const model = await GpuModel.create(gpu, config, weights, {
        maxBatch: 24,
        maxContext: 256,
        profile,
        compile: 'on-first-use',
      });
      const sequence = model.createSequence(128);
      // In chunks of 24 and the rest: the prefill kernel (or not) and a token tile.
      const logits = await model.forward(sequence, golden.ids);
      expectClose(logits, golden.logits, GOLDEN, `${name}: logits`);
      sequence.release();
      model.destroy();
    }
  });
});
