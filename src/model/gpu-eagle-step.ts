/**
 * An EAGLE head's speculative step on the GPU with one readback, as gpu-speculation.ts takes
 * one with a draft model: the head catches up on the target's features in one pass and drafts
 * its first token; each further draft step reads its own hidden state and the draft before it;
 * every draft id is mapped to the target's by d2t on the GPU (draft_to_target.wgsl) into the
 * list the target's verify pass reads; the acceptance kernels decide (greedy or sampled), and
 * the CPU waits once. The passes and the rules are the CPU path's.
 *
 * A step may draft a tree (speculative/tree.ts): at each of its first depths further candidates
 * from the row the draft was chosen from, rank by rank (greedy, the head's runners-up:
 * argmax.wgsl with RANK r; sampling, further draws without the ones before: sample.wgsl with
 * RANK r, each on a random stream of its own) are mapped into the list after the chain as
 * leaves; the target verifies the tree in one pass, the acceptance kernel walks it (or, as the
 * profile says, the CPU over the rows read back), and an accepted leaf's keys and values move
 * to its position.
 *
 * A step, greedy or sampled, chain or tree, records the next one while the GPU runs it
 * (gpu-speculation.ts): its catch-up over the last k + 1 pairs, reading their features at the
 * head's start on the GPU, and its leaves' kernels, whose uniforms each pass copies from tables
 * at its start.
 */

import { createUniform, STORAGE, uploadBuffer } from '../gpu/buffers';
import { beginComputePass } from '../gpu/busy-timer';
import { collectPipelines, compilePipelines } from '../gpu/pipelines';
import { DRAFT_TO_TARGET_PARAMS_BYTES, DraftToTargetKernel } from '../kernels/draft-to-target';
import { ArgmaxKernel, SampleKernel } from '../kernels/ops';
import { MAX_TREE_WIDTH } from '../speculative/tree';
import type { EagleSequence, EagleTarget } from './eagle';
import { recordVerify, recordVerifyAhead, verdict } from './gpu-greedy-verify';
import { GpuModel } from './gpu-model';
import {
  keepDraftRow,
  recordSampledVerify,
  recordSampledVerifyAhead,
  type SampledDeviceStep,
  type SampledStepOptions,
  type SampledVerify,
  sampledBuffers,
  sampledVerdict,
  sampledVerify,
  sampledVerifyOf,
  writeSampledRule,
} from './gpu-sampled-verify';
import type { GpuSequence } from './gpu-sequence';
import { makeDeviceSteps } from './gpu-speculation';
import { bothRecordAhead, keepAhead, serves, submitAhead, takeAhead } from './gpu-step-ahead';
import { type DeviceStep, MAX_DEVICE_DRAFTS, MAX_DEVICE_LIST, type StepLengths, stepBuffers } from './gpu-step-buffers';
import type { Sequence } from './types';

/**
 * What a head's device steps reuse, made at load: its d2t table and the kernel that reads it
 * (the chain's draft into the slot its `params` name), and for each rank of leaves the kernels
 * that choose it over the head's one row (the next runner-up when greedy, a further draw when
 * sampling: written to ids[rank]) and map it into the slot its own `params` name. Those uniforms
 * are copied from tables at each pass's start, never written between passes: the passes of a
 * step, submitted together (a step recorded ahead), each read their own.
 */
interface HeadBuffers {
  params: GPUBuffer; // the chain's map: the draft's slot in the list
  /** Records the copy of a map's uniform: the id chosen as `rank` (0: the chain's draft) into list slot `slot`. */
  toSlot(encoder: GPUCommandEncoder, params: GPUBuffer, slot: number, rank: number): void;
  /** Records the copy of rank r's draw uniform at draft depth i: a step of one token whose start names its random stream. */
  toStream(encoder: GPUCommandEncoder, drawStep: GPUBuffer, r: number, i: number): void;
  kernel: DraftToTargetKernel;
  bind: GPUBindGroup;
  ranks: LeafRank[];
}

interface LeafRank {
  params: GPUBuffer; // the map's: the leaf's slot in the list, and ids[rank] to read
  bind: GPUBindGroup;
  best: ArgmaxKernel;
  bestBind: GPUBindGroup[];
  drawStep: GPUBuffer; // a step uniform of one token whose start names the draw's random stream
  draw: SampleKernel;
  drawBind: GPUBindGroup;
}

