/**
 * `npm run bench -- --profile`: where a forward step's time goes. For the fixture models and
 * the real shapes (bench/shapes.ts), a decode step, a verify step over 5 tokens and a prefill
 * step of 64 are timed wall-clock as the decode loop runs them (the prefill also without the
 * prefill kernel, on a profile that has one), then again with every dispatch timed on the GPU
 * (src/gpu/dispatch-profiler.ts), summed by kernel; and the CPU time to record the step and its
 * GPU span. Wall time minus GPU span is what the step spends outside the GPU: recording,
 * submission, waking up for the readback.
 */

import { createStorage } from '../src/gpu/buffers';
import type { Gpu } from '../src/gpu/device';
import { DispatchProfiler, type ProfileMode, type StepTimes } from '../src/gpu/dispatch-profiler';
import { bindBuffers, computePipeline } from '../src/gpu/pipelines';
import { attentionWorkgroup, TILED_ATTENTION_MIN_TOKENS } from '../src/kernels/attention';
import { MAX_FOUR_ROWS_TILE_N } from '../src/kernels/linear-lanes';
import { runsPrefill, tileFor } from '../src/kernels/linear-layer';
import { type KernelProfile, kernelProfile } from '../src/kernels/profile';
import type { ModelConfig } from '../src/loader/config';
import { isQuantized, type ModelWeights } from '../src/loader/weights';
import { GpuModel } from '../src/model/gpu-model';
import { destroyWeights, uploadWeights } from '../src/model/gpu-weights';
import { timingWeights } from '../src/model/random-weights';
import { Rng } from '../src/util/rng';
import copyCode from './copy.wgsl?raw';
import { SHAPE_PAIRS } from './shapes';
import { time } from './stats';
import { round } from './suites/kernels';

export interface KernelTime {
  label: string;
  calls: number;
  /** GPU microseconds per step, all calls together */
  us: number;
}

export interface StepProfile {
  tokens: number;
  /** The step as the decode loop runs it: record, submit, wait, read back */
  wall_ms: number;
  /** The same with the step recorded in this many command buffers (the profile's choice above) */
  wall_by_command_buffers: { command_buffers: number; ms: number }[];
  /** The same with one choice of the profile changed (`alternatives`), the wall time side by side */
  alternatives: { change: string; wall_ms: number }[];
  /** CPU time recording the step's commands */
  record_ms: number;
  /** GPU time from the step's first pass starting to its last pass ending */
  gpu_ms: number;
  /** Sum of the dispatches' GPU times, each dispatch in a pass of its own */
  kernels_ms: number;
  kernels: KernelTime[];
}

export interface ModelProfile {
  name: string;
  context_tokens: number;
  steps: StepProfile[];
}

/** The fixed cost of one small dispatch that depends on the one before it (a barrier between). */
export interface DispatchCost {
  dispatches: number;
  /** CPU microseconds to record one (setPipeline, setBindGroup, dispatchWorkgroups) */
  record_us: number;
  /** GPU microseconds per dispatch over one pass of them */
  gpu_us: number;
}

export interface ProfileResults {
  device: string;
  dispatch: DispatchCost;
  models: ModelProfile[];
}

export interface ProfiledModel {
  name: string;
  config: ModelConfig;
  weights: ModelWeights;
}

/** Positions cached before each timed step (`--context`: longer, for attention's share). */
export const PROFILE_CONTEXT = 64;
const VERIFY_TOKENS = 5;
/** Decode, verify and prefill steps; all but verify read back the last token's id only. */
const STEP_TOKENS = [1, VERIFY_TOKENS, 64];
const COMMAND_BUFFERS = [1, 2, 4, 8];

function byKernel(times: { label: string; ns: number }[]): KernelTime[] {
  const totals = new Map<string, KernelTime>();
  for (const { label, ns } of times) {
    const entry = totals.get(label) ?? { label, calls: 0, us: 0 };
    entry.calls++;
    entry.us += ns / 1000;
    totals.set(label, entry);
  }
  return [...totals.values()].map((k) => ({ ...k, us: round(k.us, 1) })).sort((a, b) => b.us - a.us);
}

