/**
 * `npm run bench -- --invariance [--shape NAME]`: checks, on this machine's adapter, that the
 * forward pass is batch-invariant bit for bit, which speculative decoding's "same output as
 * plain greedy decoding" and the prefix cache's "same as fresh" rest on. For the fixture models
 * and the real shapes (bench/shapes.ts, random weights), under each kernel profile, a prompt's
 * logits at every position are computed in one pass (on the GPU profile, the prefill kernel),
 * in chunks of 5 and of 3 tokens (the tiles of verify passes) and one token at a time
 * (decode), and each split is compared with the whole prompt value by value. A longer prompt
 * on the GPU profile with attention split at its smallest (segments of one workgroup's width)
 * checks the merge of split attention the same way, in chunks that end inside segments. With
 * `long`, a prompt of that many tokens on the GPU profile as it is (segments of 512 positions):
 * prefill chunks of 512 tokens (tiled attention), against chunks of 509 and of 37 and one token
 * at a time, compared position by position as the passes go, so that no more than a chunk of
 * each split's logits is held.
 *
 * The GPU tests check the same on the fixtures; this runs it anywhere the bundled benchmark
 * runs (`.device/run.sh bench --invariance`), on a real GPU's compiler and hardware.
 */

import type { Gpu } from '../src/gpu/device';
import { attentionWorkgroup } from '../src/kernels/attention';
import { CPU_PROFILE, GPU_PROFILE } from '../src/kernels/profile';
import { GpuModel } from '../src/model/gpu-model';
import { Rng } from '../src/util/rng';
import { modelsToRun, type ProfiledModel } from './profile';

export interface SplitCheck {
  /** How the prompt was split: 'chunks of 5', 'chunks of 3', 'one at a time' */
  split: string;
  /** Logits whose bits differ from the whole prompt's */
  mismatched: number;
  /** The largest absolute difference among them (0 when none) */
  max_abs_diff: number;
}

export interface InvarianceCheck {
  model: string;
  profile: 'GPU' | 'CPU' | 'GPU, split attention' | 'GPU, long prompt';
  tokens: number;
  splits: SplitCheck[];
}

export interface InvarianceResults {
  device: string;
  identical: boolean;
  checks: InvarianceCheck[];
}

/** More than the prefill kernel's tile of 32 tokens, and not a multiple of it. */
const PROMPT_TOKENS = 40;
const SPLITS: [string, number][] = [
  ['chunks of 5', 5],
  ['chunks of 3', 3],
  ['one at a time', 1],
];
/** Chunks whose ends fall inside attention segments, and verify-sized ones. */
const LONG_SPLITS: [string, number][] = [
  ['chunks of 37', 37],
  ['chunks of 5', 5],
];
/** A long prompt's reference chunk (a prefill chunk's size) and the splits it is checked against. */
const LONG_CHUNK = 512;
const LONG_PROMPT_SPLITS: [string, number][] = [
  ['chunks of 509', 509],
  ['chunks of 37', 37],
  ['one at a time', 1],
];
const PROFILES = [
  ['GPU', GPU_PROFILE],
  ['CPU', CPU_PROFILE],
] as const;

/** Logits at every position of `ids`, fed to a fresh sequence `chunk` tokens a pass. */
async function logitsInChunks(model: GpuModel, ids: number[], chunk: number): Promise<Float32Array> {
  const vocab = model.config.vocabSize;
  const sequence = model.createSequence(ids.length);
  const out = new Float32Array(ids.length * vocab);
  try {
    for (let begin = 0; begin < ids.length; begin += chunk) {
      out.set(await model.forward(sequence, ids.slice(begin, begin + chunk)), begin * vocab);
    }
  } finally {
    sequence.release();
  }
  return out;
}

/** `got` against `whole`, value by value, by their bits (so -0 differs from 0, and a NaN is compared too). */
export function compareBits(split: string, got: Float32Array, whole: Float32Array): SplitCheck {
  const gotBits = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const wholeBits = new Uint32Array(whole.buffer, whole.byteOffset, whole.length);
  let mismatched = 0;
  let maxAbsDiff = 0;
  for (let i = 0; i < got.length; i++) {
    if (gotBits[i] !== wholeBits[i]) {
      mismatched++;
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got[i] - whole[i]));
    }
  }
  return { split, mismatched, max_abs_diff: maxAbsDiff };
}

/**
 * `ids` fed `chunk` tokens a pass against `reference` tokens a pass, each on a sequence of its
 * own, the one behind fed next: logits are compared as soon as both have a position's, then
 * dropped.
 */
