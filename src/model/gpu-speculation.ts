/**
 * A speculative step on the GPU with one readback. The draft model's k steps, the
 * target's verify pass over the newest token and the k drafts, and the acceptance decision are
 * recorded back to back: each draft step's argmax is copied on the GPU to where the next step
 * reads its token and into a list of drafts, the verify pass reads the drafts from that list,
 * and a one-thread kernel compares them with the target's choices (accept_greedy.wgsl). The CPU
 * waits once, for the accepted count, the target's next token and the drafts. Plain greedy
 * speculation reads back after every draft step and the verify pass: k + 1 round trips.
 *
 * A step may verify a tree (speculative/tree.ts) where its source drafts one on the GPU (an
 * EAGLE head: gpu-eagle-step.ts): the leaves follow the chain in the list of drafts, the
 * target's tree pass reads them all, the acceptance kernel walks the tree (greedy as
 * `acceptTree` does, sampled as `acceptSampledTree`), and an accepted leaf's keys and values
 * move to its position.
 *
 * The output is the same as the step on the CPU side: the kernels and the acceptance rule are
 * the same. Requests with logit rules, which count tokens on the CPU, take the other path.
 * Buffers and kernels are made once per (target, draft) pair, when it loads.
 *
 * A chain step records the next one (`NextStep`) while the GPU runs it, before waiting for its
 * verdict, so that after the verdict the CPU only writes uniforms and submits
 * (GpuModel.recordAhead): the draft model's first pass then takes the context's last two
 * tokens, an EAGLE head's catch-up its last k + 1 pairs, whatever was accepted, so that each
 * pass has one shape. While k holds from step to step more often than not (`takeAhead`). A
 * sampled step's seeds, like every length, are uniforms written at submission.
 *
 * A sampled step goes the same way with one readback too: the draft draws its tokens on the GPU
 * (sample.wgsl), keeping the row each was drawn from, and after the verify pass the acceptance
 * rule runs there over those rows and the target's (kernels/sampled-acceptance.ts), so the CPU
 * reads back the verdict and the drafts, and the target's rows only for log-probabilities. On
 * a software adapter (profile.deviceAcceptance off) the rows come back and the rule runs on the
 * CPU, as it does for drafts proposed there.
 */

import { InvalidLogitsError } from '../errors';
import { createStorage, createUniform, STORAGE, uploadBuffer } from '../gpu/buffers';
import { ACCEPT_GREEDY_PARAMS_BYTES, AcceptGreedyKernel, NO_LEAF } from '../kernels/accept-greedy';
import {
  ACCEPT_PARAMS_BYTES,
  AcceptSampledKernel,
  DistributionStatsKernel,
  draftIdsOf,
  writeAcceptParams,
} from '../kernels/sampled-acceptance';
import type { SamplingParams } from '../sampling/sampling';
import type { Rng } from '../util/rng';
import { type AheadPass, GpuModel } from './gpu-model';
import type { GpuSequence } from './gpu-sequence';
import type { Sequence } from './types';

/** The most drafts one device step takes. */
export const MAX_DEVICE_DRAFTS = 16;
/** The most tokens its list holds: the chain, then a tree's leaves. */
export const MAX_DEVICE_LIST = 2 * MAX_DEVICE_DRAFTS;
/** The weight of the past in `StepBuffers.steadiness`: a change of k twice in a row stops the recording ahead. */
const STEADINESS_DECAY = 0.75;
/** What the acceptance kernels write before the drafts: accepted, next, the accepted leaf (u32 each). */
const VERDICT_WORDS = 3;
/** A sampled step's readback starts with the verdict (accepted, next, leaf) and the drafts (a tree's leaves after the chain), u32 each. */
const RESULT_BYTES = (VERDICT_WORDS + MAX_DEVICE_LIST) * 4;
/** Where the target's rows' statistics start in a sampled step's list, after the draft's. */
const TARGET_STATS_AT = MAX_DEVICE_DRAFTS;