/**
 * The choices of `profile` worth timing the other way for a step of `tokens`, one at a time:
 * the questions one short run on a GPU server should answer. `quantized`: the model has
 * quantized weights, whose lanes may take whole words or their u32s; `context`: the positions
 * before the step.
 */
export function alternatives(
  profile: KernelProfile,
  tokens: number,
  headDim: number,
  quantized = false,
  context = 0,
): Partial<KernelProfile>[] {
  const prefill = runsPrefill(profile, tokens);
  const changes: Partial<KernelProfile>[] = [];
  // Tiles of 16 tokens instead of the prefill kernel, or for a quantized model whose layers take
  // tiles, the prefill kernel instead.
  if (prefill) changes.push(quantized && !profile.prefillQuantized ? { prefillQuantized: true } : { prefill: false });
  if (profile.rowBlock === 1) {
    // A quantized row's lanes the other way: whole words, or their u32s (quantized.wgsl).
    if (quantized) changes.push({ splitGroups: !profile.splitGroups });
    // Its units loaded one at a time, or four before the first is added (the same bits).
    if (quantized) changes.push({ unitsInFlight: profile.unitsInFlight > 1 ? 1 : 4 });
    // The norms' other placement (a prefill step runs a norm dispatch either way), and more
    // threads a layer: on an H200 a matrix's bandwidth grew with its threads (bench/README.md).
    if (!prefill) changes.push({ fusedNorm: !profile.fusedNorm });
    // Two rows a thread in the step's tile, or one (the step's tile decides; bits are the same).
    if (!prefill) {
      changes.push({ twoRowsFrom: tokens >= profile.twoRowsFrom ? Number.POSITIVE_INFINITY : tokens });
    }
    // A decode step's rows four a thread in no layer, or where the profile has none, in every one.
    if (tokens === 1) {
      const never = profile.fourRowsMinThreads === Number.POSITIVE_INFINITY;
      changes.push({ fourRowsMinThreads: never ? 0 : Number.POSITIVE_INFINITY });
    }
    // A verify tile's rows four a thread where the decode step's are (quantized layers with the
    // threads for it), or two: the step's tile the other way.
    const tiles = [1, ...profile.tiles];
    const tile = tiles[tileFor(tiles, tokens)];
    if (quantized && !prefill && tile > 1 && tile <= MAX_FOUR_ROWS_TILE_N && profile.fourRowsMinThreads < Infinity) {
      changes.push({ fourRowsTiles: tile <= profile.fourRowsTiles ? tile - 1 : tile });
    }
    changes.push({ minWorkgroups: profile.minWorkgroups * 4 });
    // A verify step's tokens over more workgroups: tiles of at most 3 tokens (each loading the
    // weights again), where a step's time goes into each thread's serial work, not its bytes
    // (on an H200 a 9-token pass of a q4 model cost 7.3 decode steps). Steps past the largest
    // tile would run the prefill kernel: not here.
    const largest = profile.tiles[profile.tiles.length - 1];
    if (!prefill && tokens > 3 && largest > 3) {
      changes.push({ tiles: profile.tiles.filter((n) => n <= 3), prefill: false });
    }
  }
  // Attention in segments of one workgroup's width up to attentionFine positions (several
  // workgroups a head even at short contexts), or where the profile has them, without them.
  const segment = attentionWorkgroup(headDim);
  if (!profile.serialAttention && profile.attentionFine > 0) changes.push({ attentionFine: 0 });
  else if (!profile.serialAttention && profile.attentionSplit > segment) changes.push({ attentionSplit: segment });
  // Past the one-tile segments, segments half as long: a shorter serial walk for each workgroup.
  if (!profile.serialAttention && profile.attentionFine > 0 && context > profile.attentionFine) {
    changes.push({ attentionSplit: profile.attentionSplit / 2 });
  }
  // Past a prefill's tokens, a KV head's query heads in one workgroup or apart, the other way
  // from the profile at this context.
  if (!profile.serialAttention && tokens < TILED_ATTENTION_MIN_TOKENS) {
    const grouped = context + tokens >= profile.attentionGroupedFrom;
    changes.push({ attentionGroupedFrom: grouped ? Number.POSITIVE_INFINITY : 0 });
  }
  return changes;
}

