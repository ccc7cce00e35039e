/**
 * The pacing of Dawn's polls, on a made-up clock: polls back to back run free for 50 us, then
 * each sleeps an eighth of the idle time so far (at most 1 ms); other work between polls starts
 * the count again; and only Dawn's shape of callback is taken for a poll.
 */

import { describe, expect, it } from 'vitest';
import { isDawnPoll, MAX_SLEEP_MS, PollPacer } from './dawn-polling';

/** A pacer whose polls each take `pollMs` on a clock that only the polls, the sleeps and `idle` move. */
function pacedClock(pollMs: number) {
  let clock = 0;
  const sleeps: number[] = [];
  const sleptAt: number[] = [];
  const pacer = new PollPacer(
    () => clock,
    (ms) => {
      sleeps.push(ms);
      sleptAt.push(clock);
      clock += ms;
    },
  );
  return {
    sleeps,
    sleptAt,
    poll: () => pacer.run(() => (clock += pollMs)),
    /** Other work between polls. */
    work: (ms: number) => (clock += ms),
    now: () => clock,
  };
}

describe('PollPacer', () => {
  it('lets a wait poll freely for 50 us, then sleeps an eighth of its idle time, at most 1 ms', () => {
    const paced = pacedClock(0.002);
    for (let i = 0; i < 25; i++) paced.poll(); // 0.05 ms of polls
    expect(paced.sleeps).toEqual([]);
    while (paced.now() < 200) paced.poll();
    expect(paced.sleptAt[0]).toBeGreaterThan(0.05);
    // Each sleep is an eighth of the idle time before it (the wait began at 0), capped.
    paced.sleeps.forEach((ms, i) => {
      expect(ms).toBeCloseTo(Math.min(paced.sleptAt[i] / 8, MAX_SLEEP_MS), 12);
    });
    expect(Math.max(...paced.sleeps)).toBe(MAX_SLEEP_MS);
    // 200 ms of waiting in a few hundred polls, not 100,000.
    expect(paced.sleeps.length).toBeGreaterThan(150);
    expect(paced.sleeps.length).toBeLessThan(300);
  });

  it('starts again when other work runs between polls, so that work never waits on a sleep', () => {
    const paced = pacedClock(0.002);
    while (paced.now() < 10) paced.poll();
    const before = paced.sleeps.length;
    expect(paced.sleeps.at(-1)).toBeGreaterThan(0.5);
    paced.work(0.2); // a callback of the page ran
    for (let i = 0; i < 20; i++) paced.poll();
    expect(paced.sleeps.length).toBe(before);
  });
});

describe('isDawnPoll', () => {
  it("takes a native function with no name and no parameters (Dawn's), not a script's or a resolver", () => {
    expect(isDawnPoll(Function.prototype)).toBe(true); // the same shape: native, nameless, no parameters
    expect(isDawnPoll(() => {})).toBe(false);
    expect(isDawnPoll(function named() {})).toBe(false);
    let resolver: unknown;
    new Promise((resolve) => {
      resolver = resolve;
    });
    expect(isDawnPoll(resolver as () => void)).toBe(false); // native and nameless, but takes a value
    expect(isDawnPoll((() => {}).bind(null))).toBe(false); // native, named "bound "
  });
});
