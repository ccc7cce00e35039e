/**
 * An EAGLE head's speculative step on the GPU with one readback, as gpu-speculation.ts takes
 * one with a draft model: the head catches up on the target's features in one pass and drafts
 * its first token; each further draft step reads its own hidden state and the draft before it;
 * every draft id is mapped to the target's by d2t on the GPU (draft_to_target.wgsl) into the
 * list the target's verify pass reads; the acceptance kernels decide (greedy or sampled), and
 * the CPU waits once. The passes and the rules are the CPU path's.
 *
 * A step may draft a tree (speculative/tree.ts): at each of its first depths a second candidate
 * from the row the draft was chosen from (greedy, the head's runner-up: argmax.wgsl's RUNNER_UP;
 * sampling, a second draw without the first: sample.wgsl's WITHOUT_CHOSEN, on a random stream of
 * its own) is mapped into the list after the chain as a leaf; the target verifies the tree in
 * one pass, the acceptance kernel walks it (or, as the profile says, the CPU over the rows read
 * back), and an accepted leaf's keys and values move to its position.
 */

import { createUniform, STORAGE, uploadBuffer } from '../gpu/buffers';
import mapCode from '../kernels/draft_to_target.wgsl?raw';
import { ComputeKernel } from '../kernels/kernel';
import { ArgmaxKernel, SampleKernel } from '../kernels/ops';
import type { EagleSequence, EagleTarget } from './eagle';
import { GpuModel, type GpuSequence } from './gpu-model';
import {
  type DeviceStep,
  keepDraftRow,
  MAX_DEVICE_DRAFTS,
  prepareDeviceSteps,
  type SampledDeviceStep,
  type SampledStepOptions,
  sampledBuffers,
  stepBuffers,
  verifyOnDevice,
  verifySampledOnDevice,
} from './gpu-speculation';
import type { Sequence } from './types';

class DraftMapKernel extends ComputeKernel {
  constructor(device: GPUDevice) {
    super(device, 'draft to target', mapCode, {});
  }
  encode(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup) {
    this.dispatch(pass, bindGroup, 1);
  }
}

/**
 * What a head's device steps reuse, made at load: its d2t table and the kernel that reads it
 * (into the chain's slot `params` names, or the leaf's `leafParams` names), and the kernels that
 * choose a leaf over the head's one row: the runner-up (greedy), a second draw (sampling).
 */
interface HeadBuffers {
  params: GPUBuffer;
  leafParams: GPUBuffer;
  kernel: DraftMapKernel;
  bind: GPUBindGroup;
  leafBind: GPUBindGroup;
  oneRow: GPUBuffer; // a step uniform of one token: the runner-up's
  runnerUp: ArgmaxKernel;
  runnerUpBind: GPUBindGroup[];
  leafDrawStep: GPUBuffer; // a step uniform of one token whose start names the leaf draw's stream
  leafDraw: SampleKernel;
  leafDrawBind: GPUBindGroup;
}

/**
 * The random stream of the leaf drawn at depth i: sample.wgsl draws a pass's token at stream
 * (its position), which stays far below this, so a leaf's draw is independent of every chain draw.
 */
const LEAF_STREAM = 0x80000000;

const heads = new WeakMap<GpuModel, HeadBuffers>();

/**
 * Target and head of a device step, their sequences and buffers, and the catch-up's pairs, when
 * target and head are GPU models and the step fits (no logit rules, k within MAX_DEVICE_DRAFTS
 * and the batches, room in the caches, a catch-up of one pass); otherwise undefined.
 */
