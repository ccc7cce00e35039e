/** The attention choices the kernel suite times beside the profile's, by context. */

import { describe, expect, it } from 'vitest';
import { CPU_PROFILE, GPU_PROFILE } from '../src/kernels/profile';
import { attentionVariants } from './suites/attention';

describe('attention timings', () => {
  it("time a GPU's heads grouped short of where the profile groups them, apart past it, and half-length segments past the one-tile ones", () => {
    const names = (length: number) => attentionVariants(GPU_PROFILE, length).map((v) => v.variant);
    expect(names(1025)).toEqual(['profile', 'heads grouped']);
    expect(names(8193)).toEqual(['profile', 'heads apart', `segments of ${GPU_PROFILE.attentionSplit / 2}`]);
    expect(attentionVariants(GPU_PROFILE, 32769)[1].change).toEqual({ attentionGroupedFrom: Number.POSITIVE_INFINITY });
  });

  it("time a CPU adapter's serial kernel alone", () => {
    expect(attentionVariants(CPU_PROFILE, 32769)).toEqual([{ variant: 'profile', change: {} }]);
  });
});
