/** The figures panel: speed, acceptance and cache figures of the current or last reply, numbers alone. */

import type { TandemUsage } from '../engine/engine';

const field = (id: string) => document.querySelector(`[data-testid="${id}"]`) as HTMLElement;

function set(id: string, value: number | undefined, digits = 0): void {
  field(id).textContent = value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

export function showUsage(usage: TandemUsage): void {
  set('tok-s', usage.extra.decode_tokens_per_s, 1);
  set('acceptance-rate', usage.spec?.acceptance_rate, 2);
  set('mean-accepted-length', usage.spec?.mean_accepted_length, 2);
  set('ttft-ms', usage.extra.time_to_first_token_s * 1000, 0);
  set('prompt-tokens', usage.prompt_tokens);
  set('cache-read-tokens', usage.cache_read_input_tokens);
  set('cache-creation-tokens', usage.cache_creation_input_tokens);
}

/** While a reply streams: its running speed. */
export function showLiveSpeed(tokens: number, seconds: number): void {
  if (seconds > 0) set('tok-s', tokens / seconds, 1);
}