function eagleStepParts<S extends Sequence, H extends Sequence>(
  model: EagleTarget<S, H>,
  sequence: EagleSequence<S, H>,
  context: readonly number[],
  k: number,
  leaves = 0,
) {
  const [t, h] = [model.target, model.head];
  if (!(t instanceof GpuModel) || !(h instanceof GpuModel) || t.gpu.device !== h.gpu.device) return undefined;
  // GPU models: their sequences are GPU sequences.
  const [ts, hs] = [sequence.target as unknown as GpuSequence, sequence.head as unknown as GpuSequence];
  const { hidden } = hs.extra;
  if (!ts.extra.features || !hidden || ts.rules?.active) return undefined;
  const computed = ts.length; // the target holds every token but the newest
  const from = hs.length;
  const pending = context.slice(from + 1, computed + 1);
  const fits =
    k >= 1 &&
    k <= MAX_DEVICE_DRAFTS &&
    leaves >= 0 &&
    leaves <= k &&
    k + 1 + leaves <= t.maxBatch &&
    pending.length >= 1 &&
    pending.length <= h.maxBatch &&
    from + pending.length + k - 1 <= hs.capacity &&
    computed + k + 1 + leaves <= ts.capacity &&
    computed === context.length - 1;
  if (!fits) return undefined;
  const buffers = stepBuffers(t, h);
  const map = headBuffers(h, model.draftToTarget, buffers.drafts);
  const { queue } = t.gpu.device;
  /**
   * Appends to draft pass i the mapping of its id to the target's, into the list of drafts; at
   * a tree's depth (i < leaves), the leaf's too (the runner-up, or a second draw when
   * `sampled`), after the k drafts of the chain.
   */
  const mapTo = (i: number, sampled = false) => {
    // Before the pass's submit, after the last's.
    queue.writeBuffer(map.params, 0, Uint32Array.of(i, 0, 0, 0));
    if (i < leaves) {
      queue.writeBuffer(map.leafParams, 0, Uint32Array.of(k + i, 0, 0, 0));
      if (sampled) queue.writeBuffer(map.leafDrawStep, 0, Uint32Array.of(1, LEAF_STREAM + i, 0, 0));
    }
    return (encoder: GPUCommandEncoder) => {
      const pass = encoder.beginComputePass();
      map.kernel.encode(pass, map.bind);
      if (i < leaves) {
        if (sampled) map.leafDraw.encode(pass, map.leafDrawBind, 1);
        else map.runnerUp.encode(pass, map.runnerUpBind, 1);
        map.kernel.encode(pass, map.leafBind);
      }
      pass.end();
    };
  };
  /** Records the k draft passes, each choosing as `want` says, `after(i)` appended to pass i. */
  /** Grows both caches for the step before it is recorded (GpuModel.makeRoom): an out-of-memory leaves them as they were. */
  const makeRoom = async () => {
    await h.makeRoom(hs, from + pending.length + k - 1);
    await t.makeRoom(ts, computed + k + 1 + leaves);
  };
  const recordDrafts = (want: 'ids' | 'sample', after: (i: number) => (encoder: GPUCommandEncoder) => void) => {
    // The features' buffer as it is now: `makeRoom` may have grown the target's sequence.
    const features = ts.extra.features as GPUBuffer;
    const catchUp = { tokens: pending, hidden: { buffer: features, offset: from * t.config.hiddenSize * 4 } };
    h.recordPass(hs, catchUp, 1, want, after(0));
    for (let i = 1; i < k; i++) {
      const previous = { buffer: buffers.drafts, offset: (i - 1) * 4, count: 1 };
      h.recordPass(hs, { tokens: [], fromGpu: previous, hidden: { buffer: hidden, offset: 0 } }, 1, want, after(i));
    }
  };
  return { t, h, ts, buffers, mapTo, makeRoom, recordDrafts };
}

/**
 * A greedy step of k drafts by `model`'s head on the GPU, where it fits (eagleStepParts), with
 * a leaf beside each of the first `leaves` (a tree); otherwise undefined. Leaves the target's
 * sequence past the accepted tokens, as the usual step does before its rollback.
 */
export async function eagleStepOnDevice<S extends Sequence, H extends Sequence>(
  model: EagleTarget<S, H>,
  sequence: EagleSequence<S, H>,
  context: readonly number[],
  k: number,
  leaves = 0,
): Promise<DeviceStep | undefined> {
  const parts = eagleStepParts(model, sequence, context, k, leaves);
  if (!parts) return undefined;
  const { t, h, ts, buffers, mapTo, makeRoom, recordDrafts } = parts;
  const base = ts.length;
  return t.exclusive(() =>
    h.exclusive(async () => {
      await makeRoom();
      recordDrafts('ids', mapTo);
      const { accepted, next, leaf } = await verifyOnDevice(t, ts, buffers, context[context.length - 1], k, leaves);
      // An accepted leaf's keys and values, in its slot after the chain's, move to its position.
      if (leaf !== undefined) model.moveSlot(sequence, base + 1 + k + leaf, base + 1 + leaf);
      ts.tokens.set(accepted, context.length); // the CPU's record: the drafts were copied on the GPU
      return { accepted, next, drafted: k };
    }),
  );
}

