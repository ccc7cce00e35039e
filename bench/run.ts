/**
 * The benchmark, shared by the CLI (bench/cli.ts) and the page: runs the suites on one GPU and
 * returns one results object (schema: bench/README.md).
 */

import type { Gpu, GpuInfo } from '../src/gpu/device';
import type { FolderPair } from '../src/model/pair';
import { variantNote } from './schema';
import { type DecodeResults, runDecodeSuite } from './suites/decode';
import { type KernelResults, runKernelSuite } from './suites/kernels';
import { type MemoryResults, runMemorySuite } from './suites/memory';
import { type ModelResults, runModelSuite } from './suites/model';
import { runShapesSuite, type ShapeResults } from './suites/shapes';
import { runTtftSuite, type TtftResults } from './suites/ttft';

export const SCHEMA_VERSION = 24;

/** The suites in the order they run, with their rough share of a run's time. */
const STAGES = [
  ['kernels', 0.05],
  ['model', 0.1],
  ['decode', 0.3],
  ['ttft', 0.2],
  ['memory', 0.05],
  ['shapes', 0.3],
] as const;

export type SuiteName = (typeof STAGES)[number][0];
export const SUITE_NAMES: readonly SuiteName[] = STAGES.map(([name]) => name);

export interface BenchOptions {
  /** The fixture pair (a draft model is needed), read by `readPair`, and the target's EAGLE head if given. */
  pair: FolderPair;
  /** A model read with its own MTP layer as its draft (`readPair` with draft 'mtp'): the decode suite measures it too. */
  mtp?: FolderPair;
  quick: boolean;
  /** Where it ran: "node v20.20.2", or the browser's user agent. */
  environment: string;
  /** Called before each suite with the share of the run done so far. */
  progress?: (done: number, stage: string) => void;
  /**
   * Called after each suite with the results so far, so that a run stopped part way (on a GPU
   * rented by the minute, say) keeps what it measured.
   */
  measured?: (partial: Partial<BenchResults>) => void;
  /**
   * The suites to run (default: all), in their own order whatever this one's. `decode` needs
   * `model`'s verify costs for its cost model, so it brings `model` with it.
   */
  suites?: readonly SuiteName[];
  /** The real shapes' suite measures only the pairs whose target's name holds this (default: all). */
  shapes?: string;
}

export interface BenchResults {
  schema: number;
  date: string;
  quick: boolean;
  environment: string;
  device: GpuInfo;
  kernels: KernelResults;
  model: ModelResults;
  decode: DecodeResults;
  ttft: TtftResults;
  memory: MemoryResults;
  shapes: ShapeResults;
}

/** Every suite, as the page and the CLI's plain run take them. */
export async function runBench(gpu: Gpu, options: BenchOptions, log: (line: string) => void): Promise<BenchResults> {
  return (await runSuites(gpu, { ...options, suites: SUITE_NAMES }, log)) as BenchResults;
}

/**
 * The suites `options.suites` names (default: all), in their order; the results hold those
 * only. Share of a run done, for `progress`, counts the suites that run.
 */
