/**
 * What each WebGPU call costs the CPU, timed one by one (with `--cpu-profile`). A V8 profile
 * names Dawn's native calls after a class of its binding, not the call, so it cannot say
 * whether a step's recording goes to its dispatches, its passes, its copies or its submission.
 * This wraps the methods a step calls on the prototypes of the WebGPU classes, counts each
 * call and adds up the time it takes to return (a promise's call, not its wait), and restores
 * them after. Each wrapped call costs two clock reads more (about 0.1 us on a server's CPU).
 */

/** The methods timed, by the WebGPU class that has them: those a forward pass or a speculative step calls. */
export const TIMED_CALLS: Record<string, readonly string[]> = {
  GPUComputePassEncoder: ['setPipeline', 'setBindGroup', 'dispatchWorkgroups', 'end'],
  GPUCommandEncoder: ['beginComputePass', 'copyBufferToBuffer', 'clearBuffer', 'resolveQuerySet', 'finish'],
  GPUQueue: ['submit', 'writeBuffer'],
  GPUDevice: ['createCommandEncoder', 'createBindGroup', 'createBuffer'],
  GPUBuffer: ['mapAsync', 'getMappedRange', 'unmap'],
};

/** One method's calls: how many, their time in all (ms) and each (us). */
export interface CallCost {
  name: string;
  calls: number;
  ms: number;
  usEach: number;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Runs `run` with the methods of TIMED_CALLS timed on the classes `scope` has (globalThis: in
 * Node once a GPU is requested, and in browsers), then logs each method's calls, most time first.
 */
export async function withCallCosts<T>(
  log: (line: string) => void,
  run: () => Promise<T>,
  scope: Record<string, unknown> = globalThis as unknown as Record<string, unknown>,
): Promise<T> {
  const costs = new Map<string, { calls: number; ms: number }>();
  const restore = timeCalls(scope, costs);
  try {
    return await run();
  } finally {
    restore();
    const lines = callCosts(costs).map(
      ({ name, calls, ms, usEach }) => `${name} ${calls} x ${usEach.toFixed(2)} us = ${ms.toFixed(1)} ms`,
    );
    log(`WebGPU calls, each timed to its return: ${lines.join('; ') || 'none'}`);
  }
}

/** Wraps the methods in place, adding to `costs` by `Class.method`; returns what puts them back. */
export function timeCalls(scope: Record<string, unknown>, costs: Map<string, { calls: number; ms: number }>) {
  const undo: (() => void)[] = [];
  for (const [className, methods] of Object.entries(TIMED_CALLS)) {
    const prototype = (scope[className] as { prototype?: Record<string, unknown> } | undefined)?.prototype;
    if (!prototype) continue;
    for (const method of methods) {
      const original = prototype[method];
      if (typeof original !== 'function') continue;
      const name = `${className}.${method}`;
      const cost = { calls: 0, ms: 0 };
      costs.set(name, cost);
      prototype[method] = function (this: unknown, ...args: unknown[]) {
        const started = performance.now();
        try {
          return (original as Method).apply(this, args);
        } finally {
          cost.ms += performance.now() - started;
          cost.calls++;
        }
      };
      undo.push(() => {
        prototype[method] = original;
      });
    }
  }
  return () => {
    for (const put of undo) put();
  };
}

/** The methods that were called, most time first. */
export function callCosts(costs: Map<string, { calls: number; ms: number }>): CallCost[] {
  return [...costs]
    .filter(([, { calls }]) => calls > 0)
    .map(([name, { calls, ms }]) => ({ name, calls, ms, usEach: (1000 * ms) / calls }))
    .sort((a, b) => b.ms - a.ms);
}
