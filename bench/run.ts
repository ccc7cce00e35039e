/**
 * The benchmark, shared by the CLI (bench/cli.ts) and the page: runs the suites on one GPU and
 * returns one results object (schema: bench/README.md).
 */

import type { Gpu, GpuInfo } from '../src/gpu/device';
import type { ModelFolder } from '../src/loader/model-folder';
import { type DecodeResults, runDecodeSuite } from './suites/decode';
import { type KernelResults, runKernelSuite } from './suites/kernels';
import { type ModelResults, runModelSuite } from './suites/model';
import { runTtftSuite, type TtftResults } from './suites/ttft';

export const SCHEMA_VERSION = 1;

export interface BenchOptions {
  target: ModelFolder;
  draft: ModelFolder;
  quick: boolean;
  /** Where it ran: "node v20.20.2", or the browser's user agent. */
  environment: string;
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
}

export async function runBench(gpu: Gpu, options: BenchOptions, log: (line: string) => void): Promise<BenchResults> {
  log(`bench on ${gpu.info.vendor} ${gpu.info.architecture} (${options.quick ? 'quick' : 'full'})`);
  const kernels = await runKernelSuite(gpu, options.quick);
  log(
    `copy ${kernels.copy_gb_s} GB/s; ${kernels.linear.map((l) => `${l.dtype} ${l.rows}x${l.k}: ${l.gb_s} GB/s (${l.fraction_of_copy} of copy)`).join('; ')}`,
  );
  const model = await runModelSuite(gpu, options.target, options.quick);
  log(
    `model: prefill ${model.prefill_tok_s} tok/s, decode ${model.decode_tok_s} tok/s, verify(5)/decode ${model.verify5_ratio}`,
  );
  const decode = await runDecodeSuite(gpu, options.target, options.draft, options.quick);
  for (const run of decode.runs) {
    log(
      `decode ${run.draft} k=${run.draft_length} T=${run.temperature}: plain ${run.plain_tok_s} tok/s, ` +
        `speculative ${run.spec_tok_s} tok/s (x${run.speedup}), acceptance ${run.acceptance_rate}, ` +
        `${run.mean_accepted_length} tokens per target pass`,
    );
  }
  const ttft = await runTtftSuite(gpu, options.target, options.quick);
  log(
    `ttft (${ttft.system_tokens}-token system prompt): cold ${ttft.cold_ms} ms, warm ${ttft.warm_ms} ms ` +
      `(${ttft.warm_ratio} of cold), typed-ahead ${ttft.typeahead_ms} ms; one decode step ${ttft.decode_step_ms} ms`,
  );
  return {
    schema: SCHEMA_VERSION,
    date: new Date().toISOString(),
    quick: options.quick,
    environment: options.environment,
    device: gpu.info,
    kernels,
    model,
    decode,
    ttft,
  };
}
