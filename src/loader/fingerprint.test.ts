/** A model's fingerprint: the same for the same folder, different when a weight, a type or the config differs. */

import { describe, expect, it } from 'vitest';
import { FIXTURES, loadFixture } from '../testing/fixtures';
import { modelFingerprint } from './fingerprint';

describe('model fingerprint', () => {
  it('names a checkpoint: stable across loads, changed by its weights, their type and its config', async () => {
    const a = await loadFixture(FIXTURES.target);
    const again = await loadFixture(FIXTURES.target);
    const f16 = await loadFixture(FIXTURES.targetF16);
    for (const folder of [a, again, f16]) folder.tokenizer.dispose();
    expect(a.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(again.fingerprint).toBe(a.fingerprint);
    expect(f16.fingerprint).not.toBe(a.fingerprint);

    const [name, tensor] = [...a.weights][3];
    const changed = new Map(a.weights);
    const data = Float32Array.from(tensor.data as Float32Array);
    data[data.length - 1] += 1e-3;
    changed.set(name, { ...tensor, data });
    expect(modelFingerprint(a.config, changed)).not.toBe(a.fingerprint);
    expect(modelFingerprint({ ...a.config, normEps: a.config.normEps * 2 }, a.weights)).not.toBe(a.fingerprint);
  });
});
