/**
 * `npm run bench -- [--quick] [--json FILE] [--target DIR] [--draft DIR]`: the benchmark
 * suites in Node through Dawn, on this machine's adapter. Prints a summary and, with --json,
 * writes the results (schema in bench/README.md). `--profile [--shape NAME]` instead times every
 * kernel of a decode and a verify step, per model (bench/profile.ts).
 */

import '../src/node/require-shim';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { requestNodeGpu } from '../src/gpu/node';
import { loadModelFolder } from '../src/loader/model-folder';
import { directorySource } from '../src/loader/node-source';
import { runProfile } from './profile';
import { runBench } from './run';

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      target: { type: 'string', default: 'public/models/tandem-target' },
      draft: { type: 'string', default: 'public/models/tandem-draft' },
      profile: { type: 'boolean', default: false },
      shape: { type: 'string', default: '' },
    },
  });
  const gpu = await requestNodeGpu();
  const target = await loadModelFolder(directorySource(values.target));
  const draft = await loadModelFolder(directorySource(values.draft));
  const environment = `node ${process.version}`;
  const log = (line: string) => console.error(line);
  const results = values.profile
    ? await runProfile(
        gpu,
        [
          { ...target, name: 'fixture target' },
          { ...draft, name: 'fixture draft' },
        ],
        log,
        values.shape,
      )
    : await runBench(gpu, { target, draft, quick: values.quick, environment }, log);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  return 0;
}
