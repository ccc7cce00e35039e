/**
 * A greedy speculative step's verify on the GPU: the target's pass over the newest token and
 * the drafts in the pair's list (a tree pass when leaves follow the chain there), the
 * acceptance kernel after it (accept_greedy.wgsl: `acceptTree`'s walk), and the one readback of
 * the verdict and the drafts.
 */

import { InvalidLogitsError } from '../errors';
import { beginComputePass } from '../gpu/busy-timer';
import { NO_LEAF } from '../kernels/accept-greedy';
import type { GpuModel } from './gpu-model';
import type { GpuSequence } from './gpu-sequence';
import { type StepBuffers, VERDICT_WORDS } from './gpu-step-buffers';

/**
 * A verify pass over the newest token and k drafts (a tree pass with `ranks` leaves beside each
 * of the first `leaves`), with the acceptance kernel after it, recorded ahead into `into`.
 */
export function recordVerifyAhead(
  t: GpuModel,
  ts: GpuSequence,
  buffers: StepBuffers,
  k: number,
  maxStart: number,
  into: GPUCommandEncoder,
  leaves = 0,
  ranks = 1,
) {
  const drafts = k + leaves * ranks;
  const fromGpu = { buffer: buffers.drafts, offset: 0, count: drafts };
  const tree = leaves > 0 ? { tree: { chain: k + 1, depths: leaves } } : {};
  const input = { cpuTokens: 1, fromGpu, slot: 0, into, ...tree };
  return t.recordAhead(ts, input, drafts + 1, maxStart, acceptAndCopy(t, buffers, drafts));
}

/**
 * Records the target's verify pass over the newest token and the k drafts in `buffers.drafts`
 * (a tree pass when leaves follow them there: `ranks` of them beside each of the first `leaves`
 * drafts), and the acceptance kernel after it (call inside the models' `exclusive`); `verdict`
 * then waits for the result.
 */
export function recordVerify(
  t: GpuModel,
  ts: GpuSequence,
  buffers: StepBuffers,
  last: number,
  k: number,
  leaves = 0,
  ranks = 1,
) {
  const drafts = k + leaves * ranks;
  writeAcceptGreedyParams(t, buffers, k, leaves, ranks);
  const input = {
    tokens: [last],
    fromGpu: { buffer: buffers.drafts, offset: 0, count: drafts },
    ...(leaves > 0 ? { tree: { chain: k + 1, depths: leaves } } : {}),
  };
  t.recordGreedy(ts, input, drafts + 1, acceptAndCopy(t, buffers, drafts));
}

/** The greedy acceptance kernel's uniform: k drafts in a chain, `ranks` leaves beside each of the first `leaves`. */
export function writeAcceptGreedyParams(t: GpuModel, buffers: StepBuffers, k: number, leaves = 0, ranks = 1) {
  const words = buffers.paramsWords;
  // The uniform keeps what was written last: a step shaped as the one before writes nothing.
  if (words[0] === k && words[1] === leaves && words[2] === ranks) return;
  words.set([k, leaves, ranks, 0]);
  t.gpu.device.queue.writeBuffer(buffers.params, 0, words);
}

/** After a verify pass over `drafts` drafts: the acceptance kernel, then the verdict and the drafts copied to the readback. */
function acceptAndCopy(t: GpuModel, buffers: StepBuffers, drafts: number) {
  return (encoder: GPUCommandEncoder) => {
    const pass = beginComputePass(t.gpu, encoder);
    buffers.accept.encode(pass, buffers.bind);
    pass.end();
    encoder.copyBufferToBuffer(buffers.drafts, 0, buffers.result, VERDICT_WORDS * 4, drafts * 4);
    encoder.copyBufferToBuffer(buffers.result, 0, buffers.readback, 0, (VERDICT_WORDS + drafts) * 4);
  };
}

/**
 * Waits once for a verify pass's verdict (`recordVerify`) and checks it. An accepted leaf's slot
 * among the leaves comes back as `leaf`: its keys and values are still there, after the chain's.
 */
export async function verdict(
  t: GpuModel,
  buffers: StepBuffers,
  k: number,
  leaves = 0,
  ranks = 1,
): Promise<{ accepted: number[]; next: number; leaf?: number }> {
  const drafts = k + leaves * ranks;
  const words = new Uint32Array(await t.readBack(buffers.readback, (VERDICT_WORDS + drafts) * 4));
  const [count, next, leaf] = words;
  const list = words.subarray(VERDICT_WORDS);
  const tookLeaf = leaf !== NO_LEAF;
  if (
    count > k ||
    (tookLeaf && (leaf >= leaves * ranks || count !== (leaf % leaves) + 1)) ||
    next >= t.config.vocabSize ||
    list.some((id) => id >= t.config.vocabSize)
  ) {
    throw new InvalidLogitsError(
      'The model produced logits that are not numbers (NaN), so no token can be chosen: its weights may be ' +
        'damaged (load it again), or its activations overflow.',
    );
  }
  if (!tookLeaf) return { accepted: Array.from(list.subarray(0, count)), next };
  return { accepted: [...list.subarray(0, count - 1), list[k + leaf]], next, leaf };
}
