/**
 * A speculative step with a draft model on the GPU, with one readback. The draft model's k steps, the
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
 * Buffers and kernels are made once per (target, draft) pair, when it loads
 * (gpu-step-buffers.ts); the verify and its rule are gpu-greedy-verify.ts's and
 * gpu-sampled-verify.ts's, shared with an EAGLE head's step.
 *
 * A chain step records the next one (`NextStep`) while the GPU runs it, before waiting for its
 * verdict, so that after the verdict the CPU only stages each pass's uniforms and tokens and
 * submits the whole step at once (GpuModel.recordAhead, ahead-inputs.ts): the draft model's
 * first pass then takes the context's last two tokens, an EAGLE head's catch-up the pairs of
 * the verify pass before, whatever was accepted, so that each pass has one shape. The next
 * step's length is known then: the policy fixes it a step ahead (`StepLengths`), so a change
 * of length voids nothing. A sampled step's seeds, like every length, are uniforms written at
 * submission.
 *
 * A sampled step goes the same way with one readback too: the draft draws its tokens on the GPU
 * (sample.wgsl), keeping the row each was drawn from, and after the verify pass the acceptance
 * rule runs there over those rows and the target's (kernels/sampled-acceptance.ts), so the CPU
 * reads back the verdict and the drafts, and the target's rows only for log-probabilities. On
 * a software adapter (profile.deviceAcceptance off) the rows come back and the rule runs on the
 * CPU, as it does for drafts proposed there.
 */

import { collectPipelines, compilePipelines } from '../gpu/pipelines';
import { recordVerify, recordVerifyAhead, verdict } from './gpu-greedy-verify';
import { GpuModel } from './gpu-model';
import {
  keepSampledDraft,
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
import { bothRecordAhead, keepAhead, serves, submitAhead, takeAhead } from './gpu-step-ahead';
import {
  type DeviceStep,
  MAX_DEVICE_DRAFTS,
  type StepBuffers,
  type StepLengths,
  stepBuffers,
} from './gpu-step-buffers';
import type { Sequence } from './types';

/**
 * The tokens a draft's first pass takes from the CPU in a step recorded ahead: the newest and
 * the one before it, whatever the last step accepted, so that the pass has one shape.
 */
const FIRST_DRAFT_TOKENS = 2;

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
  lengths: StepLengths,
): Promise<DeviceStep | undefined> {
  const { k } = lengths;
  const parts = deviceStepParts(target, draft, context, k);
  if (!parts) return undefined;
  const { t, d, ts, ds } = parts;
  const buffers = stepBuffers(t, d);
  return t.exclusive(() =>
    d.exclusive(async () => {
      await submitStep(parts, buffers, context, lengths);
      const { accepted, next } = await verdict(t, buffers, k);
      // The CPU's record of the tokens at each position: the accepted drafts were copied on the GPU.
      ts.tokens.set(accepted, context.length);
      ds.tokens.set(accepted, context.length);
      return { accepted, next, drafted: k };
    }),
  );
}

/**
 * Submits a device step of `lengths.k` drafts with a draft model, greedy or (`sampled`: its
 * verify and options, the draft's seed already written by setSampling) sampled: room for it
 * and for the next one, of `lengths.next`; the passes recorded ahead for it where they serve,
 * else its passes recorded now; then, while the GPU runs it, the next step recorded ahead
 * (call inside both models' `exclusive`; the caller then waits for its verdict).
 */
