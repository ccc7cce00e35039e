/**
 * A sampled speculative step's verify on the GPU: the target's pass over the newest token and
 * the drafts the draft drew there (sample.wgsl, each row it drew from kept), then the modified
 * rejection rule over both models' rows (kernels/sampled-acceptance.ts, as acceptance.ts takes
 * it: the target's distribution is kept), seeded by a uniform written at submission, and one
 * readback of the verdict and the drafts, and of the target's rows only for log-probabilities.
 * On a software adapter (profile.deviceAcceptance off) the rows come back and the rule runs on
 * the CPU, as it does for drafts proposed there.
 */

import { InvalidLogitsError } from '../errors';
import { createStorage, createUniform, STORAGE, uploadBuffer } from '../gpu/buffers';
import { beginComputePass } from '../gpu/busy-timer';
import { NO_LEAF } from '../kernels/accept-greedy';
import {
  ACCEPT_PARAMS_BYTES,
  AcceptSampledKernel,
  DistributionStatsKernel,
  draftIdsOf,
  writeAcceptParams,
} from '../kernels/sampled-acceptance';
import type { SamplingParams } from '../sampling/sampling';
import type { Rng } from '../util/rng';
import type { GpuModel } from './gpu-model';
import type { GpuSequence } from './gpu-sequence';
import {
  type AheadKind,
  MAX_DEVICE_DRAFTS,
  MAX_DEVICE_LIST,
  perPair,
  RESULT_BYTES,
  type StepBuffers,
  sampledKind,
  stepBuffers,
  VERDICT_WORDS,
} from './gpu-step-buffers';

/** Where the target's rows' statistics start in a sampled step's list, after the draft's. */
const TARGET_STATS_AT = MAX_DEVICE_DRAFTS;

/**
 * A sampled device step's result: the acceptance rule's verdict where the device took it
 * (profile.deviceAcceptance), else the rows the rule reads on the CPU.
 */
export interface SampledDeviceStep {
  /** The k tokens the draft drew, in order (target ids): the chain. */
  drafts: number[];
  /** A tree's leaves (target ids), rank by rank: leaves[r][i] drawn beside drafts[i] from the same row (speculative/tree.ts). */
  leaves?: number[][];
  /**
   * The rule's verdict, taken on the device: tokens accepted (a tree's: a prefix of the chain,
   * or one ending with the leaf at depth `leaf`, whose keys and values are still in its slot),
   * and the step's own token.
   */
  verdict?: { accepted: number; next: number; leaf?: number };
  /** The draft's logits at each draw, (k, its vocabulary): for the rule on the CPU. */
  draftRows?: Float32Array;
  /** The target's logits after the newest token, each draft and each leaf, (k + 1 + leaves, vocabulary): for the rule on the CPU, or log-probabilities. */
  targetRows?: Float32Array;
}

/** The rule on the device: its uniform, its kernels and their bind groups. */
interface DeviceRule {
  params: GPUBuffer; // kernels/sampled-acceptance.ts
  paramsScratch: ArrayBuffer;
  result: GPUBuffer; // accepted, next, leaf (u32)
  draftStats: DistributionStatsKernel;
  targetStats: DistributionStatsKernel;
  accept: AcceptSampledKernel;
  binds: { draftStats: GPUBindGroup; targetStats: GPUBindGroup; accept: GPUBindGroup };
}

/** What a pair's sampled steps reuse: the rows the drafts were drawn from, the readback, the rule where the device takes it. */
export interface SampledBuffers {
  draftRows: GPUBuffer; // (MAX_DEVICE_DRAFTS, draft vocabulary) f32
  /** The verdict and drafts (RESULT_BYTES), then the draft's rows (the rule on the CPU), then the target's. */
  readback: GPUBuffer;
  rule?: DeviceRule;
}

/**
 * A pair's sampled-step buffers; `draftToTarget`: a head's d2t, the draft's ids as the target's
 * (a draft model's ids are the target's).
 */
