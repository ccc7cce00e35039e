/** The speculative figures derived from raw counts, and what 'auto' does with the draft length. */

import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng';
import {
  AUTO_DRAFT_COST,
  AUTO_MAX,
  AUTO_SWITCH_GAIN,
  DraftHistory,
  type DraftLength,
  DraftLengthPolicy,
  StepTimes,
} from './draft-length';
import { combinedSpecStats, speculativeStats } from './stats';

describe('speculativeStats', () => {
  it('derives acceptance, per-position acceptance and tokens per target pass', () => {
    const stats = speculativeStats({
      draft: 'model',
      steps: 4,
      produced: 10, // 6 accepted drafts + one token of the target per step
      drafted: [4, 4, 2, 0],
      accepted: [3, 2, 1, 0],
      targetForwards: 6,
      draftForwards: 12,
      forced: 0,
    });
    expect(stats).toMatchObject({ drafted: 10, accepted: 6, acceptance_rate: 0.6, mean_accepted_length: 2.5 });
    expect(stats.per_position).toEqual([0.75, 0.5, 0.5]);
    expect(stats.drafted_per_position).toEqual([4, 4, 2]);
    expect(stats.fell_back).toBe(false);
    expect('fallback_reason' in stats).toBe(false);
  });

  it("combines several replies' figures as if their counts were one reply's", () => {
    const a = { steps: 4, produced: 10, drafted: [4, 4, 2, 0], accepted: [3, 2, 1, 0], forced: 5 };
    const b = { steps: 2, produced: 3, drafted: [2, 1, 1, 1], accepted: [1, 0, 0, 0], forced: 2 };
    const stats = (c: typeof a, fallback?: string) =>
      speculativeStats({ draft: 'model', ...c, targetForwards: c.steps + 2, draftForwards: 9, fallback });
    const whole = speculativeStats({
      draft: 'model',
      steps: 6,
      produced: 13,
      drafted: [6, 5, 3, 1],
      accepted: [4, 2, 1, 0],
      targetForwards: 10,
      draftForwards: 18,
      forced: 7,
    });
    expect(combinedSpecStats([stats(a), stats(b)])).toEqual(whole);
    expect(combinedSpecStats([stats(a)])).toEqual(stats(a));
    expect(combinedSpecStats([stats(a), stats(b, 'slower')])).toMatchObject({
      fell_back: true,
      fallback_reason: 'slower',
    });
  });

  it('says why speculation was switched off', () => {
    const stats = speculativeStats({
      draft: 'ngram',
      steps: 0,
      produced: 0,
      drafted: [0],
      accepted: [0],
      targetForwards: 3,
      draftForwards: 0,
      forced: 0,
      fallback: 'slower',
    });
    expect(stats).toMatchObject({ fell_back: true, fallback_reason: 'slower', acceptance_rate: 0 });
  });
});

