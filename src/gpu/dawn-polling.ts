/**
 * Paces Dawn's polling in Node while a CPU adapter works.
 *
 * Dawn's Node binding learns that GPU work has finished (a `mapAsync`, `onSubmittedWorkDone`,
 * an async pipeline) by polling: while any of its promises is pending it queues `setImmediate`
 * again and again, a busy loop on the main thread that allocates a function each time. With a
 * GPU that costs a core nobody needs, and it answers soonest. With a CPU adapter (SwiftShader)
 * the "GPU" is threads on the same cores: on a 2-core machine the loop took one of the two from
 * the kernels it waited for. Generating 64 tokens five times with the fixture pair (speculative,
 * k = 2) polled 888,000 times and took 2.0-2.7 s, paced 1.5-1.7 s; the GPU tests of
 * speculative decoding took 130 s, paced 92 s.
 *
 * So on a CPU adapter each of Dawn's polls that follows an idle one (nothing else ran between
 * them) first sleeps (`Atomics.wait`: the thread gives up its core) for an eighth of the idle
 * time so far, at most 1 ms: a wait's first 50 us poll as Dawn does, and a long wait ends at
 * most an eighth (or 1 ms) after its work does. Other work between polls (a callback,
 * I/O) starts the count again, so it never waits on a sleep.
 *
 * Dawn's poll is recognised by its shape: a native function with no name and no parameters
 * (a promise's resolver, the other native callback queued this way, takes one).
 */

/** Idle polling before the first sleep. */
const SPIN_MS = 0.05;
/** A gap between polls longer than this means other work ran between them. */
const BUSY_GAP_MS = 0.05;
/** A sleep is this share of the idle time so far... */
const SLEEP_SHARE = 1 / 8;
/** ...and at most this long. */
export const MAX_SLEEP_MS = 1;

/** Decides, poll by poll, how long to sleep first (ms): the clock and the sleep are given, so that a test can run it. */
export class PollPacer {
  private idleSince = 0;
  private lastPollEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly now: () => number,
    private readonly sleep: (ms: number) => void,
  ) {}

  /** Runs one poll, after a sleep if the polls before it ran idle long enough. */
  run(poll: () => void): void {
    const now = this.now();
    if (now - this.lastPollEnd > BUSY_GAP_MS) this.idleSince = now;
    else if (now - this.idleSince > SPIN_MS) this.sleep(Math.min((now - this.idleSince) * SLEEP_SHARE, MAX_SLEEP_MS));
    try {
      poll();
    } finally {
      this.lastPollEnd = this.now();
    }
  }
}

let installed = false;

/** Whether this process paces Dawn's polls (a CPU adapter was requested through Dawn). */
export function dawnPollingPaced(): boolean {
  return installed;
}

/** Installs the pacing for the rest of the process (Node only; once). */
export function paceDawnPolling(): void {
  if (installed) return;
  installed = true;
  const immediate = globalThis.setImmediate;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  // Named, so that a CPU profile shows the time given up as such (bench/cpu-profile.ts).
  const sleepBetweenDawnPolls = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);
  const pacer = new PollPacer(() => performance.now(), sleepBetweenDawnPolls);
  const pacedImmediate = (<T extends unknown[]>(callback: (...args: T) => void, ...args: T) => {
    if (!isDawnPoll(callback)) return immediate(callback, ...args);
    return immediate(() => pacer.run(callback as () => void));
  }) as typeof setImmediate;
  globalThis.setImmediate = Object.assign(pacedImmediate, immediate);
}

/** Whether setImmediate was given Dawn's poll: a native function with no name and no parameters. */
// biome-ignore lint/complexity/noBannedTypes: any function setImmediate is given
export function isDawnPoll(callback: Function): boolean {
  return (
    callback.name === '' && callback.length === 0 && /\[native code\]/.test(Function.prototype.toString.call(callback))
  );
}