/**
 * A sampled step of k drafts by `model`'s head with one readback, where it fits: the head draws
 * each token on the GPU (seeded from `options.rng`), and a second one beside each of the first
 * `leaves` (a tree), d2t maps them into the list the next draft step and the verify pass read,
 * and the acceptance rule runs over the head's rows (its own vocabulary, read through d2t) and
 * the target's, on the device or, as the profile says, on the CPU (gpu-speculation.ts has the
 * same for a draft model). An accepted leaf stays in its slot: the caller moves it. Otherwise
 * undefined.
 */
export async function eagleSampledStepOnDevice<S extends Sequence, H extends Sequence>(
  model: EagleTarget<S, H>,
  sequence: EagleSequence<S, H>,
  context: readonly number[],
  k: number,
  options: SampledStepOptions,
  leaves = 0,
): Promise<SampledDeviceStep | undefined> {
  const parts = eagleStepParts(model, sequence, context, k, leaves);
  if (!parts) return undefined;
  const { t, h, ts, buffers, mapTo, makeRoom, recordDrafts } = parts;
  const seed = options.rng.nextUint32();
  const rows = sampledBuffers(t, h, model.draftToTarget);
  return t.exclusive(() =>
    h.exclusive(async () => {
      await makeRoom();
      h.setSampling(options.sampling, seed);
      recordDrafts('sample', (i) => {
        const map = mapTo(i, true);
        return (encoder) => {
          map(encoder);
          keepDraftRow(h, rows, i)(encoder);
        };
      });
      return verifySampledOnDevice(t, ts, buffers.drafts, rows, h.config.vocabSize, context, k, options, leaves);
    }),
  );
}

/**
 * Makes a target and head's device-step buffers and kernels at load (gpu-speculation.ts:
 * `prepareDeviceSteps`), the head's own with them, so that the first step compiles nothing.
 */
export function prepareHeadSteps(target: GpuModel, head: GpuModel, draftToTarget: Uint32Array): void {
  prepareDeviceSteps(target, head, draftToTarget);
  headBuffers(head, draftToTarget, stepBuffers(target, head).drafts);
}

function headBuffers(head: GpuModel, draftToTarget: Uint32Array, drafts: GPUBuffer): HeadBuffers {
  let buffers = heads.get(head);
  if (!buffers) {
    const { device } = head.gpu;
    const params = createUniform(device, 16, 'draft map params');
    const leafParams = createUniform(device, 16, 'leaf map params');
    const map = uploadBuffer(device, draftToTarget, STORAGE, 'd2t');
    const kernel = new DraftMapKernel(device);
    const oneRow = createUniform(device, 16, 'runner-up step');
    device.queue.writeBuffer(oneRow, 0, Uint32Array.of(1, 0, 0, 0)); // kernels/step.ts: one token
    const { vocabSize } = head.config;
    const runnerUp = new ArgmaxKernel(device, vocabSize, 1, head.profile.rowWorkgroup, true);
    const leafDrawStep = createUniform(device, 16, 'leaf draw step');
    const leafDraw = new SampleKernel(device, vocabSize, head.profile.rowWorkgroup, true);
    buffers = {
      params,
      leafParams,
      kernel,
      bind: kernel.bindAll([params, head.idsBuffer, map, drafts]),
      leafBind: kernel.bindAll([leafParams, head.idsBuffer, map, drafts]),
      oneRow,
      runnerUp,
      runnerUpBind: runnerUp.bind({ step: oneRow, logits: head.logitsBuffer, ids: head.idsBuffer }),
      leafDrawStep,
      leafDraw,
      leafDrawBind: leafDraw.bind({
        step: leafDrawStep,
        params: head.samplingBuffer,
        logits: head.logitsBuffer,
        ids: head.idsBuffer,
      }),
    };
    heads.set(head, buffers);
  }
  return buffers;
}