async function submitStep(
  parts: DeviceStepParts,
  buffers: StepBuffers,
  context: readonly number[],
  { k, next }: StepLengths,
  sampled?: { verify: SampledVerify; options: SampledStepOptions },
): Promise<void> {
  const { t, d, ts, ds, pending } = parts;
  const last = context[context.length - 1];
  const ahead = takeAhead(buffers);
  const nextContext = context.length + k + 1; // the most the next step can start from
  const recordNext = recordsAhead(parts, next, nextContext);
  await makeRoom(parts, k, recordNext ? nextContext + next : 0);
  const verify = sampled?.verify;
  // A step recorded ahead: the draft goes back to before the newest token but one, which its
  // first pass takes with the newest.
  const draftFrom = context.length - FIRST_DRAFT_TOKENS;
  if (serves(ahead, verify?.kind ?? 'greedy', ts, ds, k, context.length, draftFrom)) {
    const writeRule = sampled && (() => writeSampledRule(t, sampled.verify, sampled.options));
    submitAhead(t, buffers, ahead, draftFrom, context.slice(-FIRST_DRAFT_TOKENS), last, writeRule);
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
  if (recordNext) recordNextStep(parts, buffers, next, nextContext, verify && sampledVerifyOf(t, verify, next));
}

/** Copies a draft pass's argmax into slot i of the list of drafts, after the pass. */
function keepDraft(d: GpuModel, buffers: StepBuffers, i: number) {
  return (encoder: GPUCommandEncoder) => encoder.copyBufferToBuffer(d.idsBuffer, 0, buffers.drafts, i * 4, 4);
}

/**
 * Whether the step after this one, of k drafts for a context of at most `maxContext` tokens,
 * is recorded ahead: the profile says so, neither model has Gated DeltaNet layers (whose
 * states a pass over the same position again would not leave as they were), the batches take
 * it, and both caches hold it.
 */
function recordsAhead(parts: DeviceStepParts, k: number, maxContext: number): boolean {
  const { t, d, ts, ds } = parts;
  return (
    bothRecordAhead(t, d) &&
    k <= MAX_DEVICE_DRAFTS &&
    k + 1 <= t.maxBatch &&
    d.maxBatch >= FIRST_DRAFT_TOKENS &&
    maxContext + k <= ts.capacity &&
    maxContext + k - 1 <= ds.capacity
  );
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
  const into = t.gpu.device.createCommandEncoder();
  const first = { cpuTokens: FIRST_DRAFT_TOKENS, slot: 0, into };
  const drafts = [d.recordAhead(ds, first, 1, maxContext - FIRST_DRAFT_TOKENS, keep(0), want)];
  for (let i = 1; i < k; i++) {
    const fromGpu = { buffer: buffers.drafts, offset: (i - 1) * 4, count: 1 };
    drafts.push(d.recordAhead(ds, { cpuTokens: 0, fromGpu, slot: i, into }, 1, maxContext + i - 1, keep(i), want));
  }
  const verify = sampled
    ? recordSampledVerifyAhead(t, ts, buffers.drafts, sampled, maxContext - 1, into)
    : recordVerifyAhead(t, ts, buffers, k, maxContext - 1, into);
  keepAhead(buffers, {
    kind: sampled ? sampled.kind : 'greedy',
    k,
    leaves: 0,
    ranks: 1,
    firstTokens: FIRST_DRAFT_TOKENS,
    target: ts,
    draft: ds,
    maxContext,
    drafts,
    verify,
    commands: [into.finish()],
  });
}

/**
 * Makes a pair's device-step buffers and kernels now, at load, and compiles the kernels'
 * pipelines side by side, so that the first step compiles no pipeline and allocates nothing
 * (a pipeline compiled when first dispatched blocks the step that records it: on an H200 the
 * first sampled reply's steps averaged 24 ms of recording against 2 ms after);
 * `draftToTarget`: a head's d2t.
 */
export async function prepareDeviceSteps(target: GpuModel, draft: GpuModel, draftToTarget?: Uint32Array) {
  await compilePipelines(collectPipelines(() => makeDeviceSteps(target, draft, draftToTarget)).pipelines);
}

/** Makes a pair's device-step buffers and kernels (their pipelines not yet compiled). */
export function makeDeviceSteps(target: GpuModel, draft: GpuModel, draftToTarget?: Uint32Array): void {
  stepBuffers(target, draft);
  sampledBuffers(target, draft, draftToTarget);
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
  lengths: StepLengths,
  options: SampledStepOptions,
): Promise<SampledDeviceStep | undefined> {
  const { k } = lengths;
  const parts = deviceStepParts(target, draft, context, k);
  if (!parts) return undefined;
  const { t, d, ts, ds } = parts;
  const seed = options.rng.nextUint32();
  const buffers = stepBuffers(t, d);
  const verify = sampledVerify(t, sampledBuffers(t, d), d.config.vocabSize, k, options.rows);
  return t.exclusive(() =>
    d.exclusive(async () => {
      d.setSampling(options.sampling, seed);
      await submitStep(parts, buffers, context, lengths, { verify, options });
      const step = await sampledVerdict(t, ts, verify, context.length);
      ds.tokens.set(step.drafts.slice(0, -1), context.length);
      return step;
    }),
  );
}