/**
 * The random stream of rank r's leaf drawn at depth i: LEAF_STREAM + r * MAX_DEVICE_DRAFTS + i.
 * sample.wgsl draws a pass's token at stream (its position), which stays far below this, so a
 * leaf's draw is independent of every chain draw and of every other leaf's.
 */
const LEAF_STREAM = 0x80000000;

const heads = new WeakMap<GpuModel, HeadBuffers>();

/** A step's list of drafts: k in a chain, then `ranks` leaves beside each of the first `leaves` (none: a chain). */
interface DraftList {
  k: number;
  leaves: number;
  ranks: number;
}

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
  ranks = 1,
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
  const buffers = stepBuffers(t, h);
  const map = headBuffers(h, model.draftToTarget, buffers.drafts);
  const fits =
    listFits({ k, leaves, ranks }, map.ranks.length, t, ts, computed) &&
    pending.length >= 1 &&
    pending.length <= h.maxBatch &&
    from + pending.length + k - 1 <= hs.capacity &&
    computed === context.length - 1;
  if (!fits) return undefined;
  /**
   * Appends to draft pass i of a step (`list`: its k drafts and leaves) the mapping of its id
   * to the target's, into the list of drafts; at a tree's depth (i < leaves), its leaves' too,
   * rank by rank (the runners-up, or further draws when `sampled`), after the k drafts of the
   * chain: rank r's at k + r * leaves + i.
   */
  const mapTo = (list: DraftList, i: number, sampled: boolean) => (encoder: GPUCommandEncoder) => {
    const tree = i < list.leaves ? map.ranks.slice(0, list.ranks) : [];
    map.toSlot(encoder, map.params, i, 0);
    for (const [r, rank] of tree.entries()) {
      map.toSlot(encoder, rank.params, list.k + r * list.leaves + i, r + 1);
      if (sampled) map.toStream(encoder, rank.drawStep, r, i);
    }
    const pass = beginComputePass(h.gpu, encoder);
    map.kernel.encode(pass, map.bind);
    for (const rank of tree) {
      if (sampled) rank.draw.encode(pass, rank.drawBind, 1);
      else rank.best.encode(pass, rank.bestBind, 1);
      map.kernel.encode(pass, rank.bind);
    }
    pass.end();
  };
  /**
   * Grows both caches for the step before it is recorded (GpuModel.makeRoom): an out-of-memory
   * leaves them as they were; `next`: the ends of a next step recorded ahead too.
   */
  const makeRoom = async (next?: { head: number; target: number }) => {
    await h.makeRoom(hs, Math.max(from + pending.length + k - 1, next?.head ?? 0));
    await t.makeRoom(ts, Math.max(computed + k + 1 + leaves * ranks, next?.target ?? 0));
  };
  /** Records the k draft passes, each choosing as `want` says, `after(i)` appended to pass i. */
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
  return { t, h, ts, hs, buffers, mapTo, makeRoom, recordDrafts, rankCount: map.ranks.length };
}

/**
 * A greedy step of k drafts by `model`'s head on the GPU, where it fits (eagleStepParts), with
 * `ranks` leaves beside each of the first `leaves` (a tree); otherwise undefined. Leaves the
 * target's sequence past the accepted tokens, as the usual step does before its rollback.
 */
export async function eagleStepOnDevice<S extends Sequence, H extends Sequence>(
  model: EagleTarget<S, H>,
  sequence: EagleSequence<S, H>,
  context: readonly number[],
  lengths: StepLengths,
  leaves = 0,
  ranks = 1,
): Promise<DeviceStep | undefined> {
  const { k } = lengths;
  const parts = eagleStepParts(model, sequence, context, k, leaves, ranks);
  if (!parts) return undefined;
  const { t, h, ts, buffers } = parts;
  const base = ts.length;
  return t.exclusive(() =>
    h.exclusive(async () => {
      await submitHeadStep(parts, context, lengths, leaves, ranks);
      const { accepted, next: token, leaf } = await verdict(t, buffers, k, leaves, ranks);
      // An accepted leaf's keys and values, in its slot after the chain's, move to its position.
      if (leaf !== undefined) model.moveSlot(sequence, base + 1 + k + leaf, base + 1 + (leaf % leaves));
      ts.tokens.set(accepted, context.length); // the CPU's record: the drafts were copied on the GPU
      return { accepted, next: token, drafted: k };
    }),
  );
}

