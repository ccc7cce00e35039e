/** The summary of a CPU profile: self time by function, a function's nodes added up, most first. */

import { describe, expect, it } from 'vitest';
import { selfTimes } from './cpu-profile';

describe('selfTimes', () => {
  it("adds up each function's samples over its nodes and orders them by self time", () => {
    const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)') },
        { id: 2, callFrame: frame('encode', 'file:///src/model/gpu-model.ts', 1008) },
        { id: 3, callFrame: frame('setBindGroup') },
        { id: 4, callFrame: frame('encode', 'file:///src/model/gpu-model.ts', 1008) }, // another call path
        { id: 5, callFrame: frame('(garbage collector)') },
      ],
      samples: [2, 3, 3, 4, 5, 2, 3],
      timeDeltas: [100, 100, 100, 300, 200, 100, 100],
    };
    expect(selfTimes(profile)).toEqual([
      { name: 'encode gpu-model.ts:1009', ms: 0.5, share: 0.5 },
      { name: 'setBindGroup', ms: 0.3, share: 0.3 },
      { name: '(garbage collector)', ms: 0.2, share: 0.2 },
    ]);
  });
});
