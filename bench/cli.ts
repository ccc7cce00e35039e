/**
 * `npm run bench -- [--quick] [--suite NAMES] [--shape NAME] [--json FILE] [--target DIR]
 * [--draft DIR] [--help]`: the benchmark suites (all, or those named) in Node through Dawn, on
 * this machine's adapter. Prints a summary and, with --json, writes the results (schema in
 * bench/README.md), rewritten after each suite, model, kernel matrix or real-shape pair so
 * that a run stopped part way keeps what it measured. `--profile [--shape NAME] [--context
 * TOKENS]` instead times every kernel of a decode, a verify and a prefill step after a context
 * of 64 tokens (or TOKENS), per model (bench/profile.ts);
 * `--invariance [--shape NAME] [--long TOKENS]` checks that splitting a prompt (and with --long
 * one of TOKENS tokens) changes no bit of its logits (bench/invariance.ts), and exits with 1 if
 * one does. `--cpu-profile FILE` writes where the run's CPU time went, by function
 * (bench/cpu-profile.ts), and logs a summary. A mistake in the options is said in one line with
 * the usage (`--help`), exit code 2.
 */

import '../src/node/require-shim';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Gpu } from '../src/gpu/device';
import { requestNodeGpu } from '../src/gpu/node';
import { directorySource } from '../src/loader/node-source';
import { quantizeWeights } from '../src/loader/tensors';
import { readHead, readPair } from '../src/model/pair';
import { withCpuProfile } from './cpu-profile';
import { runInvariance } from './invariance';
import { PROFILE_CONTEXT, runProfile } from './profile';
import { runSuites, SUITE_NAMES, type SuiteName } from './run';
import { withCallCosts } from './webgpu-calls';

const USAGE = `Usage: npm run bench -- [options]

  --quick             the short run: fewer repeats, the SmolLM2 pair of the real shapes only
  --json FILE         write the results there, rewritten after each suite or model
  --target DIR        the target model folder (default public/models/tandem-target)
  --draft DIR         the draft model folder (default public/models/tandem-draft; with
                      --profile or --invariance, the target's own folder: the target alone)
  --head DIR          the target's EAGLE head (default public/models/tandem-target-eagle3)
  --mtp DIR           a model with its own MTP layer, measured drafting with it (default
                      public/models/tandem-qwen35)
  --suite NAMES       only these suites, comma-separated: kernels, model, decode (brings
                      model), ttft, memory, shapes (default: all)
  --profile           time every kernel of a decode, a verify and a prefill step instead
  --context TOKENS    with --profile, the steps' context (default 64)
  --invariance        check that splitting a prompt changes no bit of its logits instead
                      (exits with 1 if one does)
  --long TOKENS       with --invariance, also a prompt of that many tokens
  --cpu-profile FILE  write a V8 profile of the run's CPU time there, and log the functions
                      that took most of it and each WebGPU call's count and time (with
                      --suite decode: what recording a step costs)
  --shape NAME        the real shapes (bench/shapes.ts) whose names hold NAME: with --profile
                      or --invariance besides the fixtures (none: no shape), in the shapes
                      suite the pairs whose target's name does (default: all)
  --help              this text

Results schema and figures: bench/README.md.`;

function tokenCount(option: string, value: string): number {
  const tokens = Number(value);
  if (!Number.isSafeInteger(tokens) || tokens < 0)
    throw new RangeError(`${option}: ${value} is not a number of tokens`);
  return tokens;
}
const longPromptTokens = (value: string) => tokenCount('--long', value);

function suiteNames(value: string | undefined): SuiteName[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(SUITE_NAMES as readonly string[]).includes(name)) {
      throw new RangeError(`--suite: ${name} is not a suite (${SUITE_NAMES.join(', ')})`);
    }
  }
  return names as SuiteName[];
}

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      target: { type: 'string', default: 'public/models/tandem-target' },
      draft: { type: 'string', default: 'public/models/tandem-draft' },
      head: { type: 'string', default: 'public/models/tandem-target-eagle3' },
      mtp: { type: 'string', default: 'public/models/tandem-qwen35' },
      profile: { type: 'boolean', default: false },
      invariance: { type: 'boolean', default: false },
      suite: { type: 'string' },
      shape: { type: 'string', default: '' },
      long: { type: 'string', default: '0' },
      context: { type: 'string', default: String(PROFILE_CONTEXT) },
      'cpu-profile': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
}

/**
 * One device for the process, however many runs it makes (its tests make three): pipelines are
 * compiled once a device, and a software adapter takes most of a minute to compile a model's.
 */
let processGpu: Promise<Gpu> | undefined;

export async function main(args: string[]): Promise<number> {
  let values: ReturnType<typeof parseOptions>['values'];
  let suites: SuiteName[] | undefined;
  try {
    values = parseOptions(args).values;
    longPromptTokens(values.long);
    if (tokenCount('--context', values.context) < 1)
      throw new RangeError('--context: a step needs a context of at least 1 token');
    suites = suiteNames(values.suite);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  processGpu ??= requestNodeGpu();
  const gpu = await processGpu;
  const folders = await readPair({ target: directorySource(values.target), draft: directorySource(values.draft) });
  const { target, draft } = folders as Required<typeof folders>;
  // The head is read against the target for the suites only (profiles and checks do without one).
  const withHead = async () => ({ ...folders, head: await readHead(directorySource(values.head), target) });
  const environment = `node ${process.version}`;
  // Seconds since the start on each line: what planning a time-limited run on a GPU server needs.
  const started = performance.now();
  const log = (line: string) => console.error(`[${Math.round((performance.now() - started) / 1000)} s] ${line}`);
  const write = (results: object) => values.json && writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
  // A draft that is the target's own folder is one model: profiled and checked once.
  const sameModel = resolve(values.target) === resolve(values.draft);
  const fixtures = [
    { ...target, name: 'fixture target' },
    { ...target, name: 'fixture target q4f16_1', weights: quantizeWeights(target.weights, 'Q4F16') },
    ...(sameModel ? [] : [{ ...draft, name: 'fixture draft' }]),
  ];
  const run = async () => {
    if (values.invariance) return runInvariance(gpu, fixtures, log, values.shape, longPromptTokens(values.long), write);
    if (values.profile) return runProfile(gpu, fixtures, log, values.shape, write, Number(values.context));
    const options = {
      pair: await withHead(),
      mtp: await readPair({ target: directorySource(values.mtp), draft: 'mtp' }),
      quick: values.quick,
      environment,
      measured: write,
      suites,
      shapes: values.shape,
    };
    return runSuites(gpu, options, log);
  };
  const cpuProfile = values['cpu-profile'];
  const results = cpuProfile ? await withCpuProfile(cpuProfile, log, () => withCallCosts(log, run)) : await run();
  write(results);
  console.log(JSON.stringify(results, null, 2));
  return 'identical' in results && !results.identical ? 1 : 0;
}
