/**
 * A pair loads ready to speculate: every pipeline its speculative steps dispatch (the models'
 * own, the acceptance kernels, an EAGLE head's d2t map and leaf ranks) is compiled while it
 * loads, so that no step of a reply waits for a shader compiler. A pipeline compiled when
 * first dispatched is made by the blocking createComputePipeline, which this file counts; it
 * runs in a process of its own (and so a device of its own), so no other test has compiled
 * anything before it.
 */

import { describe, expect, it } from 'vitest';
import { kernelProfile } from '../kernels/profile';
import { directorySource } from '../loader/node-source';
import { GREEDY } from '../sampling/sampling';
import { draftSource } from '../speculative/draft-source';
import { speculativeGenerate } from '../speculative/speculative';
import { EAGLE_FIXTURE, FIXTURES, fixturePath, loadGolden } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { destroyPair, loadPair } from './pair';

describe('a pair on the GPU', () => {
  it('compiles at load every pipeline its greedy and sampled steps dispatch, with a draft model and with an EAGLE head', {
    timeout: 300_000,
  }, async () => {
    const gpu = await testGpu();
    const prompt = loadGolden(FIXTURES.target)[0].ids;
    // The adapter's profile, with the sampled rule on the device (a software adapter's runs on
    // the CPU) so that its kernels are there to compile. (The GPU profile's many step shapes
    // take SwiftShader most of a minute to compile.)
    const options = { maxContext: 256, profile: { ...kernelProfile(gpu.info), deviceAcceptance: true } };
    for (const draft of [FIXTURES.draft, EAGLE_FIXTURE]) {
      const pair = await loadPair(
        gpu,
        { target: directorySource(fixturePath(FIXTURES.target)), draft: directorySource(fixturePath(draft)) },
        options,
      );
      const compiled: string[] = [];
      const compile = gpu.device.createComputePipeline.bind(gpu.device);
      gpu.device.createComputePipeline = (descriptor) => {
        compiled.push(descriptor.label ?? 'unlabelled');
        return compile(descriptor);
      };
      try {
        for (const sampling of [GREEDY, { temperature: 0.7, topK: 0, topP: 0.95 }]) {
          const options = { maxTokens: 24, sampling, seed: 5, draftLength: 4, fallback: false } as const;
          if (pair.eagle) {
            const sequence = pair.eagle.model.createSequence(256);
            const source = draftSource('eagle', undefined, { model: pair.eagle.model, sequence });
            await speculativeGenerate(pair.eagle.model, sequence, source, prompt, options);
            sequence.release();
          } else {
            const target = { model: pair.target.model, sequence: pair.target.model.createSequence(256) };
            const draftModel = pair.draft?.model as NonNullable<typeof pair.draft>['model'];
            const source = draftSource(
              'model',
              { model: draftModel, sequence: draftModel.createSequence(256) },
              target,
            );
            await speculativeGenerate(target.model, target.sequence, source, prompt, options);
            target.sequence.release();
          }
        }
      } finally {
        gpu.device.createComputePipeline = compile;
        destroyPair(pair);
      }
      expect(compiled, `${draft}: pipelines compiled during its steps`).toEqual([]);
    }
  });
});