/**
 * Submits a head's device step of `lengths.k` drafts, greedy or (`sampled`: its verify and
 * options, the head's seed already written by setSampling) sampled, a tree with `ranks` leaves
 * beside each of the first `leaves` drafts: room for it and for the next one, of `lengths.next`
 * drafts and `lengths.nextLeaves` leaves of each rank; the passes recorded ahead for it where
 * they serve, else its passes recorded now; then, while the GPU runs it, the next step recorded
 * ahead (call inside both models' `exclusive`; the caller then waits for its verdict).
 */
async function submitHeadStep(
  parts: HeadStepParts,
  context: readonly number[],
  { k, next, nextLeaves = 0 }: StepLengths,
  leaves: number,
  ranks: number,
  sampled?: { verify: SampledVerify; options: SampledStepOptions },
): Promise<void> {
  const { t, h, ts, hs, buffers, mapTo, makeRoom, recordDrafts } = parts;
  const base = ts.length;
  const last = context[context.length - 1];
  // The next step is recorded ahead (gpu-step-ahead.ts); the target's length then is at most
  // this one's and k + 1.
  const ahead = takeAhead(buffers);
  const nextBase = base + k + 1;
  const nextList = { k: next, leaves: nextLeaves, ranks };
  const recordNext = headRecordsAhead(parts, k, nextList, nextBase);
  const nextEnd = nextBase + next + 1 + nextLeaves * ranks;
  await makeRoom(recordNext ? { head: nextBase + next - 1, target: nextEnd } : undefined);
  const verify = sampled?.verify;
  // A step recorded ahead catches up on the pairs of the verify pass before it (its chain),
  // whatever the last accepted: the head goes back to the first of them (their keys and values
  // come out as before; an accepted leaf's features were moved to its position).
  const from = base - (ahead?.firstTokens ?? 0);
  const list = { k, leaves, ranks };
  if (serves(ahead, verify?.kind ?? 'greedy', ts, hs, k, context.length, from, leaves, ranks)) {
    const writeRule = sampled && (() => writeSampledRule(t, sampled.verify, sampled.options));
    submitAhead(t, buffers, ahead, from, context.slice(from + 1, base + 1), last, writeRule);
  } else if (sampled) {
    recordDrafts('sample', (i) => (encoder) => {
      mapTo(list, i, true)(encoder);
      keepDraftRow(h, sampled.verify.rows, i)(encoder);
    });
    recordSampledVerify(t, ts, buffers.drafts, sampled.verify, last, sampled.options);
  } else {
    recordDrafts('ids', (i) => mapTo(list, i, false));
    recordVerify(t, ts, buffers, last, k, leaves, ranks);
  }
  if (!recordNext) return;
  const nextVerify = verify && sampledVerifyOf(t, verify, next, nextLeaves, ranks);
  recordHeadStepAhead(parts, k, nextList, nextBase, nextVerify);
}

type HeadStepParts = NonNullable<ReturnType<typeof eagleStepParts>>;

/**
 * Whether a head's next step after this one of k drafts (`next`: its drafts and leaves; the
 * target holding at most `nextBase` positions then) is recorded ahead: both profiles say so, no
 * Gated DeltaNet layers, a catch-up of k + 1 pairs and the verify pass within the batches, its
 * list within the device step's, its ranks among the head's, and both caches hold it.
 */
function headRecordsAhead(parts: HeadStepParts, k: number, next: DraftList, nextBase: number): boolean {
  const { t, h, ts, hs, rankCount } = parts;
  return (
    bothRecordAhead(t, h) &&
    h.maxBatch >= k + 1 &&
    listFits(next, rankCount, t, ts, nextBase) &&
    nextBase + next.k - 1 <= hs.capacity
  );
}

/**
 * Whether a step's list of drafts fits a device step: 1 to MAX_DEVICE_DRAFTS drafts, leaves at
 * no more depths than drafts, in ranks the head has kernels for, the list within the device
 * step's, and the verify pass over it within the target's batch and, from `start` positions,
 * its cache.
 */