async function compareChunkings(
  model: GpuModel,
  ids: number[],
  split: [string, number],
  reference: number,
): Promise<SplitCheck> {
  const vocab = model.config.vocabSize;
  const runs = [reference, split[1]].map((chunk) => ({
    chunk,
    sequence: model.createSequence(ids.length),
    fed: 0,
    pending: new Float32Array(0), // logits of positions compared .. fed
  }));
  let compared = 0;
  let mismatched = 0;
  let maxAbsDiff = 0;
  try {
    while (compared < ids.length) {
      const run = runs[0].fed <= runs[1].fed ? runs[0] : runs[1];
      const logits = await model.forward(run.sequence, ids.slice(run.fed, run.fed + run.chunk));
      const pending = new Float32Array(run.pending.length + logits.length);
      pending.set(run.pending);
      pending.set(logits, run.pending.length);
      run.pending = pending;
      run.fed = Math.min(ids.length, run.fed + run.chunk);
      const both = Math.min(runs[0].fed, runs[1].fed) - compared;
      if (both === 0) continue;
      const check = compareBits(
        split[0],
        runs[1].pending.subarray(0, both * vocab),
        runs[0].pending.subarray(0, both * vocab),
      );
      mismatched += check.mismatched;
      maxAbsDiff = Math.max(maxAbsDiff, check.max_abs_diff);
      for (const r of runs) r.pending = r.pending.slice(both * vocab);
      compared += both;
    }
  } finally {
    for (const run of runs) run.sequence.release();
  }
  return { split: split[0], mismatched, max_abs_diff: maxAbsDiff };
}

/** The checks run a few step lengths of the many a profile prepares for: only those are compiled. */
const ON_FIRST_USE = 'on-first-use' as const;

/** A `tokens`-long prompt on the GPU profile as it is, prefill chunks against the long splits. */
async function checkLongPrompt(gpu: Gpu, subject: ProfiledModel, tokens: number): Promise<InvarianceCheck> {
  const rng = new Rng(13);
  const ids = Array.from({ length: tokens }, () => rng.int(0, subject.config.vocabSize));
  const options = { profile: GPU_PROFILE, maxBatch: LONG_CHUNK, maxContext: tokens, compile: ON_FIRST_USE };
  const model = await GpuModel.create(gpu, subject.config, subject.weights, options);
  try {
    const splits = [];
    for (const split of LONG_PROMPT_SPLITS) splits.push(await compareChunkings(model, ids, split, LONG_CHUNK));
    return { model: subject.name, profile: 'GPU, long prompt', tokens, splits };
  } finally {
    model.destroy();
  }
}

async function checkModel(gpu: Gpu, subject: ProfiledModel): Promise<InvarianceCheck[]> {
  const rng = new Rng(11);
  const prompt = (length: number) => Array.from({ length }, () => rng.int(0, subject.config.vocabSize));
  // Attention's smallest split is its workgroup's width (attention.wgsl): three segments and some.
  const split = attentionWorkgroup(subject.config.headDim);
  const runs = [
    ...PROFILES.map(([name, profile]) => ({ name, profile, ids: prompt(PROMPT_TOKENS), splits: SPLITS })),
    {
      name: 'GPU, split attention' as const,
      profile: { ...GPU_PROFILE, attentionSplit: split },
      ids: prompt(3 * split + 11),
      splits: LONG_SPLITS,
    },
  ];
  const checks: InvarianceCheck[] = [];
  for (const { name, profile, ids, splits: chunks } of runs) {
    const options = { profile, maxBatch: 64, maxContext: ids.length, compile: ON_FIRST_USE };
    const model = await GpuModel.create(gpu, subject.config, subject.weights, options);
    try {
      const whole = await logitsInChunks(model, ids, ids.length);
      const splits = [];
      for (const [split, chunk] of chunks) {
        splits.push(compareBits(split, await logitsInChunks(model, ids, chunk), whole));
      }
      checks.push({ model: subject.name, profile: name, tokens: ids.length, splits });
    } finally {
      model.destroy();
    }
  }
  return checks;
}

/**
 * The fixture models given, then the real shapes whose name contains `only` (see modelsToRun);
 * with `longPrompt` tokens, each with a prompt that long as well.
 */
export async function runInvariance(
  gpu: Gpu,
  fixtures: ProfiledModel[],
  log: (line: string) => void = () => {},
  only = '',
  longPrompt = 0,
  measured: (partial: InvarianceResults) => void = () => {},
): Promise<InvarianceResults> {
  const device = `${gpu.info.vendor} ${gpu.info.device || gpu.info.architecture}`;
  const checks: InvarianceCheck[] = [];
  const identical = () => checks.every((c) => c.splits.every((s) => s.mismatched === 0));
  for (const subject of modelsToRun(fixtures, only)) {
    const model = subject();
    const long = longPrompt > 0 ? [await checkLongPrompt(gpu, model, longPrompt)] : [];
    for (const check of [...(await checkModel(gpu, model)), ...long]) {
      checks.push(check);
      const splits = check.splits.map((s) => `${s.split}: ${s.mismatched ? `${s.mismatched} differ` : 'identical'}`);
      log(`${check.model}, ${check.profile} profile, ${check.tokens} tokens: ${splits.join('; ')}`);
    }
    measured({ device, identical: identical(), checks });
  }
  return { device, identical: identical(), checks };
}
