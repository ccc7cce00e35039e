/**
 * The figures panel: speed, acceptance and cache figures of the current or last reply, numbers
 * alone; where the cached tokens came from (memory, or the prefix store on disk), and where a
 * prompt parted from the cache, when it did.
 */

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
  const { cache_source: source, disk_tokens: disk } = usage.prompt_tokens_details;
  field('cache-source').textContent = source === 'disk' ? `disk (${disk})` : source === 'memory' ? 'memory' : '–';
  const miss = usage.cache_miss;
  const note = field('cache-miss');
  note.hidden = !miss;
  note.textContent = miss
    ? `This prompt parted from the cached one at token ${miss.at_token}: cached “${miss.cached_text}”, ` +
      `this prompt “${miss.prompt_text}”. Keep what changes after what stays the same.`
    : '';
}

/** While a reply streams: its running speed. */
export function showLiveSpeed(tokens: number, seconds: number): void {
  if (seconds > 0) set('tok-s', tokens / seconds, 1);
}
