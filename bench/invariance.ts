/**
 * `npm run bench -- --invariance [--shape NAME]`: checks, on this machine's adapter, that the
 * forward pass is batch-invariant bit for bit, which speculative decoding's "same output as
 * plain greedy decoding" and the prefix cache's "same as fresh" rest on. For the fixture models
 * and the real shapes (bench/shapes.ts, random weights), under each kernel profile, a prompt's
 * logits at every position are computed in one pass (on the GPU profile, the prefill kernel),
 * in chunks of 5 and of 3 tokens (the tiles of verify passes) and one token at a time
 * (decode), and each split is compared with the whole prompt value by value. A longer prompt
 * on the GPU profile with attention split at its smallest (segments of one workgroup's width)
 * checks the merge of split attention the same way, in chunks that end inside segments.
 *
 * The GPU tests check the same on the fixtures; this runs it anywhere the bundled benchmark
 * runs (`.device/run.sh bench --invariance`), on a real GPU's compiler and hardware.
 */

import type { Gpu } from '../src/gpu/device';
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
  profile: 'GPU' | 'CPU' | 'GPU, split attention';
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

async function checkModel(gpu: Gpu, subject: ProfiledModel): Promise<InvarianceCheck[]> {
  const rng = new Rng(11);
  const prompt = (length: number) => Array.from({ length }, () => rng.int(0, subject.config.vocabSize));
  // Attention's smallest split is its workgroup's width (attention.wgsl): three segments and some.
  const split = Math.max(64, 2 ** Math.ceil(Math.log2(subject.config.headDim)));
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
    const options = { profile, maxBatch: 64, maxContext: ids.length };
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

/** The fixture models given, then the real shapes whose name contains `only` (see modelsToRun). */
export async function runInvariance(
  gpu: Gpu,
  fixtures: ProfiledModel[],
  log: (line: string) => void = () => {},
  only = '',
): Promise<InvarianceResults> {
  const checks: InvarianceCheck[] = [];
  for (const subject of modelsToRun(fixtures, only)) {
    for (const check of await checkModel(gpu, subject())) {
      checks.push(check);
      const splits = check.splits.map((s) => `${s.split}: ${s.mismatched ? `${s.mismatched} differ` : 'identical'}`);
      log(`${check.model}, ${check.profile} profile, ${check.tokens} tokens: ${splits.join('; ')}`);
    }
  }
  const identical = checks.every((c) => c.splits.every((s) => s.mismatched === 0));
  return { device: `${gpu.info.vendor} ${gpu.info.device || gpu.info.architecture}`, identical, checks };
}
