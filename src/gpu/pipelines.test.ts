/**
 * A pipeline's layout read from its shader: each buffer binding with the type its declaration
 * gives, so that bind groups made before the pipeline is compiled fit it.
 */

import { describe, expect, it } from 'vitest';
import { bindingEntries } from './pipelines';

describe('bindingEntries', () => {
  it('gives each buffer binding its type, in binding order', () => {
    const code = `
      @group(0) @binding(2) var<storage, read_write> y: array<f32>;
      @group(0) @binding(0) var<uniform> step: Step;
      @group(0)  @binding(1)  var<storage,read> x: array<vec4f>;
      @group(0) @binding(3) var<storage> w: array<u32>;`;
    expect(bindingEntries(code).map((e) => [e.binding, e.buffer?.type])).toEqual([
      [0, 'uniform'],
      [1, 'read-only-storage'],
      [2, 'storage'],
      [3, 'read-only-storage'],
    ]);
  });

  it('refuses a binding it cannot read', () => {
    expect(() => bindingEntries('@group(0) @binding(NORM_BINDING) var<storage, read> w: array<f32>;')).toThrow(
      /declares 1 bindings, 0 of them/,
    );
  });
});
