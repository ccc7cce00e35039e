/** Summaries of repeated timings: the median is reported, with the spread around it. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Half the interquartile range relative to the median: a robust "plus or minus" share. */
  spread: number;
  runs: number;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const iqr = quantile(sorted, 0.75) - quantile(sorted, 0.25);
  return {
    median,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    spread: median > 0 ? iqr / 2 / median : 0,
    runs: sorted.length,
  };
}

/**
 * A GPU left idle drops its clocks and takes a while to raise them again under a light load
 * such as one decode step at a time: timings taken right after an idle moment (a model being
 * built on the CPU, say) come out several times too slow. Warming up therefore lasts at least
 * this long, besides its number of runs.
 */
export const WARMUP_MS = 300;

/**
 * Times `run` `runs` times after `warmup` untimed runs (and at least WARMUP_MS of them when
 * `warmup` > 0); returns milliseconds per run.
 */
export async function time(run: () => Promise<unknown>, runs: number, warmup = 1): Promise<Summary> {
  if (warmup > 0) {
    const warmUntil = performance.now() + WARMUP_MS;
    for (let i = 0; i < warmup || performance.now() < warmUntil; i++) await run();
  }
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  return summarize(samples);
}