export interface DeviceStep {
  /** The drafts the target accepted, in order (a tree's: a prefix of the chain, and perhaps a leaf). */
  accepted: number[];
  /** The target's own token after them. */
  next: number;
  /** Drafts proposed (accepted or not): a tree's chain. */
  drafted: number;
}

/** What a (target, draft) pair's device steps reuse: made on the first step. */
export interface StepBuffers {
  drafts: GPUBuffer; // (MAX_DEVICE_LIST) u32: the chain, then a tree's leaves, rank by rank
  result: GPUBuffer; // the verdict (VERDICT_WORDS), then the drafts: u32
  readback: GPUBuffer;
  params: GPUBuffer;
  accept: AcceptGreedyKernel;
  bind: GPUBindGroup;
  /** The pair's next step, recorded while the GPU ran the one before (profile.recordAhead). */
  next?: NextStep;
  /** Steps taken so far from passes recorded ahead, and steps recorded ahead (tests count them). */
  stepsAhead: number;
  recordedAhead: number;
  /**
   * The last device step's k, and how steadily k has held from step to step (a moving average
   * of 1 when it did, 0 when it changed): passes recorded ahead serve only a step of their k,
   * so the next step is recorded ahead only while k holds more often than not.
   */
  lastK: number;
  steadiness: number;
  /** Staging for the acceptance kernel's uniform (writeBuffer copies it at once): nothing allocated a step. */
  paramsWords: Uint32Array<ArrayBuffer>;
}

/**
 * A device step of k drafts recorded ahead, for a context of any length up to
 * `maxContext`: the draft's passes (a draft model's first over the context's last two tokens,
 * the one before the newest again, so that the pass has the same shape whatever the last step
 * accepted; an EAGLE head's catch-up over the last k + 1 pairs, gpu-eagle-step.ts: what is
 * computed again comes out bit for bit as before, the kernels being batch-invariant), then the
 * target's verify pass over the newest token and the drafts, and the acceptance kernel (greedy,
 * or the sampled rule with the copies of what its kind reads back: `kind`).
 */
export interface NextStep {
  kind: AheadKind;
  k: number;
  target: GpuSequence;
  draft: GpuSequence;
  maxContext: number;
  drafts: AheadPass[];
  verify: AheadPass;
}

/**
 * How a step recorded ahead decides: by the greedy acceptance kernel, or by the sampled rule
 * (the target's rows read back beside the verdict, for log-probabilities, or not). A step
 * serves only one of its own kind: their passes choose, copy and read back differently.
 */
export type AheadKind = 'greedy' | 'sampled' | 'sampled with rows';

/** The kind of a sampled step that reads the target's rows back (`rows`) or not. */
export function sampledKind(rows: boolean): AheadKind {
  return rows ? 'sampled with rows' : 'sampled';
}

/**
 * A getter of what each (target, draft) pair makes once, on its first step, and keeps while both
 * live; `args` are read on that first step only (what a pair is made with never changes).
 */
function perPair<T, A extends unknown[]>(
  make: (target: GpuModel, draft: GpuModel, ...args: A) => T,
): (target: GpuModel, draft: GpuModel, ...args: A) => T {
  const pairs = new WeakMap<GpuModel, WeakMap<GpuModel, T>>();
  return (target, draft, ...args) => {
    const byDraft = pairs.get(target) ?? new WeakMap<GpuModel, T>();
    pairs.set(target, byDraft);
    let made = byDraft.get(draft);
    if (made === undefined) {
      made = make(target, draft, ...args);
      byDraft.set(draft, made);
    }
    return made;
  };
}

