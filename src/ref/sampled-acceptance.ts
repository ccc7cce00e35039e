/**
 * The reference of the GPU's sampled acceptance (kernels/accept_sampled.wgsl): the rule of
 * speculative/acceptance.ts over rows of logits, a chain's or a tree's (speculative/tree.ts),
 * with the GPU's random numbers. The n-th number
 * the rule asks for is `gpuUniform(seed, n)`, the hash distribution.wgsl draws from, so for a
 * seed the reference and the kernel make the same choices (up to f32 rounding at a boundary).
 */

import { distribution, type SamplingParams } from '../sampling/sampling';
import { acceptSampledTree, type TreeDraft, type TreeVerdict } from '../speculative/tree';
import { Rng } from '../util/rng';

/** The PCG hash of distribution.wgsl. */
function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** distribution.wgsl's `uniform01(seed, stream)`: 24 random bits in [0, 1). */
export function gpuUniform(seed: number, stream: number): number {
  return (pcg((seed ^ pcg(stream)) >>> 0) >>> 8) / 16777216;
}

/** An Rng whose n-th number is `gpuUniform(seed, n)`. */
class GpuStream extends Rng {
  private n = 0;
  constructor(private readonly seed: number) {
    super(0);
  }
  override next(): number {
    return gpuUniform(this.seed, this.n++);
  }
  override nextUint32(): number {
    return Math.floor(this.next() * 4294967296);
  }
}

/**
 * The acceptance rule over the target's rows (k + 1 + leaves, V) and the draft's (k, its width),
 * for drafts (target ids: the chain, then a tree's leaves) drawn from the draft's rows;
 * `draftToTarget` maps the draft's ids to the target's (an EAGLE head's d2t; the identity
 * without it). The verdict is speculative/tree.ts's, with the GPU's random numbers.
 */
export function acceptSampledReference(
  targetRows: Float32Array,
  draftRows: Float32Array,
  tree: TreeDraft,
  sampling: SamplingParams,
  seed: number,
  draftToTarget?: ArrayLike<number>,
): TreeVerdict {
  const k = tree.chain.length;
  const vocab = targetRows.length / (k + 1 + tree.leaves.flat().length);
  const width = draftRows.length / k;
  const row = (i: number) => targetRows.subarray(i * vocab, (i + 1) * vocab);
  const probsOf = (i: number) => {
    const own = distribution(draftRows.subarray(i * width, (i + 1) * width), sampling);
    if (!draftToTarget) return own;
    const q = new Float64Array(vocab);
    for (let j = 0; j < own.length; j++) q[draftToTarget[j]] = own[j];
    return q;
  };
  return acceptSampledTree(row, tree, probsOf, sampling, new GpuStream(seed));
}