describe('DraftLengthPolicy', () => {
  /** Steps of a policy whose draft position i is accepted with probability `accept[i]` once those before it were. */
  const simulate = (
    policy: DraftLengthPolicy,
    accept: (i: number) => number,
    steps: number,
    seed: number,
    stepMs?: (k: number) => number,
  ) => {
    const rng = new Rng(seed);
    const lengths: number[] = [];
    for (let step = 0; step < steps; step++) {
      const k = policy.k;
      let accepted = 0;
      while (accepted < k && rng.next() < accept(accepted)) accepted++;
      policy.update(accepted, k, stepMs?.(k));
      lengths.push(k);
    }
    return lengths;
  };
  /** Expected tokens per unit of cost of k drafts (E(k) / cost(k), draft-length.ts); a number: 1 + c k. */
  const yieldPerCost = (accept: (i: number) => number, cost: number | ((k: number) => number), k: number) => {
    let expected = 1;
    let reach = 1;
    for (let i = 0; i < k; i++) {
      reach *= accept(i);
      expected += reach;
    }
    return expected / (typeof cost === 'number' ? 1 + cost * k : cost(k));
  };
  /** Whether k yields, per unit of cost, within the policy's switching margin of the best length. */
  const nearBest = (accept: (i: number) => number, cost: number | ((k: number) => number), k: number) => {
    const best = Math.max(...Array.from({ length: AUTO_MAX }, (_, i) => yieldPerCost(accept, cost, i + 1)));
    return yieldPerCost(accept, cost, k) * (1 + AUTO_SWITCH_GAIN) >= best;
  };
  const mostCommon = (values: number[]) => {
    const count = new Map<number, number>();
    for (const v of values) count.set(v, (count.get(v) ?? 0) + 1);
    return [...count].sort((a, b) => b[1] - a[1])[0][0];
  };
  const changes = (values: number[]) => values.filter((v, i) => i > 0 && v !== values[i - 1]).length;

  it('keeps a fixed length and never stops a draft model early', () => {
    const policy = new DraftLengthPolicy(3);
    policy.update(3, 3);
    policy.update(0, 3);
    expect(policy.k).toBe(3);
    expect(policy.minConfidence).toBe(0);
  });

  it("with 'auto' reaches the maximum when every draft is accepted, and 1 when none is", () => {
    const policy = new DraftLengthPolicy('auto');
    expect(policy.k).toBeGreaterThan(1);
    expect(policy.k).toBeLessThan(AUTO_MAX);
    expect(policy.minConfidence).toBeGreaterThan(0);
    for (let i = 0; i < 30; i++) policy.update(policy.k, policy.k);
    expect(policy.k).toBe(AUTO_MAX);
    for (let i = 0; i < 30; i++) policy.update(0, policy.k);
    expect(policy.k).toBe(1);
  });

  it("with 'auto' settles on a length with the most tokens per unit of cost, and holds it", () => {
    for (const [alpha, cost] of [
      [0.75, AUTO_DRAFT_COST],
      [0.85, AUTO_DRAFT_COST],
      [0.6, AUTO_DRAFT_COST],
      [0.95, AUTO_DRAFT_COST],
      [0.85, 0.15],
    ]) {
      const accept = () => alpha;
      const lengths = simulate(new DraftLengthPolicy('auto', cost), accept, 600, 7).slice(100);
      const settled = mostCommon(lengths);
      expect(nearBest(accept, cost, settled), `acceptance ${alpha}, cost ${cost}: k = ${settled}`).toBe(true);
      // The rule it replaces changed k in about three steps of four.
      expect(changes(lengths), `acceptance ${alpha}, cost ${cost}`).toBeLessThan(lengths.length * 0.1);
    }
  });

  it("with 'auto' drafts longer when a draft token costs less, with acceptance falling with depth", () => {
    const falling = (i: number) => [0.95, 0.9, 0.8, 0.5, 0.3, 0.2, 0.2, 0.2][i];
    // E(k) / (1 + 0.6 k): 1.22, 1.28, 1.25, 1.13, ...; E(k) / (1 + 0.05 k): 1.86, 2.55, 3.03, 3.19, 3.15, ...
    const dear = mostCommon(simulate(new DraftLengthPolicy('auto', 0.6), falling, 400, 3).slice(100));
    const cheap = mostCommon(simulate(new DraftLengthPolicy('auto', 0.05), falling, 400, 3).slice(100));
    expect(nearBest(falling, 0.6, dear), `k = ${dear}`).toBe(true);
    expect(nearBest(falling, 0.05, cheap), `k = ${cheap}`).toBe(true);
    expect(cheap).toBeGreaterThan(dear);
  });

  // A device whose steps of 2 drafts cost more than steps of 3 (as SwiftShader's verify pass
  // over 3 tokens against 4), timed with a little noise. By the model alone 'auto' drafts 1 or 2
  // (E(k) / (1 + 0.4 k): 1.25, 1.29, 1.24, ...).
  const uneven = [10, 14, 12, 15, 17, 19, 21, 23];
  const timedOn = (rng: Rng) => (k: number) => uneven[k - 1] * (0.9 + 0.2 * rng.next());

  it("with 'auto' and timed steps drafts the length that is fastest on the device", () => {
    const accept = () => 0.75;
    expect([1, 2]).toContain(mostCommon(simulate(new DraftLengthPolicy('auto'), accept, 400, 5).slice(100)));
    const lengths = simulate(new DraftLengthPolicy('auto'), accept, 400, 5, timedOn(new Rng(9))).slice(100);
    const settled = mostCommon(lengths);
    expect(settled).toBe(3); // E(k) / cost(k): 0.175, 0.165, 0.228, 0.189, ...
    expect(nearBest(accept, (k) => uneven[k - 1], settled)).toBe(true);
    expect(changes(lengths)).toBeLessThan(lengths.length * 0.1);
  });

  it("with 'auto' starts from the step times earlier generations measured", () => {
    // A device where a draft token adds little to a step (c about 0.05, not 0.4).
    const flat = (k: number) => 10 + 0.5 * (k - 1);
    const accept = () => 0.85;
    const history = new DraftHistory();
    const first = simulate(new DraftLengthPolicy('auto', AUTO_DRAFT_COST, history), accept, 200, 5, flat);
    expect(nearBest(accept, flat, mostCommon(first.slice(100)))).toBe(true);
    // With the times measured before, a new generation starts at the length they favour;
    // without them, at the model's.
    const fresh = new DraftLengthPolicy('auto');
    const next = new DraftLengthPolicy('auto', AUTO_DRAFT_COST, history);
    expect(fresh.k).toBe(3);
    expect(next.k).toBeGreaterThanOrEqual(6);
  });

  it("with 'auto' starts from the acceptance earlier generations saw, not from the prior", () => {
    const history = new DraftHistory();
    const first = simulate(new DraftLengthPolicy('auto', AUTO_DRAFT_COST, history), () => 0.3, 100, 5);
    expect(first.at(-1)).toBe(1);
    expect(new DraftLengthPolicy('auto', AUTO_DRAFT_COST, history).k).toBe(1);
    expect(new DraftLengthPolicy('auto').k).toBe(3);
  });

  it("with 'auto' fixes each length a step ahead, and times neither a reply's first step nor one before a change", () => {
    const history = new DraftHistory();
    const lengths = new Set<number>();
    for (let reply = 0; reply < 3; reply++) {
      const policy = new DraftLengthPolicy('auto', AUTO_DRAFT_COST, history);
      expect(policy.next).toBe(policy.k);
      for (let i = 0; i < 20; i++) {
        const { k, next } = policy;
        // Steps cost 10 ms whatever the length; the first of a reply, and one that records the
        // next step at another length, 1,000.
        policy.update(Math.min(k, 2), k, i === 0 || next !== k ? 1000 : 10);
        expect(policy.k).toBe(next); // the length fixed a step ahead
        lengths.add(k);
      }
    }
    expect(lengths.size).toBeGreaterThan(1);
    for (const k of lengths) expect(history.times.cost(k, AUTO_DRAFT_COST), `k = ${k}`).toBeLessThan(20);
  });

  // Generations of 64 tokens sharing a history, as a chat's requests do, on a host like the
  // H200's (bench/results/2026-12-04-h200-fold-bench.json): a step costs its fixed part and a
  // part per draft token, times noise of -7% to +18%, and one step in `hiccups` 1.5 to 3.5
  // times that (the host's hiccups). A change of length costs nothing more: it is decided a
  // step ahead, so the step of the new length is recorded ahead as any other. Tokens per ms,
  // over 16 generations.
  const tokensPerMs = (
    length: DraftLength,
    accept: readonly number[],
    stepMs: (k: number) => number,
    hiccups: number,
    seed: number,
  ) => {
    const rng = new Rng(seed);
    const history = new DraftHistory();
    let tokens = 0;
    let ms = 0;
    for (let generation = 0; generation < 16; generation++) {
      const policy = new DraftLengthPolicy(length, AUTO_DRAFT_COST, history);
      for (let produced = 0; produced < 64; ) {
        const k = policy.k;
        let accepted = 0;
        while (accepted < k && rng.next() < accept[accepted]) accepted++;
        let step = stepMs(k) * (1 + 0.25 * (rng.next() - 0.3));
        if (rng.next() < hiccups) step *= 1.5 + 2 * rng.next();
        policy.update(accepted, k, step);
        produced += accepted + 1;
        tokens += accepted + 1;
        ms += step;
      }
    }
    return tokens / ms;
  };

  it("with 'auto' on a noisy host yields at least 95% of the best fixed length's tokens per ms", () => {
    // Mean tokens per ms over 12 runs (hosts), each of 16 generations.
    const mean = (length: DraftLength, accept: readonly number[], stepMs: (k: number) => number, hiccups: number) =>
      Array.from({ length: 12 }, (_, seed) => tokensPerMs(length, accept, stepMs, hiccups, seed + 1)).reduce(
        (sum, v) => sum + v / 12,
        0,
      );
    const pairs = {
      // The fixture pair's acceptance by position and its steps' times on the H200.
      'draft model': { accept: [0.93, 0.79, 0.54, 0.36, 0.3, 0.27, 0.25, 0.2], stepMs: (k: number) => 0.55 + 0.18 * k },
      // A head: drafts accepted more often, and cheaper.
      head: { accept: [0.98, 0.85, 0.76, 0.42, 0.3, 0.2, 0.2, 0.2], stepMs: (k: number) => 0.9 + 0.1 * k },
    };
    for (const [name, { accept, stepMs }] of Object.entries(pairs)) {
      for (const hiccups of [0, 0.05, 0.15]) {
        const fixed = Array.from({ length: AUTO_MAX }, (_, i) => mean(i + 1, accept, stepMs, hiccups));
        const auto = mean('auto', accept, stepMs, hiccups);
        expect(auto / Math.max(...fixed), `${name}, hiccups ${hiccups}`).toBeGreaterThanOrEqual(0.95);
      }
    }
  });
});

describe('StepTimes', () => {
  it('prices a length by its own steps, a hiccup capped, and one not measured by the model from the best-measured', () => {
    const times = new StepTimes();
    expect(times.cost(3, 0.5)).toBe(2.5); // 1 + c k before any step
    for (let i = 0; i < 50; i++) times.add(2, 10);
    expect(times.cost(2, 0.5)).toBeCloseTo(10, 12);
    expect(times.cost(4, 0.5)).toBeCloseTo((10 * 3) / 2, 12); // 10 ms scaled by (1 + 4c) / (1 + 2c)
    times.add(2, 1000); // counted as 3 x 10 ms
    expect(times.cost(2, 0.5)).toBeGreaterThan(10.2);
    expect(times.cost(2, 0.5)).toBeLessThan(10.6);
    // A length not timed for long drifts back to the model's price.
    for (let i = 0; i < 1000; i++) times.add(5, 20);
    expect(times.cost(2, 0.5)).toBeCloseTo((20 * 2) / 3.5, 1);
  });
});