export const stepBuffers = perPair((target): StepBuffers => {
  const { device } = target.gpu;
  const drafts = createStorage(device, MAX_DEVICE_LIST * 4, 'device step drafts');
  const resultBytes = (VERDICT_WORDS + MAX_DEVICE_LIST) * 4;
  const result = createStorage(device, resultBytes, 'device step result');
  const readback = device.createBuffer({
    label: 'device step readback',
    size: resultBytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const params = createUniform(device, ACCEPT_GREEDY_PARAMS_BYTES, 'device step params');
  const accept = new AcceptGreedyKernel(device);
  const bind = accept.bind({ params, drafts, choices: target.idsBuffer, result });
  return {
    drafts,
    result,
    readback,
    params,
    accept,
    bind,
    stepsAhead: 0,
    recordedAhead: 0,
    lastK: 0,
    steadiness: 1,
    paramsWords: new Uint32Array(4),
  };
});

/** Both models and sequences of a device step, and what the draft has not seen. */
type DeviceStepParts = NonNullable<ReturnType<typeof deviceStepParts>>;

/** Both models and sequences of a device step, and what the draft has not seen; undefined if the step does not fit. */
function deviceStepParts<S extends Sequence, D extends Sequence>(
  target: { model: unknown; sequence: S },
  draft: { model: unknown; sequence: D },
  context: readonly number[],
  k: number,
) {
  if (!(target.model instanceof GpuModel) || !(draft.model instanceof GpuModel)) return undefined;
  const [t, d] = [target.model, draft.model];
  const [ts, ds] = [target.sequence as unknown as GpuSequence, draft.sequence as unknown as GpuSequence];
  if (t.gpu.device !== d.gpu.device || ts.rules?.active || ds.rules?.active) return undefined;
  const pending = context.slice(ds.length);
  const fits =
    k >= 1 &&
    k <= MAX_DEVICE_DRAFTS &&
    k + 1 <= t.maxBatch &&
    pending.length >= 1 &&
    ds.length + pending.length + k - 1 <= ds.capacity &&
    ts.length + k + 1 <= ts.capacity &&
    ts.length === context.length - 1;
  return fits ? { t, d, ts, ds, pending } : undefined;
}

/**
 * Grows both caches for a step of k drafts before it is recorded (GpuModel.makeRoom): an
 * out-of-memory then fails the step and leaves the device and both sequences as they were.
 */
async function makeRoom(parts: DeviceStepParts, k: number, nextStepEnd = 0) {
  const { t, d, ts, ds, pending } = parts;
  await d.makeRoom(ds, Math.max(ds.length + pending.length + k - 1, nextStepEnd - 1));
  await t.makeRoom(ts, Math.max(ts.length + k + 1, nextStepEnd));
}

/**
 * A greedy step of k drafts on the GPU, if both models are GPU models on one device and the
 * step fits (no logit rules, k within MAX_DEVICE_DRAFTS and the models' batch, room in both
 * caches); otherwise undefined, and the caller takes the step its usual way. Leaves both
 * sequences one past the accepted tokens, as the usual step does before its rollback.
 */
export async function greedyStepOnDevice<S extends Sequence, D extends Sequence>(
  target: { model: unknown; sequence: S },
  draft: { model: unknown; sequence: D },
  context: readonly number[],
  k: number,
): Promise<DeviceStep | undefined> {
  const parts = deviceStepParts(target, draft, context, k);
  if (!parts) return undefined;
  const { t, d, ts, ds } = parts;
  const buffers = stepBuffers(t, d);
  return t.exclusive(() =>
    d.exclusive(async () => {
      await submitStep(parts, buffers, context, k);
      const { accepted, next } = await verdict(t, buffers, k);
      // The CPU's record of the tokens at each position: the accepted drafts were copied on the GPU.
      ts.tokens.set(accepted, context.length);
      ds.tokens.set(accepted, context.length);
      return { accepted, next, drafted: k };
    }),
  );
}

/**
 * Submits a device step with a draft model, greedy or (`sampled`: its verify and options, the
 * draft's seed already written by setSampling) sampled: room for it and, while k holds, for the
 * next one; the passes recorded ahead for it where they serve, else its passes recorded now;
 * then, while the GPU runs it, the next step recorded ahead (call inside both models'
 * `exclusive`; the caller then waits for its verdict).
 */
async function submitStep(
  parts: DeviceStepParts,
  buffers: StepBuffers,
  context: readonly number[],
  k: number,
  sampled?: { verify: SampledVerify; options: SampledStepOptions },
): Promise<void> {
  const { t, d, ts, ds, pending } = parts;
  const last = context[context.length - 1];
  const { ahead, steady } = takeAhead(buffers, k);
  const recordNext = steady && recordsAhead(parts, k, context.length);
  await makeRoom(parts, k, recordNext ? context.length + 2 * k + 1 : 0);
  const verify = sampled?.verify;
  // A step recorded ahead: the draft goes back to before the newest token but one, which its
  // first pass takes with the newest.
  const draftFrom = context.length - 2;
  if (serves(ahead, verify?.kind ?? 'greedy', ts, ds, k, context.length, draftFrom)) {
    const writeRule = sampled && (() => writeSampledRule(t, sampled.verify, sampled.options));
    submitAhead(t, buffers, ahead, draftFrom, context.slice(-2), last, undefined, writeRule);
  } else {
    // The draft catches up on what it has not seen, then drafts k tokens, each step reading the
    // previous one's choice (argmax or draw) from the list of drafts.
    const want = verify ? 'sample' : 'ids';
    const keep = (i: number) => (verify ? keepSampledDraft(d, buffers, verify.rows, i) : keepDraft(d, buffers, i));
    d.appendTokens(ds, pending.slice(0, -1));
    d.recordPass(ds, { tokens: pending.slice(-1) }, 1, want, keep(0));
    for (let i = 1; i < k; i++) {
      const fromGpu = { buffer: buffers.drafts, offset: (i - 1) * 4, count: 1 };
      d.recordPass(ds, { tokens: [], fromGpu }, 1, want, keep(i));
    }
    if (sampled) recordSampledVerify(t, ts, buffers.drafts, sampled.verify, last, sampled.options);
    else recordVerify(t, ts, buffers, last, k);
  }
  // While the GPU runs this step, the next one is recorded.
  if (recordNext) recordNextStep(parts, buffers, k, context.length + k + 1, verify);
}

/** Copies a draft pass's argmax into slot i of the list of drafts, after the pass. */
function keepDraft(d: GpuModel, buffers: StepBuffers, i: number) {
  return (encoder: GPUCommandEncoder) => encoder.copyBufferToBuffer(d.idsBuffer, 0, buffers.drafts, i * 4, 4);
}

/**
 * Takes the step a pair recorded ahead (to be checked with `serves`), and says whether to
 * record the next one: while k holds from step to step more often than not (a fixed k, or
 * 'auto' settled; 'auto' going up and down would record steps in vain).
 */
export function takeAhead(buffers: StepBuffers, k: number): { ahead?: NextStep; steady: boolean } {
  const ahead = buffers.next;
  buffers.next = undefined;
  const held = k === buffers.lastK ? 1 : 0;
  buffers.steadiness = STEADINESS_DECAY * buffers.steadiness + (1 - STEADINESS_DECAY) * held;
  buffers.lastK = k;
  return { ahead, steady: buffers.steadiness >= 0.5 };
}

/**
 * Whether a step recorded ahead serves this one: the same kind, sequences and k, still in
 * their buffers, a context within its reach, and a draft that holds what its first pass follows.
 */
export function serves(
  ahead: NextStep | undefined,
  kind: AheadKind,
  target: GpuSequence,
  draft: GpuSequence,
  k: number,
  contextLength: number,
  draftFrom: number,
): ahead is NextStep {
  return (
    ahead !== undefined &&
    ahead.kind === kind &&
    ahead.k === k &&
    ahead.target === target &&
    ahead.draft === draft &&
    contextLength <= ahead.maxContext &&
    draftFrom >= 0 &&
    draft.length >= draftFrom &&
    ahead.verify.current() &&
    ahead.drafts.every((pass) => pass.current())
  );
}

/**
 * Submits a step recorded ahead: the draft cut back to `draftFrom`, its first pass given the
 * tokens `first`, `beforeDraft(i)` called before draft pass i is; then the verify pass over
 * the newest token `last`, after `beforeVerify` (which writes the acceptance rule's uniform;
 * by default the greedy kernel's).
 */
export function submitAhead(
  t: GpuModel,
  buffers: StepBuffers,
  ahead: NextStep,
  draftFrom: number,
  first: readonly number[],
  last: number,
  beforeDraft?: (i: number) => void,
  beforeVerify = () => writeAcceptGreedyParams(t, buffers, ahead.k),
): void {
  ahead.draft.truncate(draftFrom);
  for (const [i, pass] of ahead.drafts.entries()) {
    beforeDraft?.(i);
    pass.submit(i === 0 ? first : []);
  }
  beforeVerify();
  ahead.verify.submit([last]);
  buffers.stepsAhead++;
}

/**
 * Whether the step after this one (for a context of at most this one's and k + 1 tokens) is
 * recorded ahead: the profile says so, neither model has Gated DeltaNet layers (whose states
 * a pass over the same position again would not leave as they were), and both caches hold it.
 */
function recordsAhead(parts: DeviceStepParts, k: number, contextLength: number): boolean {
  const { t, d, ts, ds } = parts;
  const maxContext = contextLength + k + 1;
  return bothRecordAhead(t, d) && d.maxBatch >= 2 && maxContext + k <= ts.capacity && maxContext + k - 1 <= ds.capacity;
}

/** Whether both models' profiles record ahead and neither has Gated DeltaNet layers. */
export function bothRecordAhead(t: GpuModel, d: GpuModel): boolean {
  return t.profile.recordAhead && d.profile.recordAhead && t.recurrentWindow === 0 && d.recurrentWindow === 0;
}

/**
 * Records the step after this one ahead (call before waiting for this one's verdict), for a
 * context of C tokens, whatever C up to `maxContext`: the draft's passes start at C - 2 and
 * on, the verify pass at C - 1. A sampled step (`sampled`: its rows and layout) draws its
 * drafts, keeps the rows they were drawn from, and ends with the sampled rule.
 */
function recordNextStep(
  parts: DeviceStepParts,
  buffers: StepBuffers,
  k: number,
  maxContext: number,
  sampled?: SampledVerify,
): void {
  const { t, d, ts, ds } = parts;
  const [want, keep] = sampled
    ? (['sample', (i: number) => keepSampledDraft(d, buffers, sampled.rows, i)] as const)
    : (['ids', (i: number) => keepDraft(d, buffers, i)] as const);
  const drafts = [d.recordAhead(ds, { cpuTokens: 2 }, 1, maxContext - 2, keep(0), want)];
  for (let i = 1; i < k; i++) {
    const fromGpu = { buffer: buffers.drafts, offset: (i - 1) * 4, count: 1 };
    drafts.push(d.recordAhead(ds, { cpuTokens: 0, fromGpu }, 1, maxContext + i - 1, keep(i), want));
  }
  keepAhead(buffers, {
    kind: sampled ? sampled.kind : 'greedy',
    k,
    target: ts,
    draft: ds,
    maxContext,
    drafts,
    verify: sampled
      ? recordSampledVerifyAhead(t, ts, buffers.drafts, sampled, maxContext - 1)
      : recordVerifyAhead(t, ts, buffers, k, maxContext - 1),
  });
}

/** Keeps a step recorded ahead for the pair's next step. */
export function keepAhead(buffers: StepBuffers, next: NextStep): void {
  buffers.next = next;
  buffers.recordedAhead++;
}

/** A verify pass over the newest token and k drafts, with the acceptance kernel after it, recorded ahead. */
export function recordVerifyAhead(t: GpuModel, ts: GpuSequence, buffers: StepBuffers, k: number, maxStart: number) {
  const fromGpu = { buffer: buffers.drafts, offset: 0, count: k };
  return t.recordAhead(ts, { cpuTokens: 1, fromGpu }, k + 1, maxStart, acceptAndCopy(buffers, k));
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
  t.recordGreedy(ts, input, drafts + 1, acceptAndCopy(buffers, drafts));
}

/** The greedy acceptance kernel's uniform: k drafts in a chain, `ranks` leaves beside each of the first `leaves`. */
function writeAcceptGreedyParams(t: GpuModel, buffers: StepBuffers, k: number, leaves = 0, ranks = 1) {
  buffers.paramsWords.set([k, leaves, ranks, 0]);
  t.gpu.device.queue.writeBuffer(buffers.params, 0, buffers.paramsWords);
}

/** After a verify pass over `drafts` drafts: the acceptance kernel, then the verdict and the drafts copied to the readback. */
function acceptAndCopy(buffers: StepBuffers, drafts: number) {
  return (encoder: GPUCommandEncoder) => {
    const pass = encoder.beginComputePass();
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

/**
 * Makes a pair's device-step buffers and kernels now, at load, so that the first step compiles
 * no pipeline and allocates nothing; `draftToTarget`: a head's d2t.
 */
export function prepareDeviceSteps(target: GpuModel, draft: GpuModel, draftToTarget?: Uint32Array): void {
  stepBuffers(target, draft);
  sampledBuffers(target, draft, draftToTarget);
}

/** Appends to a draft pass the copy of its row of logits (the one it drew from) to row i of the step's. */
export const keepDraftRow = (draft: GpuModel, rows: SampledBuffers, i: number) => (encoder: GPUCommandEncoder) => {
  const bytes = draft.config.vocabSize * 4;
  encoder.copyBufferToBuffer(draft.logitsBuffer, 0, rows.draftRows, i * bytes, bytes);
};

/** Appends to draft pass i of a sampled step the copies of its draw into slot i of the list, and of its row. */
function keepSampledDraft(d: GpuModel, buffers: StepBuffers, rows: SampledBuffers, i: number) {
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
 * A sampled step of k drafts with one readback, where `greedyStepOnDevice` would take one: the
 * draft draws each token on the GPU (sample.wgsl, from a seed drawn from `rng` and the token's
 * position), which the next draft step and then the target's verify pass read there, and the
 * acceptance rule runs on the GPU after the verify pass (`recordSampledVerify`): the target's
 * distribution is kept. The next step is recorded while the GPU runs this one, as a greedy
 * step's is: its draws read the seeds written at its submission, so that the tokens are the
 * same either way. Leaves both sequences one past the drafts, for the caller's rollback.
 */
export async function sampledStepOnDevice<S extends Sequence, D extends Sequence>(
  target: { model: unknown; sequence: S },
  draft: { model: unknown; sequence: D },
  context: readonly number[],
  k: number,
  options: SampledStepOptions,
): Promise<SampledDeviceStep | undefined> {
  const parts = deviceStepParts(target, draft, context, k);
  if (!parts) return undefined;
  const { t, d, ts, ds } = parts;
  const seed = options.rng.nextUint32();
  const buffers = stepBuffers(t, d);
  const verify = sampledVerify(t, sampledBuffers(t, d), d.config.vocabSize, k, options.rows);
  return t.exclusive(() =>
    d.exclusive(async () => {
      d.setSampling(options.sampling, seed);
      await submitStep(parts, buffers, context, k, { verify, options });
      const step = await sampledVerdict(t, ts, verify, context.length);
      ds.tokens.set(step.drafts.slice(0, -1), context.length);
      return step;
    }),
  );
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
      const pass = encoder.beginComputePass();
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

/** A sampled chain step's verify pass, with the rule and the copies after it, recorded ahead (the rule's uniform is written at submission). */
export function recordSampledVerifyAhead(
  t: GpuModel,
  ts: GpuSequence,
  drafts: GPUBuffer,
  verify: SampledVerify,
  maxStart: number,
) {
  const fromGpu = { buffer: drafts, offset: 0, count: verify.k };
  return t.recordAhead(
    ts,
    { cpuTokens: 1, fromGpu },
    verify.k + 1,
    maxStart,
    ruleAndCopies(t, drafts, verify),
    'logits',
  );
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
