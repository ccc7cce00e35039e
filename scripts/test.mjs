#!/usr/bin/env node
/**
 * `npm test`: every check in order (lint, types, unit, GPU, end-to-end), run to the end even
 * when one fails, then the failed tests again (name and first lines of the error, so that a log
 * cut in the middle still says what failed) and one closing line with the totals:
 * "tests: N passed, N failed, N skipped".
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const reports = mkdtempSync(join(tmpdir(), 'tandem-test-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
const failedSteps = [];
const failedTests = [];

function run(name, command, args) {
  console.info(`\n=== ${name}: ${command} ${args.join(' ')}`);
  const { status } = spawnSync(command, args, { stdio: 'inherit' });
  if (status !== 0) failedSteps.push(name);
  return status === 0;
}

function vitest(project) {
  const report = join(reports, `${project}.json`);
  const ok = run(`${project} tests`, 'npx', [
    'vitest',
    'run',
    '--project',
    project,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
  ]);
  try {
    const result = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += result.numPassedTests;
    totals.failed += result.numFailedTests;
    totals.skipped += result.numPendingTests + result.numTodoTests;
    for (const file of result.testResults) {
      if (file.status === 'failed' && file.assertionResults.length === 0) {
        failedTests.push(`${project}: ${file.name}\n    ${firstLines(file.message)}`);
      }
      for (const test of file.assertionResults) {
        if (test.status !== 'failed') continue;
        const where = `${file.name.replace(`${process.cwd()}/`, '')} > ${test.fullName}`;
        failedTests.push(`${project}: ${where}\n    ${firstLines(test.failureMessages.join('\n'))}`);
      }
    }
  } catch {
    if (ok) failedSteps.push(`${project} tests (no report)`);
    totals.failed += 1;
  }
}

run('system dependencies', process.execPath, ['scripts/system-deps.mjs']);
run('lint', 'npx', ['biome', 'check', '.']);
run('typecheck', 'npx', ['tsc', '--noEmit']);
for (const project of ['unit', 'gpu', 'e2e']) vitest(project);

/** The first lines of an error message: enough to say what failed, short enough to read. */
function firstLines(message, count = 6) {
  return (message ?? '').split('\n').slice(0, count).join('\n    ');
}

if (failedTests.length > 0) console.error(`\nFailed tests:\n${failedTests.join('\n')}`);
if (failedSteps.length > 0) console.error(`\nFailed: ${failedSteps.join(', ')}`);
console.info(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps.length > 0 ? 1 : 0);
