/**
 * The reference of the GPU's sampled acceptance (kernels/accept_sampled.wgsl): the rule of
 * speculative/acceptance.ts over rows of logits, with the GPU's random numbers. The n-th number
 * the rule asks for is `gpuUniform(seed, n)`, the hash distribution.wgsl draws from, so for a
 * seed the reference and the kernel make the same choices (up to f32 rounding at a boundary).
 */

import { distribution, type SamplingParams, sampleToken } from '../sampling/sampling';
import { acceptOrResample } from '../speculative/acceptance';
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
 * The acceptance rule over the target's rows (k + 1, V) and the draft's (k, its width), for
 * drafts (target ids) drawn from the draft's rows; `draftToTarget` maps the draft's ids to the
 * target's (an EAGLE head's d2t; the identity without it).
 */
export function acceptSampledReference(
  targetRows: Float32Array,
  draftRows: Float32Array,
  drafts: readonly number[],
  sampling: SamplingParams,
  seed: number,
  draftToTarget?: ArrayLike<number>,
): { accepted: number; next: number } {
  const k = drafts.length;
  const vocab = targetRows.length / (k + 1);
  const width = draftRows.length / k;
  const rng = new GpuStream(seed);
  const row = (i: number) => targetRows.subarray(i * vocab, (i + 1) * vocab);
  for (let i = 0; i < k; i++) {
    const own = distribution(draftRows.subarray(i * width, (i + 1) * width), sampling);
    const q = draftToTarget ? new Float64Array(vocab) : own;
    if (draftToTarget) for (let j = 0; j < own.length; j++) q[draftToTarget[j]] = own[j];
    const verdict = acceptOrResample(distribution(row(i), sampling), q, drafts[i], rng);
    if (!verdict.accepted) return { accepted: i, next: verdict.token };
  }
  return { accepted: k, next: sampleToken(row(k), sampling, rng) };
}
