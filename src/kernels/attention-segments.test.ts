/** Where split attention's segments lie: attention_segments.wgsl's count, as attention.ts sizes its grids and scratch. */

import { describe, expect, it } from 'vitest';
import { attentionSegments } from './attention';

describe('attention segments', () => {
  it('are one tile each up to the fine positions, then split wide', () => {
    // Tiles of 64 up to 2,048 positions, then segments of 512.
    const segments = (length: number) => attentionSegments(length, 512, 2048, 64);
    expect([1, 64, 65, 1024, 2048].map(segments)).toEqual([1, 1, 2, 16, 32]);
    expect([2049, 2560, 2561, 32768].map(segments)).toEqual([33, 33, 34, 92]);
  });

  it('are split wide throughout without fine positions', () => {
    expect([1, 512, 513, 32768].map((length) => attentionSegments(length, 512, 0, 64))).toEqual([1, 1, 2, 64]);
  });
});
