/**
 * Decode suite: plain vs speculative decoding on the fixture pair, on held-out chat prompts,
 * measured in the same run and interleaved (plain, speculative, plain, ...) so that drifts in
 * machine load hit both. Plain decoding runs through the same loop with no draft source, so
 * both sides are timed identically (decode only: from the first token to the last).
 * The measured fallback is off here: the point is to measure speculation itself.
 *
 * Given the target's EAGLE head too, it measures drafting with the head (runs with draft
 * 'eagle', against plain decoding of the target without the head's feature export) and the
 * head's step against the target's (`eagle`). Given a model with its own multi-token prediction
 * layer (the Qwen3.5 fixture), the same for that layer drafting for it (runs with draft 'mtp',
 * against the model's plain decoding; `mtp`). One run holds every reply to a JSON schema, plain
 * and speculative alike (`constrained`): each row masked by the grammar's mask, made on the CPU
 * between passes and applied on the GPU.
 */

import { ReplyClock } from '../../src/engine/usage';
import { GpuBusyTimer } from '../../src/gpu/busy-timer';
import type { Gpu } from '../../src/gpu/device';
import { kernelProfile } from '../../src/kernels/profile';
import type { EagleTarget } from '../../src/model/eagle';
import type { GpuModel } from '../../src/model/gpu-model';
import type { GpuSequence } from '../../src/model/gpu-sequence';
import { stepBuffers } from '../../src/model/gpu-step-buffers';
import { type FolderPair, uploadPair } from '../../src/model/pair';
import type { Sequence } from '../../src/model/types';
import { ResponseGrammars } from '../../src/sampling/grammar';
import type { SamplingParams } from '../../src/sampling/sampling';
import { DraftHistory, type DraftLength } from '../../src/speculative/draft-length';
import { type DraftKind, draftSource } from '../../src/speculative/draft-source';
import { speculativeGenerate } from '../../src/speculative/speculative';
import { speculativeStats } from '../../src/speculative/stats';
import type { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { verifyMs } from '../predict';
import { summarize, time } from '../stats';
import { round } from './kernels';
import { VERIFY_FULL, VERIFY_QUICK, type VerifyCost, verifyCosts } from './model';

/** What drafts in a run: the draft model, the EAGLE head, prompt lookup, or Qwen3.5's own MTP layer. */
export type RunDraft = Exclude<DraftKind, 'none'> | 'mtp';

export interface DecodeRun {
  draft: RunDraft;
  draft_length: DraftLength;
  /** Depths with leaves beside the chain's first drafts: a token tree verified in one pass (0: a chain). */
  tree: number;
  /** Leaves at each of those depths. */
  tree_width: number;
  temperature: number;
  /**
   * Whether the replies were held to a JSON schema (`response_format`: plain and speculative
   * decoding alike), each row masked by the grammar: what speculation gains in JSON mode.
   */
  constrained: boolean;
  plain_tok_s: number;
  spec_tok_s: number;
  /** The fastest and slowest of the runs behind each median: how far this machine's timings swing. */
  plain_tok_s_range: [number, number];
  spec_tok_s_range: [number, number];
  /**
   * The median of each speculative generation's speed over the plain one timed just before it
   * (the same prompt, back to back): a drift of the host's or the GPU's speed between
   * generations moves it less than it moves the ratio of the two medians.
   */
  speedup: number;
  acceptance_rate: number;
  mean_accepted_length: number;
  /** Tokens drafted per step: k, or what 'auto' drafted on average. */
  mean_draft_length: number;
  per_position: number[];
  target_forwards_per_token: number;
  draft_forwards_per_token: number;
  /** Of the speculative side's tokens, the share a JSON mode run's grammar allowed alone (verified without drafts; 0 unconstrained). */
  forced_share: number;
  /** GPU-to-CPU readbacks (each a wait for the GPU) per generated token, speculating: target and draft together. */
  round_trips_per_token: number;
  /** Bytes those readbacks carried per generated token: token ids and verdicts, or rows of logits. */
  readback_bytes_per_token: number;
  /** Command buffers a speculative step submits, target and draft together: each costs the CPU a submission. */
  submissions_per_step: number;
  /**
   * Whether the profile let device steps record the next step while the GPU ran them
   * (profile.recordAhead; false in the runs that show what it gains), and the share of steps
   * that were submitted from passes so recorded.
   */
  record_ahead: boolean;
  steps_ahead: number;
  /**
   * A speculative step's wall time (ms), and of it the CPU's time recording and submitting
   * passes (target and draft) and waiting for the GPU's results; the rest is the loop's own
   * work (acceptance, sampling, bookkeeping).
   */
  step_ms: number;
  record_ms: number;
  submit_ms: number;
  wait_ms: number;
  /**
   * The GPU's busy time in a speculative step (ms), and in a plain step of the same runs: the
   * compute passes' spans by timestamp queries, the gaps where the GPU waited for the CPU left
   * out. Beside `step_ms` it says whether a step is bound by the GPU or by the CPU. Null where
   * the device has no timestamp queries.
   */
  gpu_ms: number | null;
  plain_gpu_ms: number | null;
  /**
   * The speed-up the cost model (bench/predict.ts) gives for this run's measured tokens per
   * target pass and draft steps per pass: close to `speedup` when the measured step and verify
   * costs explain it, as the real-shape predictions assume.
   */
  predicted_speedup: number;
}

export interface DecodeResults {
  /** Headline: the draft model with draft length 'auto', greedy. */
  plain_tok_s: number;
  spec_tok_s: number;
  speedup: number;
  acceptance_rate: number;
  mean_accepted_length: number;
  /** One plain decode step of the target and of the draft at the prompts' end. */
  target_step_ms: number;
  draft_step_ms: number;
  /** Dispatches one decode step records: in each decoder layer, and in all (embedding and head too). */
  dispatches: { target_per_layer: number; target_per_step: number; draft_per_layer: number; draft_per_step: number };
  runs: DecodeRun[];
  /** With an EAGLE head: its decode step, and as a share of the target's; its headline run ('auto', greedy). */
  eagle?: HeadResults;
  /** With a model that carries an MTP layer: the same for that layer and its model (`target`). */
  mtp?: HeadResults & { target: string; target_step_ms: number };
}

export interface HeadResults {
  head_step_ms: number;
  head_step_ratio: number;
  /** Dispatches the head's decode step records (its input projection, layer, LM head and argmax). */
  head_dispatches_per_step: number;
  speedup: number;
  acceptance_rate: number;
  mean_accepted_length: number;
}

/** A head's model: the target with its head as one, and the head's own GPU model. */
type HeadPair = { model: EagleTarget<GpuSequence, GpuSequence>; head: GpuModel };

/**
 * A target and what drafts for it in a run: the model plain decoding runs, the one speculation
 * runs (the target, or the target with its head as one), the GPU models whose counters a run
 * reads, the prompts, and the costs of the cost model.
 */
interface Subject {
  plain: GpuModel;
  model: GpuModel | HeadPair['model'];
  counted: GpuModel[];
  /** A draft model and its sequence, where it drafts with one. */
  draft?: { model: GpuModel; sequence: GpuSequence };
  /** Steps its pair has taken from passes recorded ahead, so far (gpu-speculation.ts). */
  stepsAhead: () => number;
  prompts: number[][];
  targetStepMs: number;
  draftStepMs: number;
  /** A head's dispatches a decode step (GpuModel.countDispatches). */
  headDispatches?: number;
  verify: VerifyCost[];
}

/** The JSON mode run's schema: a small object the fixture pair (storytellers) fills in a few dozen tokens. */
const JSON_REPLY = {
  type: 'json_object' as const,
  schema: JSON.stringify({
    type: 'object',
    properties: { hero: { type: 'string', maxLength: 16 }, brave: { type: 'boolean' } },
    required: ['hero', 'brave'],
  }),
};

export const HELD_OUT_REQUESTS = [
  'Can you tell me a story about Zoe the turtle?',
  'Please write a short story about a bear called Max.',
  'I would like a story about a curious owl. Its name is Ruby.',
];

/** A sum of GPU times that stays undefined once one of them could not be measured. */
function addTime(sum: number | undefined, ms: number | undefined): number | undefined {
  return sum === undefined || ms === undefined ? undefined : sum + ms;
}

/** The held-out requests as `tokenizer`'s chat template renders them. */
function chatPrompts(tokenizer: TextTokenizer, requests: string[]): number[][] {
  return requests.map((user) =>
    tokenizer.encodeChat([
      { role: 'system', content: 'You are a friendly storyteller.' },
      { role: 'user', content: user },
    ]),
  );
}

/** One plain decode step of `model` at the end of `prompt` (the median of five). */
async function stepMs(model: GpuModel, prompt: number[], capacity: number): Promise<number> {
  const sequence = model.createSequence(capacity);
  await model.greedy(sequence, prompt, 'last');
  const summary = await time(async () => {
    sequence.truncate(prompt.length - 1);
    await model.greedy(sequence, prompt.slice(-1), 'last');
  }, 5);
  sequence.release();
  return summary.median;
}

/** A head's step at the end of `prompt`: one draft token fed its own hidden state, after a catch-up over the prompt. */
async function headStepMs({ model, head }: HeadPair, prompt: number[], capacity: number): Promise<number> {
  const sequence = model.createSequence(capacity);
  await model.greedy(sequence, prompt.slice(0, -1), 'last');
  await head.greedyHidden(sequence.head, prompt.slice(1), { of: sequence.target, from: 0 });
  const length = sequence.head.length;
  const summary = await time(async () => {
    sequence.head.truncate(length);
    await head.greedyHidden(sequence.head, prompt.slice(-1), 'own');
  }, 5);
  sequence.release();
  return summary.median;
}

/**
 * `verify`: the fixture target's verify costs (the model suite's); `mtp`: a model read with its
 * MTP layer as its draft (`readPair` with draft 'mtp'), measured if given.
 */
export async function runDecodeSuite(
  gpu: Gpu,
  folders: FolderPair,
  quick: boolean,
  verify: VerifyCost[],
  mtp?: FolderPair,
): Promise<DecodeResults> {
  const tokens = quick ? 32 : 64;
  const capacity = 256;
  const pair = await uploadPair(gpu, { target: folders.target, draft: folders.draft }, { maxContext: capacity });
  // The target again, built to export its EAGLE head's features, with the head.
  const eaglePair = folders.head
    ? await uploadPair(gpu, { target: folders.target, head: folders.head }, { maxContext: capacity })
    : undefined;
  const eagle = eaglePair?.eagle;
  const targetModel = pair.target.model;
  if (!pair.draft) throw new RangeError('the decode suite needs a draft model');
  const draftModel = pair.draft.model;
  const draftSequence = draftModel.createSequence(capacity);
  const requests = quick ? HELD_OUT_REQUESTS.slice(0, 1) : HELD_OUT_REQUESTS;
  const prompts = chatPrompts(folders.target.tokenizer, requests);
  // The model with its MTP layer, and the model alone for plain decoding.
  const mtpPair = mtp && (await uploadPair(gpu, mtp, { maxContext: capacity }));
  // The pair and the head again, each step recorded when it runs: what recording ahead gains.
  const still = { maxContext: capacity, profile: { ...kernelProfile(gpu.info), recordAhead: false } };
  // The GPU's busy time in each run's steps, where the device has timestamp queries.
  const busy = gpu.hasTimestamps ? new GpuBusyTimer(gpu.device) : undefined;
  const pairNow = quick ? undefined : await uploadPair(gpu, { target: folders.target, draft: folders.draft }, still);
  const eagleNow =
    quick || !folders.head ? undefined : await uploadPair(gpu, { target: folders.target, head: folders.head }, still);
  const mtpPlain = mtp && (await uploadPair(gpu, { target: mtp.target }, { maxContext: capacity }));
  const grammars = new ResponseGrammars(() => ({
    table: folders.target.tokenizer.tokenTable(),
    spelling: folders.target.tokenizer.spelling,
    vocabSize: targetModel.config.vocabSize,
    stopTokens: folders.target.stopTokenIds,
  }));

  /** Decodes `prompt` for `subject` with a draft source of `kind`; the speed counts the tokens after the first. */
  const decode = async (
    subject: Subject,
    prompt: number[],
    kind: DraftKind,
    draftLength: DraftLength,
    sampling: SamplingParams,
    tree = 0,
    treeWidth = 1,
    history?: DraftHistory,
    constrained = false,
  ) => {
    const [model, models] = kind === 'none' ? [subject.plain, [subject.plain]] : [subject.model, subject.counted];
    const constraint = constrained ? await grammars.constraint(JSON_REPLY) : undefined;
    const sequence = model.createSequence(capacity);
    subject.draft?.sequence.truncate(0);
    const clock = new ReplyClock();
    const sum = (of: (m: GpuModel) => number) => models.reduce((total, m) => total + of(m), 0);
    const readbacks = sum((m) => m.readbacks);
    const readbackBytes = sum((m) => m.readbackBytes);
    const submissions = sum((m) => m.submissions);
    const cpu = () => ({
      record: sum((m) => m.cpuTime.recordMs),
      submit: sum((m) => m.cpuTime.submitMs),
      wait: sum((m) => m.cpuTime.waitMs),
    });
    // Counted from the first token on: the prompt's prefill is not a step.
    let before = cpu();
    let started = performance.now();
    let busyFrom = 0; // each read leaves a fresh window: the marker at the first token starts this run's
    const firstToken = () => {
      if (clock.firstToken !== undefined) return;
      busyFrom = busy?.mark() ?? 0; // a marker submitted: before the clocks start
      before = cpu();
      started = performance.now();
    };
    const result = await speculativeGenerate(
      model,
      sequence as Sequence,
      draftSource(kind, subject.draft, { model, sequence: sequence as Sequence }),
      prompt,
      {
        maxTokens: tokens,
        sampling,
        seed: 7,
        draftLength,
        fallback: false,
        tree,
        treeWidth,
        history,
        constraint,
        onToken: () => {
          firstToken();
          clock.token();
        },
      },
    );
    constraint?.dispose();
    clock.end();
    const wallMs = performance.now() - started;
    const after = cpu();
    sequence.release();
    // The GPU's busy time over the same steps (undefined without timestamp queries).
    const gpuMs = busy && (await busy.readMs(busyFrom));
    return {
      time: {
        wallMs,
        recordMs: after.record - before.record,
        submitMs: after.submit - before.submit,
        waitMs: after.wait - before.wait,
        gpuMs,
      },
      roundTrips: sum((m) => m.readbacks) - readbacks,
      readbackBytes: sum((m) => m.readbackBytes) - readbackBytes,
      submissions: sum((m) => m.submissions) - submissions,
      tokens: result.tokens,
      stats: speculativeStats(result.counts),
      tokS: clock.decodeTokensPerSecond(result.tokens.length),
    };
  };

  // Step costs at the end of the first prompt, for the cost model's prediction.
  const targetStepMs = await stepMs(targetModel, prompts[0], capacity);
  const draftStepMs = await stepMs(draftModel, prompts[0], capacity);
  const eagleStepMs = eagle ? await headStepMs(eagle, prompts[0], capacity) : 0;
  const fixture = { prompts, targetStepMs, verify, plain: targetModel };
  const stepsAhead = (t: GpuModel, d: GpuModel) => () => stepBuffers(t, d).stepsAhead;
  const dispatchCount = (model: GpuModel) => {
    const sequence = model.createSequence(capacity);
    const count = model.countDispatches(sequence, 1);
    sequence.release();
    return count;
  };
  const draftModelSubject = (t: GpuModel, d: GpuModel, sequence: GpuSequence): Subject => {
    const draft = { model: d, sequence };
    return { ...fixture, model: t, counted: [t, d], draft, stepsAhead: stepsAhead(t, d), draftStepMs };
  };
  const headSubject = (pair: HeadPair): Subject => {
    const t = pair.model.target as GpuModel;
    return {
      ...fixture,
      model: pair.model,
      counted: [t, pair.head],
      stepsAhead: stepsAhead(t, pair.head),
      draftStepMs: eagleStepMs,
      headDispatches: dispatchCount(pair.head).total,
    };
  };
  const subjects: Partial<Record<RunDraft, Subject>> = {
    model: draftModelSubject(targetModel, draftModel, draftSequence),
    ngram: { ...fixture, model: targetModel, counted: [targetModel], stepsAhead: () => 0, draftStepMs: 0 },
    ...(eagle && { eagle: headSubject(eagle) }),
  };
  // Each step recorded when it runs (the draft model's and the head's), for the same runs side by side.
  const subjectsNow: Partial<Record<RunDraft, Subject>> = {
    ...(pairNow?.draft && {
      model: draftModelSubject(pairNow.target.model, pairNow.draft.model, pairNow.draft.model.createSequence(capacity)),
    }),
    ...(eagleNow?.eagle && { eagle: headSubject(eagleNow.eagle) }),
  };
  if (mtpPair?.eagle && mtpPlain && mtp) {
    const plain = mtpPlain.target.model;
    const { model, head } = mtpPair.eagle;
    const mtpPrompts = chatPrompts(mtp.target.tokenizer, requests);
    // Its verify passes after the first prompt, cut back within its Gated DeltaNet window.
    const sequence = plain.createSequence(capacity);
    await plain.greedy(sequence, mtpPrompts[0], 'last');
    const counts = quick ? VERIFY_QUICK : VERIFY_FULL;
    const mtpVerify = await verifyCosts(plain, sequence, mtpPrompts[0].length, mtpPrompts[0], counts, quick ? 9 : 21);
    sequence.release();
    subjects.mtp = {
      plain,
      model,
      counted: [model.target as GpuModel, head],
      stepsAhead: stepsAhead(model.target as GpuModel, head),
      prompts: mtpPrompts,
      targetStepMs: await stepMs(plain, mtpPrompts[0], capacity),
      draftStepMs: await headStepMs(mtpPair.eagle, mtpPrompts[0], capacity),
      headDispatches: dispatchCount(head).total,
      verify: mtpVerify,
    };
  }
  const targetDispatches = dispatchCount(targetModel);
  const draftDispatches = dispatchCount(draftModel);
  gpu.busyTimer = busy; // from here on, every run's passes are timed

  const measure = async (
    draft: RunDraft,
    draftLength: DraftLength,
    temperature: number,
    tree = 0,
    treeWidth = 1,
    recordAhead = true,
    constrained = false,
  ): Promise<DecodeRun> => {
    const subject = (recordAhead ? subjects : subjectsNow)[draft];
    if (!subject) throw new Error(`no ${draft} to draft with`);
    const aheadBefore = subject.stepsAhead();
    const kind = draft === 'mtp' ? 'eagle' : draft;
    const sampling = { temperature, topK: 0, topP: 1 };
    const plain: number[] = [];
    const spec: number[] = [];
    // GPU time of the plain side's steps and how many (undefined once a run could not be timed).
    const plainGpu: { ms: number | undefined; steps: number } = { ms: 0, steps: 0 };
    let drafted = 0;
    let accepted = 0;
    let steps = 0;
    let produced = 0;
    let targetForwards = 0;
    let draftForwards = 0;
    let forced = 0;
    let roundTrips = 0;
    let readbackBytes = 0;
    let submissions = 0;
    const time = { wallMs: 0, recordMs: 0, submitMs: 0, waitMs: 0, gpuMs: 0 as number | undefined };
    const perPosition: number[][] = [];
    // A run's generations share what 'auto' learned, as the requests of a chat do (cached-generator.ts).
    const history = new DraftHistory();
    for (const prompt of subject.prompts) {
      await decode(subject, prompt, 'none', 1, sampling, 0, 1, undefined, constrained); // warm-up
      for (let repeat = 0; repeat < (quick ? 1 : 2); repeat++) {
        const plainRun = await decode(subject, prompt, 'none', 1, sampling, 0, 1, undefined, constrained);
        plain.push(plainRun.tokS);
        plainGpu.ms = addTime(plainGpu.ms, plainRun.time.gpuMs);
        plainGpu.steps += plainRun.tokens.length - 1; // a step a token after the first
        const {
          tokens: out,
          stats,
          tokS,
          roundTrips: trips,
          readbackBytes: bytes,
          submissions: submitted,
          time: t,
        } = await decode(subject, prompt, kind, draftLength, sampling, tree, treeWidth, history, constrained);
        spec.push(tokS);
        roundTrips += trips;
        readbackBytes += bytes;
        submissions += submitted;
        time.wallMs += t.wallMs;
        time.recordMs += t.recordMs;
        time.submitMs += t.submitMs;
        time.waitMs += t.waitMs;
        time.gpuMs = addTime(time.gpuMs, t.gpuMs);
        drafted += stats.drafted;
        accepted += stats.accepted;
        steps += stats.steps;
        produced += out.length;
        targetForwards += stats.target_forwards;
        draftForwards += stats.draft_forwards;
        forced += stats.forced_tokens;
        perPosition.push(stats.per_position);
      }
    }
    const plainSummary = summarize(plain);
    const specSummary = summarize(spec);
    const plainTokS = plainSummary.median;
    const specTokS = specSummary.median;
    const positions = Math.max(...perPosition.map((p) => p.length));
    // The cost model with this run's counts per target pass (bench/predict.ts).
    const passMs = (draftForwards / steps) * subject.draftStepMs + verifyMs(subject.verify, 1 + drafted / steps);
    const predicted = (((accepted + steps) / steps) * subject.targetStepMs) / passMs;
    return {
      draft,
      draft_length: draftLength,
      tree,
      tree_width: treeWidth,
      temperature,
      constrained,
      plain_tok_s: round(plainTokS, 1),
      spec_tok_s: round(specTokS, 1),
      plain_tok_s_range: [round(plainSummary.min, 1), round(plainSummary.max, 1)],
      spec_tok_s_range: [round(specSummary.min, 1), round(specSummary.max, 1)],
      speedup: round(summarize(spec.map((tokS, i) => tokS / plain[i])).median),
      acceptance_rate: round(drafted > 0 ? accepted / drafted : 0),
      mean_accepted_length: round(steps > 0 ? (accepted + steps) / steps : 0),
      mean_draft_length: round(steps > 0 ? drafted / steps : 0),
      per_position: Array.from({ length: positions }, (_, i) => {
        const seen = perPosition.filter((p) => p.length > i);
        return round(seen.reduce((sum, p) => sum + p[i], 0) / seen.length);
      }),
      target_forwards_per_token: round(targetForwards / produced),
      draft_forwards_per_token: round(draftForwards / produced),
      forced_share: round(forced / produced),
      round_trips_per_token: round(roundTrips / produced),
      readback_bytes_per_token: Math.round(readbackBytes / produced),
      submissions_per_step: round(submissions / steps),
      record_ahead: recordAhead,
      steps_ahead: round((subject.stepsAhead() - aheadBefore) / steps),
      // Per speculative step, from the first token on.
      step_ms: round(time.wallMs / steps),
      record_ms: round(time.recordMs / steps),
      submit_ms: round(time.submitMs / steps),
      wait_ms: round(time.waitMs / steps),
      gpu_ms: time.gpuMs === undefined ? null : round(time.gpuMs / steps),
      plain_gpu_ms: plainGpu.ms === undefined ? null : round(plainGpu.ms / plainGpu.steps),
      predicted_speedup: round(predicted),
    };
  };

  const runs: DecodeRun[] = [];
  const lengths: DraftLength[] = quick ? [1, 2, 4, 'auto'] : [1, 2, 3, 4, 5, 6, 7, 8, 'auto'];
  for (const k of lengths) runs.push(await measure('model', k, 0));
  runs.push(await measure('ngram', 'auto', 0));
  runs.push(await measure('model', 'auto', 0, 0, 1, true, true)); // JSON mode: replies held to a schema
  runs.push(await measure('model', 'auto', 0.7));
  if (!quick) runs.push(await measure('model', 3, 0, 0, 1, false)); // each step recorded when it runs
  if (!quick) runs.push(await measure('model', 'auto', 0.7, 0, 1, false)); // the same, sampled
  if (eagle) {
    for (const k of (quick ? ['auto'] : [3, 5, 'auto']) as DraftLength[]) runs.push(await measure('eagle', k, 0));
    runs.push(await measure('eagle', 5, 0, 3)); // a tree: the runner-up beside the first three drafts
    runs.push(await measure('eagle', 5, 0, 2, 2)); // a wider tree: the top three candidates at the first two depths
    runs.push(await measure('eagle', 'auto', 0.7));
    runs.push(await measure('eagle', 5, 0.7, 3)); // a sampled tree: a second draw beside the first three
    if (!quick) runs.push(await measure('eagle', 3, 0, 0, 1, false));
  }
  if (subjects.mtp) {
    // Chains only: a model with Gated DeltaNet layers verifies no tree.
    for (const k of (quick ? ['auto'] : [1, 3, 'auto']) as DraftLength[]) runs.push(await measure('mtp', k, 0));
    if (!quick) runs.push(await measure('mtp', 'auto', 0.7));
  }
  gpu.busyTimer = undefined;
  busy?.destroy();
  grammars.dispose();
  draftSequence.release();
  subjectsNow.model?.draft?.sequence.release();
  targetModel.destroy();
  draftModel.destroy();
  // Heads first: they share their targets' embeddings. The tokenizers are the caller's.
  for (const pair of [eaglePair, mtpPair, eagleNow]) {
    pair?.eagle?.head.destroy();
    pair?.target.model.destroy();
  }
  pairNow?.draft?.model.destroy();
  pairNow?.target.model.destroy();
  mtpPlain?.target.model.destroy();
  const headline = (draft: RunDraft) =>
    runs.find(
      (r) =>
        r.draft === draft &&
        r.draft_length === 'auto' &&
        r.temperature === 0 &&
        r.tree === 0 &&
        r.record_ahead &&
        !r.constrained,
    );
  const headResults = (run: DecodeRun, subject: Subject): HeadResults => ({
    head_step_ms: round(subject.draftStepMs),
    head_step_ratio: round(subject.draftStepMs / subject.targetStepMs),
    head_dispatches_per_step: subject.headDispatches ?? 0,
    speedup: run.speedup,
    acceptance_rate: run.acceptance_rate,
    mean_accepted_length: run.mean_accepted_length,
  });
  const eagleRun = headline('eagle');
  const mtpRun = headline('mtp');

  const modelRun = headline('model') as DecodeRun;
  return {
    plain_tok_s: modelRun.plain_tok_s,
    spec_tok_s: modelRun.spec_tok_s,
    speedup: modelRun.speedup,
    acceptance_rate: modelRun.acceptance_rate,
    mean_accepted_length: modelRun.mean_accepted_length,
    target_step_ms: round(targetStepMs),
    draft_step_ms: round(draftStepMs),
    dispatches: {
      target_per_layer: targetDispatches.perLayer,
      target_per_step: targetDispatches.total,
      draft_per_layer: draftDispatches.perLayer,
      draft_per_step: draftDispatches.total,
    },
    runs,
    ...(eagleRun && subjects.eagle && { eagle: headResults(eagleRun, subjects.eagle) }),
    ...(mtpRun &&
      subjects.mtp &&
      mtp && {
        mtp: {
          target: mtp.target.name,
          target_step_ms: round(subjects.mtp.targetStepMs),
          ...headResults(mtpRun, subjects.mtp),
        },
      }),
  };
}