function listFits(list: DraftList, rankCount: number, t: GpuModel, ts: GpuSequence, start: number): boolean {
  const { k, leaves, ranks } = list;
  const leafCount = leaves * ranks;
  return (
    k >= 1 &&
    k <= MAX_DEVICE_DRAFTS &&
    leaves >= 0 &&
    leaves <= k &&
    ranks >= 1 &&
    ranks <= MAX_TREE_WIDTH &&
    (leaves === 0 || ranks <= rankCount) &&
    k + leafCount <= MAX_DEVICE_LIST &&
    k + 1 + leafCount <= t.maxBatch &&
    start + k + 1 + leafCount <= ts.capacity
  );
}

/**
 * Records a head's next step ahead (`next`: its drafts and leaves) after this one of k, for a
 * target of C positions then, whatever C up to `nextBase`: the head's catch-up over the pairs
 * of C's last k + 1 positions (this step's verify pass), its features read on the GPU at the
 * head's start (GpuModel.recordAhead's `rowsOf`), its further draft passes (a tree's leaves
 * chosen and mapped beside the first, each pass's uniforms copied at its start), and the verify
 * pass, its features stored at the target's start. A sampled step (`sampled`) draws its drafts
 * and leaves, keeps the rows they were drawn from, and ends with the sampled rule.
 */
function recordHeadStepAhead(
  parts: HeadStepParts,
  k: number,
  next: DraftList,
  nextBase: number,
  sampled?: SampledVerify,
): void {
  const { t, h, ts, hs, buffers, mapTo } = parts;
  const want = sampled ? 'sample' : 'ids';
  const after = (i: number) =>
    sampled
      ? (encoder: GPUCommandEncoder) => {
          mapTo(next, i, true)(encoder);
          keepDraftRow(h, sampled.rows, i)(encoder);
        }
      : mapTo(next, i, false);
  const features = ts.extra.features as GPUBuffer; // as it is after makeRoom
  const into = t.gpu.device.createCommandEncoder();
  const firstTokens = k + 1;
  const catchUp = { cpuTokens: firstTokens, hidden: { rowsOf: features }, slot: 0, into };
  const drafts = [h.recordAhead(hs, catchUp, 1, nextBase - firstTokens, after(0), want)];
  for (let i = 1; i < next.k; i++) {
    const fromGpu = { buffer: buffers.drafts, offset: (i - 1) * 4, count: 1 };
    const input = { cpuTokens: 0, fromGpu, hidden: 'own', slot: i, into } as const;
    drafts.push(h.recordAhead(hs, input, 1, nextBase + i - 1, after(i), want));
  }
  const { leaves, ranks } = next;
  const verify = sampled
    ? recordSampledVerifyAhead(t, ts, buffers.drafts, sampled, nextBase, into)
    : recordVerifyAhead(t, ts, buffers, next.k, nextBase, into, leaves, ranks);
  const kind = sampled ? sampled.kind : 'greedy';
  const commands = [into.finish()];
  const maxContext = nextBase + 1;
  const step = { kind, k: next.k, leaves, ranks, firstTokens, target: ts, draft: hs, maxContext, drafts, verify };
  keepAhead(buffers, { ...step, commands });
}

/**
 * A sampled step of k drafts by `model`'s head with one readback, where it fits: the head draws
 * each token on the GPU (seeded from `options.rng`), and `ranks` more beside each of the first
 * `leaves` (a tree), d2t maps them into the list the next draft step and the verify pass read,
 * and the acceptance rule runs over the head's rows (its own vocabulary, read through d2t) and
 * the target's, on the device or, as the profile says, on the CPU (gpu-sampled-verify.ts, as
 * for a draft model). A chain step records the next one ahead as a greedy one does. An
 * accepted leaf stays in its slot: the caller moves it. Otherwise undefined.
 */
export async function eagleSampledStepOnDevice<S extends Sequence, H extends Sequence>(
  model: EagleTarget<S, H>,
  sequence: EagleSequence<S, H>,
  context: readonly number[],
  lengths: StepLengths,
  options: SampledStepOptions,
  leaves = 0,
  ranks = 1,
): Promise<SampledDeviceStep | undefined> {
  const { k } = lengths;
  const parts = eagleStepParts(model, sequence, context, k, leaves, ranks);
  if (!parts) return undefined;
  const { t, h, ts } = parts;
  const seed = options.rng.nextUint32();
  const rows = sampledBuffers(t, h, model.draftToTarget);
  const verify = sampledVerify(t, rows, h.config.vocabSize, k, options.rows, leaves, ranks);
  return t.exclusive(() =>
    h.exclusive(async () => {
      h.setSampling(options.sampling, seed);
      await submitHeadStep(parts, context, lengths, leaves, ranks, { verify, options });
      return sampledVerdict(t, ts, verify, context.length);
    }),
  );
}