export const sampledBuffers = perPair((target, draft, draftToTarget?: Uint32Array): SampledBuffers => {
  const { device } = target.gpu;
  const vocab = target.config.vocabSize;
  const width = draft.config.vocabSize;
  const onDevice = target.profile.deviceAcceptance;
  const draftRows = createStorage(device, MAX_DEVICE_DRAFTS * width * 4, 'sampled step draft rows');
  // The target's rows of a pass: the newest token, the drafts and a tree's leaves, at most a batch.
  const targetRows = Math.min(MAX_DEVICE_LIST + 1, target.maxBatch);
  const readback = device.createBuffer({
    label: 'sampled step readback',
    // The draft's rows come back only for the rule on the CPU.
    size: RESULT_BYTES + (onDevice ? 0 : MAX_DEVICE_DRAFTS * width * 4) + targetRows * vocab * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  if (!onDevice) return { draftRows, readback };

  const params = createUniform(device, ACCEPT_PARAMS_BYTES, 'sampled step params');
  const result = createStorage(device, VERDICT_WORDS * 4, 'sampled step verdict');
  // The statistics of the draft's rows, then of the target's from TARGET_STATS_AT.
  const stats = createStorage(device, (TARGET_STATS_AT + targetRows) * 16, 'sampled step row stats');
  const draftIds = uploadBuffer(device, draftIdsOf(vocab, width, draftToTarget), STORAGE, 'sampled step draft ids');
  const workgroup = target.profile.rowWorkgroup;
  const draftStats = new DistributionStatsKernel(device, width, 0, workgroup);
  const targetStats = new DistributionStatsKernel(device, vocab, TARGET_STATS_AT, workgroup);
  const accept = new AcceptSampledKernel(device, vocab, width, TARGET_STATS_AT, workgroup);
  const logits = target.logitsBuffer;
  const binds = {
    draftStats: draftStats.bind({ params, logits: draftRows, stats }),
    targetStats: targetStats.bind({ params, logits, stats }),
    accept: accept.bind({
      params,
      drafts: stepBuffers(target, draft).drafts,
      draftIds,
      stats,
      draftLogits: draftRows,
      logits,
      result,
    }),
  };
  const paramsScratch = new ArrayBuffer(ACCEPT_PARAMS_BYTES);
  const rule = { params, paramsScratch, result, draftStats, targetStats, accept, binds };
  return { draftRows, readback, rule };
});

/** Appends to a draft pass the copy of its row of logits (the one it drew from) to row i of the step's. */
export const keepDraftRow = (draft: GpuModel, rows: SampledBuffers, i: number) => (encoder: GPUCommandEncoder) => {
  const bytes = draft.config.vocabSize * 4;
  encoder.copyBufferToBuffer(draft.logitsBuffer, 0, rows.draftRows, i * bytes, bytes);
};

/** Appends to draft pass i of a sampled step the copies of its draw into slot i of the list, and of its row. */
export function keepSampledDraft(d: GpuModel, buffers: StepBuffers, rows: SampledBuffers, i: number) {
  return (encoder: GPUCommandEncoder) => {
    encoder.copyBufferToBuffer(d.idsBuffer, 0, buffers.drafts, i * 4, 4);
    keepDraftRow(d, rows, i)(encoder);
  };
}

/** How a sampled step is taken: its sampling, the source of its seeds, and whether the target's rows come back. */
export interface SampledStepOptions {
  sampling: SamplingParams;
  rng: Rng;
  /** Read the target's rows back too (for log-probabilities). */
  rows: boolean;
}

/**
 * A sampled verify pass's shape and where its results go in the pair's readback: the verdict
 * and the drafts (RESULT_BYTES), then the draft's rows where the CPU takes the rule, then the
 * target's rows where the CPU takes it or log-probabilities want them.
 */
export interface SampledVerify {
  kind: AheadKind;
  rows: SampledBuffers;
  draftWidth: number;
  k: number;
  leaves: number;
  ranks: number;
  /** Drafts and leaves in the list. */
  listed: number;
  draftBytes: number;
  targetBytes: number;
  /** Where the target's rows start in the readback. */
  targetAt: number;
}

/** The verify of a sampled step of k drafts (and `ranks` leaves beside each of the first `leaves`), `rows`: the target's rows read back. */
export function sampledVerify(
  t: GpuModel,
  rows: SampledBuffers,
  draftWidth: number,
  k: number,
  targetRows: boolean,
  leaves = 0,
  ranks = 1,
): SampledVerify {
  const listed = k + leaves * ranks;
  const draftBytes = rows.rule ? 0 : k * draftWidth * 4;
  const targetBytes = !rows.rule || targetRows ? (listed + 1) * t.config.vocabSize * 4 : 0;
  const kind = sampledKind(targetRows);
  return {
    kind,
    rows,
    draftWidth,
    k,
    leaves,
    ranks,
    listed,
    draftBytes,
    targetBytes,
    targetAt: RESULT_BYTES + draftBytes,
  };
}

/** The same verify for a step of k drafts and `ranks` leaves beside each of the first `leaves` (the step after this one, recorded ahead). */
export function sampledVerifyOf(t: GpuModel, verify: SampledVerify, k: number, leaves = 0, ranks = 1): SampledVerify {
  if (k === verify.k && leaves === verify.leaves && (leaves === 0 || ranks === verify.ranks)) return verify;
  return sampledVerify(t, verify.rows, verify.draftWidth, k, verify.kind === sampledKind(true), leaves, ranks);
}

/** Writes the device rule's uniform, seeded from `options.rng` (before the verify pass's submission); nothing where the CPU takes the rule. */
export function writeSampledRule(t: GpuModel, verify: SampledVerify, options: SampledStepOptions): void {
  const { rule } = verify.rows;
  if (!rule) return;
  const seed = options.rng.nextUint32();
  const { k, leaves, ranks } = verify;
  writeAcceptParams(t.gpu.device, rule.params, options.sampling, seed, { k, leaves, ranks }, rule.paramsScratch);
}

/** After a sampled verify pass: the rule where the device takes it, then the verdict, the drafts and the rows copied to the readback. */
function ruleAndCopies(t: GpuModel, drafts: GPUBuffer, verify: SampledVerify) {
  const { rows, listed, draftBytes, targetBytes, targetAt } = verify;
  const { rule } = rows;
  return (encoder: GPUCommandEncoder) => {
    if (rule) {
      const pass = beginComputePass(t.gpu, encoder);
      rule.draftStats.encode(pass, rule.binds.draftStats, verify.k);
      rule.targetStats.encode(pass, rule.binds.targetStats, listed + 1);
      rule.accept.encode(pass, rule.binds.accept);
      pass.end();
      encoder.copyBufferToBuffer(rule.result, 0, rows.readback, 0, VERDICT_WORDS * 4);
    }
    encoder.copyBufferToBuffer(drafts, 0, rows.readback, VERDICT_WORDS * 4, listed * 4);
    if (draftBytes > 0) encoder.copyBufferToBuffer(rows.draftRows, 0, rows.readback, RESULT_BYTES, draftBytes);
    if (targetBytes > 0) encoder.copyBufferToBuffer(t.logitsBuffer, 0, rows.readback, targetAt, targetBytes);
  };
}

/**
 * Records the target's verify pass over the newest token `last` and the drafts in `drafts`
 * (target ids; a tree pass when leaves follow them there), then, where the device takes it, the
 * acceptance rule over its rows and the draft's (kept by `keepDraftRow`), seeded from
 * `options.rng`, and the copies of what comes back (call inside the models' `exclusive`;
 * `sampledVerdict` then waits for it). Leaves the target's sequence one past the drafts and leaves.
 */
export function recordSampledVerify(
  t: GpuModel,
  ts: GpuSequence,
  drafts: GPUBuffer,
  verify: SampledVerify,
  last: number,
  options: SampledStepOptions,
): void {
  writeSampledRule(t, verify, options);
  const { k, leaves, listed } = verify;
  const input = {
    tokens: [last],
    fromGpu: { buffer: drafts, offset: 0, count: listed },
    ...(leaves > 0 ? { tree: { chain: k + 1, depths: leaves } } : {}),
  };
  t.recordPass(ts, input, listed + 1, 'logits', ruleAndCopies(t, drafts, verify));
}

/** A sampled step's verify pass (a tree pass where `verify` has leaves), with the rule and the copies after it, recorded ahead into `into` (the rule's uniform is written at submission). */
export function recordSampledVerifyAhead(
  t: GpuModel,
  ts: GpuSequence,
  drafts: GPUBuffer,
  verify: SampledVerify,
  maxStart: number,
  into: GPUCommandEncoder,
) {
  const { k, leaves, listed } = verify;
  const fromGpu = { buffer: drafts, offset: 0, count: listed };
  const tree = leaves > 0 ? { tree: { chain: k + 1, depths: leaves } } : {};
  const input = { cpuTokens: 1, fromGpu, slot: 0, into, ...tree };
  return t.recordAhead(ts, input, listed + 1, maxStart, ruleAndCopies(t, drafts, verify), 'logits');
}

/**
 * Waits once for a sampled verify pass's results (`recordSampledVerify`, or one recorded ahead)
 * and checks them: the drafts and leaves, and the verdict where the device took the rule, else
 * the rows the rule reads on the CPU (and the target's for log-probabilities).
 */
export async function sampledVerdict(
  t: GpuModel,
  ts: GpuSequence,
  verify: SampledVerify,
  contextLength: number,
): Promise<SampledDeviceStep> {
  const vocab = t.config.vocabSize;
  const { rows, k, leaves, ranks, listed, draftBytes, targetBytes, targetAt } = verify;
  const { rule } = rows;
  // Rows follow the verdict and drafts' region; without them only the words written come back.
  const rowBytes = draftBytes + targetBytes;
  const data = await t.readBack(rows.readback, rowBytes > 0 ? targetAt + targetBytes : (VERDICT_WORDS + listed) * 4);
  const words = new Uint32Array(data, 0, VERDICT_WORDS + listed);
  const list = Array.from(words.subarray(VERDICT_WORDS));
  const [accepted, next, leaf] = words;
  const step: SampledDeviceStep = {
    drafts: list.slice(0, k),
    leaves:
      leaves > 0
        ? Array.from({ length: ranks }, (_, r) => list.slice(k + r * leaves, k + (r + 1) * leaves))
        : undefined,
    verdict: rule ? { accepted, next, leaf: leaf === NO_LEAF ? undefined : leaf } : undefined,
    draftRows: draftBytes > 0 ? new Float32Array(data, RESULT_BYTES, k * verify.draftWidth) : undefined,
    targetRows: targetBytes > 0 ? new Float32Array(data, targetAt, (listed + 1) * vocab) : undefined,
  };
  const { verdict, targetRows } = step;
  if (
    list.some((id) => id >= vocab) ||
    (verdict &&
      (verdict.accepted > k ||
        verdict.next >= vocab ||
        (leaf !== NO_LEAF && (leaf >= leaves * ranks || accepted !== (leaf % leaves) + 1)))) ||
    (!verdict && targetRows?.some(Number.isNaN))
  ) {
    throw new InvalidLogitsError(
      'The model produced logits that are not numbers (NaN), so no token can be chosen: its weights may be ' +
        'damaged (load it again), or its activations overflow.',
    );
  }
  ts.tokens.set(list, contextLength); // the CPU's record: the drafts and leaves were copied on the GPU
  return step;
}