export async function runSuites(
  gpu: Gpu,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<Partial<BenchResults>> {
  const asked = new Set<SuiteName>(options.suites ?? SUITE_NAMES);
  if (asked.has('decode')) asked.add('model');
  const stages = STAGES.filter(([name]) => asked.has(name));
  const total = stages.reduce((sum, [, share]) => sum + share, 0);
  const names = stages.length === STAGES.length ? '' : `: ${stages.map(([name]) => name).join(', ')}`;
  log(`bench on ${gpu.info.vendor} ${gpu.info.architecture} (${options.quick ? 'quick' : 'full'}${names})`);
  let done = 0;
  const partial: Partial<BenchResults> = {
    schema: SCHEMA_VERSION,
    date: new Date().toISOString(),
    quick: options.quick,
    environment: options.environment,
    device: gpu.info,
  };
  const stage = (name: SuiteName) => {
    if (done > 0) options.measured?.(partial);
    options.progress?.(done / total, name);
    done += STAGES.find(([n]) => n === name)?.[1] ?? 0;
  };
  if (asked.has('kernels')) {
    stage('kernels');
    // Written after each matrix too: a full run's 8B matrices take a while.
    const kernels = await runKernelSuite(gpu, options.quick, (soFar) =>
      options.measured?.({ ...partial, kernels: soFar }),
    );
    partial.kernels = kernels;
    log(
      `copy ${kernels.copy_gb_s} GB/s; ${kernels.linear.map((l) => `${l.dtype} ${l.rows}x${l.k}${variantNote(l)}: ${l.gb_s} GB/s (${l.fraction_of_copy} of copy, ${l.threads} threads)`).join('; ')}`,
    );
    log(
      `attention a layer: ${kernels.attention.map((a) => `${a.shape} ${a.tokens} after ${a.context}${a.variant === 'profile' ? '' : ` (${a.variant})`}: ${a.ms} ms (${a.kv_gb_s} GB/s)`).join('; ')}`,
    );
  }
  const { target } = options.pair;
  if (asked.has('model')) {
    stage('model');
    const model = await runModelSuite(gpu, target, options.quick);
    partial.model = model;
    log(
      `model: prefill ${model.prefill_tok_s} tok/s, decode ${model.decode_tok_s} tok/s, verify(5)/decode ${model.verify5_ratio}`,
    );
  }
  if (asked.has('decode') && partial.model) {
    stage('decode');
    const decode = await runDecodeSuite(gpu, options.pair, options.quick, partial.model.verify, options.mtp);
    partial.decode = decode;
    logDecode(decode, log);
  }
  if (asked.has('ttft')) {
    stage('ttft');
    const ttft = await runTtftSuite(gpu, target, options.quick);
    partial.ttft = ttft;
    logTtft(ttft, log);
  }
  if (asked.has('memory')) {
    stage('memory');
    const memory = await runMemorySuite(gpu, options.pair);
    partial.memory = memory;
    log(
      `memory: ${memory.models.map((m) => `${m.model} weights ${mib(m.weight_bytes)}`).join(', ')}; ` +
        `prefix cache ${memory.prefix_cache.entries} entries, ${mib(memory.prefix_cache.bytes)}; total ${mib(memory.total_bytes)}`,
    );
  }
  if (asked.has('shapes')) {
    stage('shapes');
    // Written after each pair too: the largest shapes take the longest.
    const measuredSoFar = (shapes: ShapeResults) => options.measured?.({ ...partial, shapes });
    const shapes = await runShapesSuite(gpu, options.quick, log, options.shapes ?? '', measuredSoFar);
    partial.shapes = shapes;
    for (const pair of shapes.pairs) {
      const best = pair.predicted.map((p) => `a=${p.acceptance}: x${p.best_speedup} at k=${p.best_k}`).join(', ');
      log(`predicted ${pair.target} + ${pair.draft} (draft/target step ${pair.draft_cost_ratio}): ${best}`);
    }
  }
  options.progress?.(1, 'done');
  return partial;
}

/** A GPU time for the log: "1.234 ms", or "not measured" (no timestamp queries). */
function gpuTime(ms: number | null): string {
  return ms === null ? 'not measured' : `${ms} ms`;
}

function logDecode(decode: DecodeResults, log: (line: string) => void): void {
  for (const run of decode.runs) {
    log(
      `decode ${run.draft} k=${run.draft_length}${run.tree ? ` tree=${run.tree}x${run.tree_width}` : ''} T=${run.temperature}` +
        `${run.constrained ? ` JSON (${run.forced_share} of the tokens forced by the grammar)` : ''}: plain ${run.plain_tok_s} tok/s, ` +
        `speculative ${run.spec_tok_s} tok/s (x${run.speedup}), ${run.mean_draft_length} drafts a step, acceptance ${run.acceptance_rate}, ` +
        `${run.mean_accepted_length} tokens per target pass (cost model: x${run.predicted_speedup}); a step ` +
        `${run.step_ms} ms: record ${run.record_ms} ms (submit ${run.submit_ms}), wait ${run.wait_ms} ms, GPU ${gpuTime(run.gpu_ms)} (plain step: ${gpuTime(run.plain_gpu_ms)}), ${run.submissions_per_step} submissions, ` +
        `${run.record_ahead ? `${run.steps_ahead} recorded ahead` : 'each recorded when it runs'}; ` +
        `${run.round_trips_per_token} round trips per token, ${run.readback_bytes_per_token} bytes read back`,
    );
  }
  for (const [name, e] of [
    ['EAGLE head', decode.eagle],
    [`${decode.mtp?.target}'s MTP layer`, decode.mtp],
  ] as const) {
    if (!e) continue;
    log(
      `${name}: a step ${e.head_step_ms} ms (${e.head_step_ratio} of the target's, ${e.head_dispatches_per_step} ` +
        `dispatches); auto, greedy: x${e.speedup}, ` +
        `acceptance ${e.acceptance_rate}, ${e.mean_accepted_length} tokens per target pass`,
    );
  }
  const { dispatches } = decode;
  log(
    `dispatches per decode step: target ${dispatches.target_per_step} (${dispatches.target_per_layer} a layer), ` +
      `draft ${dispatches.draft_per_step} (${dispatches.draft_per_layer} a layer)`,
  );
}

function logTtft(ttft: TtftResults, log: (line: string) => void): void {
  log(
    `ttft (${ttft.system_tokens}-token system prompt): cold ${ttft.cold_ms} ms, warm ${ttft.warm_ms} ms ` +
      `(${ttft.warm_ratio} of cold), typed-ahead ${ttft.typeahead_ms} ms, read from disk ${ttft.restored_ms} ms ` +
      `(${ttft.restored_ratio} of cold); one decode step ${ttft.decode_step_ms} ms; ${ttft.shape.name} ` +
      `(${ttft.shape.prefix_tokens}-token prefix): cold ${ttft.shape.cold_ms} ms, read from disk ${ttft.shape.restored_ms} ms`,
  );
  for (const long of ttft.long) {
    log(
      `ttft, ${long.shape} with a ${long.prefix_tokens}-token prefix: cold ${long.cold_ms} ms, warm ${long.warm_ms} ms ` +
        `(${long.warm_ratio} of cold), typed-ahead ${long.typeahead_ms} ms; decode step ${long.decode_step_ms} ms ` +
        `(${long.decode_step_ratio}x the shortest prefix's)`,
    );
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