/**
 * Makes a target and head's device-step buffers and kernels at load (gpu-speculation.ts:
 * `makeDeviceSteps`), the head's own with them, and compiles all their pipelines side by side,
 * so that the first step compiles nothing.
 */
export async function prepareHeadSteps(target: GpuModel, head: GpuModel, draftToTarget: Uint32Array) {
  const { pipelines } = collectPipelines(() => {
    makeDeviceSteps(target, head, draftToTarget);
    headBuffers(head, draftToTarget, stepBuffers(target, head).drafts);
  });
  await compilePipelines(pipelines);
}

function headBuffers(head: GpuModel, draftToTarget: Uint32Array, drafts: GPUBuffer): HeadBuffers {
  let buffers = heads.get(head);
  if (!buffers) {
    const { device } = head.gpu;
    const params = createUniform(device, DRAFT_TO_TARGET_PARAMS_BYTES, 'draft map params');
    const map = uploadBuffer(device, draftToTarget, STORAGE, 'd2t');
    const kernel = new DraftToTargetKernel(device);
    const oneRow = createUniform(device, 16, 'leaf rank step');
    device.queue.writeBuffer(oneRow, 0, Uint32Array.of(1, 0, 0, 0)); // kernels/step.ts: one token
    const { vocabSize } = head.config;
    const workgroup = head.profile.rowWorkgroup;
    const ids = head.idsBuffer;
    // A leaf of rank r is chosen into ids[r]: as many ranks as the head's batch has room for.
    const ranks = Array.from({ length: Math.min(MAX_TREE_WIDTH, head.maxBatch - 1) }, (_, r): LeafRank => {
      const rankParams = createUniform(device, DRAFT_TO_TARGET_PARAMS_BYTES, `leaf rank ${r + 1} map params`);
      const best = new ArgmaxKernel(device, vocabSize, 1, workgroup, r + 1);
      const drawStep = createUniform(device, 16, `leaf rank ${r + 1} draw step`);
      const draw = new SampleKernel(device, vocabSize, workgroup, r + 1);
      return {
        params: rankParams,
        bind: kernel.bind({ params: rankParams, ids, map, drafts }),
        best,
        bestBind: best.bind({ step: oneRow, logits: head.logitsBuffer, ids }),
        drawStep,
        draw,
        drawBind: draw.bind({ step: drawStep, params: head.samplingBuffer, logits: head.logitsBuffer, ids }),
      };
    });
    const bind = kernel.bind({ params, ids, map, drafts });
    // The map's uniform for (slot s, rank r) at 16 (r MAX_DEVICE_LIST + s) bytes: (s, r); the
    // draw's for rank r at depth i at 16 (r MAX_DEVICE_DRAFTS + i): one token, from its stream.
    const slotWords = new Uint32Array(4 * (MAX_TREE_WIDTH + 1) * MAX_DEVICE_LIST);
    for (let j = 0; j < slotWords.length / 4; j++)
      slotWords.set([j % MAX_DEVICE_LIST, Math.floor(j / MAX_DEVICE_LIST)], 4 * j);
    const slots = uploadBuffer(device, slotWords, GPUBufferUsage.COPY_SRC, 'draft map slots');
    const streamWords = new Uint32Array(4 * MAX_TREE_WIDTH * MAX_DEVICE_DRAFTS);
    for (let j = 0; j < streamWords.length / 4; j++) streamWords.set([1, LEAF_STREAM + j], 4 * j);
    const streams = uploadBuffer(device, streamWords, GPUBufferUsage.COPY_SRC, 'leaf draw streams');
    buffers = {
      params,
      toSlot: (encoder, to, slot, rank) =>
        encoder.copyBufferToBuffer(slots, 16 * (rank * MAX_DEVICE_LIST + slot), to, 0, 16),
      toStream: (encoder, to, r, i) => encoder.copyBufferToBuffer(streams, 16 * (r * MAX_DEVICE_DRAFTS + i), to, 0, 16),
      kernel,
      bind,
      ranks,
    };
    heads.set(head, buffers);
  }
  return buffers;
}
