/** A load's progress line: model and file named, bytes, speed and time left. */

import { describe, expect, it } from 'vitest';
import { LoadProgress, shortName } from './load-progress';

describe('load progress', () => {
  it('names the model and file, and gives speed and time left once it can tell', () => {
    let now = 0;
    const progress = new LoadProgress(() => now);
    const file = (loaded: number) => ({ file: 'model.safetensors', loaded, total: 40 * 2 ** 20 });
    expect(progress.describe('/models/tandem-target', file(0))).toBe(
      'Loading tandem-target/model.safetensors: 0.0 of 40.0 MB',
    );
    now = 2000;
    expect(progress.describe('/models/tandem-target', file(8 * 2 ** 20))).toBe(
      'Loading tandem-target/model.safetensors: 8.0 of 40.0 MB, 4.0 MB/s, 8 s left',
    );
    // Another model's file of the same name is its own line and its own clock.
    expect(progress.describe('/models/tandem-draft', file(2 ** 20))).toBe(
      'Loading tandem-draft/model.safetensors: 1.0 of 40.0 MB',
    );
    now = 2000 + 600_000;
    expect(progress.describe('/models/tandem-draft', file(2 * 2 ** 20))).toMatch(/, 0\.0 MB\/s, 3 h \d+ min left$/);
  });

  it('names a catalogue folder by its repository', () => {
    expect(shortName('https://huggingface.co/mlc-ai/Llama-3.2-1B-Instruct-q4f16_1-MLC/resolve/main/')).toBe(
      'Llama-3.2-1B-Instruct-q4f16_1-MLC',
    );
  });
});
