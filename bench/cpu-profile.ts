/**
 * `--cpu-profile FILE`: where the benchmark's CPU time goes, by function. A V8 sampling profile
 * of the run (node:inspector), written to FILE (open it in Chrome's DevTools, Performance), and
 * its summary in the log: the functions with the most self time, JavaScript and native alike,
 * the garbage collector and idle time. Dawn's calls show under names V8 takes from its binding
 * (a class of it such as GPUTextureUsage, not the call's own), so together they are the share of
 * the native calls. On a GPU a speculative step is bound by the CPU's recording; this says how
 * much of that is our code, Dawn's, or the garbage collector's.
 */

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/** A V8 CPU profile as the inspector returns it (the fields the summary reads). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of a function (ms) and its share of the profile's time. */
export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

/** Microseconds between samples: fine enough for dispatches of a few microseconds each, cheap enough not to move them. */
const SAMPLING_US = 100;

/** Runs `run` under the profiler, writes the profile to `file` and logs its `top` functions by self time. */
export async function withCpuProfile<T>(
  file: string,
  log: (line: string) => void,
  run: () => Promise<T>,
  top = 15,
): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_US });
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(file, JSON.stringify(profile));
    const lines = selfTimes(profile as CpuProfile)
      .slice(0, top)
      .map(({ name, ms, share }) => `${name} ${Math.round(ms)} ms (${(100 * share).toFixed(1)}%)`);
    log(`CPU profile in ${file}, self time by function: ${lines.join('; ')}`);
  }
}

/** Each function's self time in a profile, most first: JavaScript by name and place, natives and V8's own by name. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byNode = new Map<number, number>();
  profile.samples.forEach((node, i) => {
    byNode.set(node, (byNode.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const byName = new Map<string, number>();
  for (const { id, callFrame } of profile.nodes) {
    const us = byNode.get(id);
    if (!us) continue;
    const { functionName, url, lineNumber } = callFrame;
    const place = url ? ` ${url.split('/').at(-1)}:${lineNumber + 1}` : '';
    const name = `${functionName || '(anonymous)'}${place}`;
    byName.set(name, (byName.get(name) ?? 0) + us);
  }
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  return [...byName]
    .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}