/** "fusedNorm: true": a change as the results name it. */
export function describeChange(change: Partial<KernelProfile>): string {
  return Object.entries(change)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ');
}

export async function profileModel(
  gpu: Gpu,
  subject: ProfiledModel,
  runs = 10,
  context = PROFILE_CONTEXT,
): Promise<ModelProfile> {
  const { config } = subject;
  const capacity = context + Math.max(...STEP_TOKENS);
  const weights = uploadWeights(gpu, config, subject.weights); // one upload; each variant below builds on it
  const quantized = [...subject.weights.values()].some((tensor) => isQuantized(tensor.dtype));
  const profile = kernelProfile(gpu.info);
  const profiler = new DispatchProfiler(gpu.device);
  const rng = new Rng(3);
  const prompt = Array.from({ length: context }, () => rng.int(0, config.vocabSize));
  /** A model with `changes` to the device's kernel profile (or a profiler), its context prefilled. */
  const variant = async (changes: Partial<KernelProfile>, withProfiler?: DispatchProfiler) => {
    const model = await GpuModel.onWeights(gpu, config, weights, {
      maxContext: capacity,
      profile: { ...profile, ...changes },
      profiler: withProfiler,
    });
    const sequence = model.createSequence(capacity);
    // The context's prefill untimed: its chunks' dispatches would outnumber a step's queries.
    if (withProfiler) withProfiler.paused = true;
    await model.greedy(sequence, prompt, 'last');
    if (withProfiler) withProfiler.paused = false;
    const step = async (tokens: number) => {
      sequence.truncate(context);
      await model.greedy(sequence, prompt.slice(0, tokens), tokens === VERIFY_TOKENS ? 'all' : 'last');
    };
    const dispose = () => {
      sequence.release();
      model.destroy();
    };
    return { step, dispose };
  };
  const wallMs = async (changes: Partial<KernelProfile>, tokens: number) => {
    const { step, dispose } = await variant(changes);
    const ms = round((await time(() => step(tokens), runs, 2)).median);
    dispose();
    return ms;
  };
  if (!COMMAND_BUFFERS.includes(profile.commandBuffers)) {
    throw new RangeError(`the profile's ${profile.commandBuffers} command buffers are not among ${COMMAND_BUFFERS}`);
  }
  try {
    const steps: StepProfile[] = [];
    for (const tokens of STEP_TOKENS) {
      const wallByCommandBuffers = [];
      for (const count of COMMAND_BUFFERS) {
        wallByCommandBuffers.push({ command_buffers: count, ms: await wallMs({ commandBuffers: count }, tokens) });
      }
      const wall = wallByCommandBuffers.find((w) => w.command_buffers === profile.commandBuffers) as {
        ms: number;
      };
      const others = [];
      for (const change of alternatives(profile, tokens, config.headDim, quantized, context)) {
        others.push({ change: describeChange(change), wall_ms: await wallMs(change, tokens) });
      }
      const profiled = await variant({}, profiler);
      const timed = async (mode: ProfileMode) => {
        profiler.mode = mode;
        await profiled.step(tokens); // the first profiled step pays for new pass objects; keep the second
        await profiler.read();
        await profiled.step(tokens);
        return profiler.read();
      };
      const whole = await timed('passes');
      const split = await timed('dispatches');
      profiled.dispose();
      const kernelsNs = split.passes.reduce((sum, t) => sum + t.ns, 0);
      steps.push({
        tokens,
        wall_ms: wall.ms,
        wall_by_command_buffers: wallByCommandBuffers,
        alternatives: others,
        record_ms: round(whole.recordMs),
        gpu_ms: round(whole.spanNs / 1e6),
        kernels_ms: round(kernelsNs / 1e6),
        kernels: byKernel(split.passes),
      });
    }
    return { name: subject.name, context_tokens: context, steps };
  } finally {
    profiler.destroy();
    destroyWeights(weights);
  }
}

