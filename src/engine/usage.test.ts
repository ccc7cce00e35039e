/** The one usage object: token counts as hosted APIs report them, timings from one clock. */

import { describe, expect, it } from 'vitest';
import { buildUsage, combinedUsage, ReplyClock } from './usage';

/** A clock that read `started`, `firstToken` and `ended` (ms). */
function clockAt(started: number, firstToken: number | undefined, ended: number): ReplyClock {
  const clock = new ReplyClock();
  Object.assign(clock, { started, firstToken, ended });
  return clock;
}

describe('buildUsage', () => {
  it('splits the prompt into cached and computed tokens, and derives speeds from one clock', () => {
    const usage = buildUsage({
      promptTokens: 120,
      cachedTokens: 100,
      completionTokens: 11,
      clock: clockAt(1000, 1040, 1540),
    });
    expect(usage).toMatchObject({
      prompt_tokens: 120,
      completion_tokens: 11,
      total_tokens: 131,
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 20,
      prompt_tokens_details: { cached_tokens: 100 },
    });
    expect(usage.extra.time_to_first_token_s).toBeCloseTo(0.04);
    expect(usage.extra.prefill_tokens_per_s).toBeCloseTo(20 / 0.04); // the computed tokens only
    expect(usage.extra.decode_tokens_per_s).toBeCloseTo(10 / 0.5); // the tokens after the first
    expect(usage.extra.time_per_output_token_s).toBeCloseTo(0.05);
    expect(usage.extra.e2e_latency_s).toBeCloseTo(0.54);
    expect(usage.spec).toBeUndefined();
  });

  it('gives no decode speed to a reply of one token', () => {
    const usage = buildUsage({ promptTokens: 5, cachedTokens: 0, completionTokens: 1, clock: clockAt(0, 10, 10) });
    expect(usage.extra.decode_tokens_per_s).toBe(0);
    expect(usage.extra.time_per_output_token_s).toBe(0);
  });
});

describe('ReplyClock', () => {
  it('keeps the first token time only', async () => {
    const clock = new ReplyClock();
    clock.token();
    const first = clock.firstToken;
    await new Promise((resolve) => setTimeout(resolve, 5));
    clock.token();
    expect(clock.firstToken).toBe(first);
    clock.end();
    expect(clock.ttftMs).toBeLessThanOrEqual((clock.ended as number) - clock.started);
  });
});

describe('combinedUsage', () => {
  it("reports a request's choices as hosted APIs do: the prompt once, every generated token", () => {
    const first = buildUsage({
      promptTokens: 120,
      cachedTokens: 100,
      completionTokens: 11,
      clock: clockAt(0, 40, 540),
    });
    // The second choice read the whole prompt from the cache; 21 tokens at 40 tokens/s.
    const second = buildUsage({
      promptTokens: 120,
      cachedTokens: 120,
      completionTokens: 21,
      clock: clockAt(0, 5, 505),
    });
    const usage = combinedUsage([first, second]);
    expect(usage).toMatchObject({
      prompt_tokens: 120,
      completion_tokens: 32,
      total_tokens: 152,
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 20,
    });
    expect(usage.extra.time_to_first_token_s).toBeCloseTo(0.04);
    // 10 + 20 tokens after the first ones, in 0.5 + 0.5 s.
    expect(usage.extra.decode_tokens_per_s).toBeCloseTo(30);
    expect(usage.extra.time_per_output_token_s).toBeCloseTo(1 / 30);
    expect(usage.extra.e2e_latency_s).toBeCloseTo(1.045);
    expect(combinedUsage([first])).toBe(first);
  });
});