/** Records `count` one-workgroup copies into the same buffer in one pass, timed. */
export async function dispatchCost(gpu: Gpu, count = 1000): Promise<DispatchCost> {
  const { device } = gpu;
  const src = createStorage(device, 1024, 'overhead src');
  const dst = createStorage(device, 1024, 'overhead dst');
  const pipeline = computePipeline(device, 'copy', copyCode);
  const bindGroup = bindBuffers(device, pipeline, 'copy', [src, dst]);
  const profiler = new DispatchProfiler(device);
  profiler.mode = 'passes';
  let best: StepTimes | undefined;
  for (let run = 0; run < 5; run++) {
    const encoder = device.createCommandEncoder();
    const pass = profiler.pass(encoder);
    for (let i = 0; i < count; i++) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(1);
    }
    pass.end();
    profiler.resolve(encoder);
    device.queue.submit([encoder.finish()]);
    const times = await profiler.read();
    if (!best || times.spanNs < best.spanNs) best = times;
  }
  profiler.destroy();
  src.destroy();
  dst.destroy();
  const { spanNs, recordMs } = best as StepTimes;
  return {
    dispatches: count,
    record_us: round((recordMs * 1000) / count, 2),
    gpu_us: round(spanNs / 1000 / count, 2),
  };
}

/**
 * The fixture models given, then every real shape (targets and drafts, each once, with random
 * weights) whose name contains `only`; each made when it is called, so one at a time is in memory.
 */
export function modelsToRun(fixtures: ProfiledModel[], only: string): (() => ProfiledModel)[] {
  const shapes = SHAPE_PAIRS.flatMap((pair) => [pair.target, pair.draft]).filter((s) => s.name.includes(only));
  return [
    ...fixtures.map((f) => () => f),
    ...shapes
      .filter((s, i) => shapes.findIndex((t) => t.name === s.name) === i)
      .map((s) => () => ({
        name: s.name,
        config: s.config,
        weights: timingWeights(s.config, 1, s.quantization === 'q4f16_1' ? 'Q4F16' : 'F16'),
      })),
  ];
}

/** The fixture models given, then the real shapes whose name contains `only` (see modelsToRun). */
export async function runProfile(
  gpu: Gpu,
  fixtures: ProfiledModel[],
  log: (line: string) => void = () => {},
  only = '',
  measured: (partial: ProfileResults) => void = () => {},
  context = PROFILE_CONTEXT,
): Promise<ProfileResults> {
  const device = `${gpu.info.vendor} ${gpu.info.device || gpu.info.architecture}`;
  const dispatch = await dispatchCost(gpu);
  log(`one small dependent dispatch: recording ${dispatch.record_us} us, GPU ${dispatch.gpu_us} us`);
  const models: ModelProfile[] = [];
  for (const subject of modelsToRun(fixtures, only)) {
    const profile = await profileModel(gpu, subject(), 10, context);
    models.push(profile);
    measured({ device, dispatch, models });
    for (const step of profile.steps) {
      const top = step.kernels
        .slice(0, 4)
        .map((k) => `${k.label} ${k.us} us/${k.calls}`)
        .join('; ');
      log(
        `${profile.name}, ${step.tokens} token(s) after ${context}: wall ${step.wall_ms} ms ` +
          `(${step.wall_by_command_buffers.map((w) => `${w.ms} in ${w.command_buffers}`).join(', ')}` +
          `${step.alternatives.map((a) => `; ${a.wall_ms} with ${a.change}`).join('')}), ` +
          `recording ${step.record_ms} ms, ` +
          `GPU ${step.gpu_ms} ms, kernels one by one ${step.kernels_ms} ms (${top})`,
      );
    }
  }
  return { device, dispatch, models };
}
