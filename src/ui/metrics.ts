/**
 * The figures panel: speed, acceptance and cache figures of the current or last reply, numbers
 * alone, "–" where a figure is not known (yet): reset when a request starts, a speed only from
 * two tokens on, a time to first token only when a token came. Also where the cached tokens
 * came from (memory, or the prefix store on disk), where a prompt parted from the cache when it
 * did, and a reply's figures as one line for the reply itself.
 */

import type { TandemUsage } from '../engine/engine';

const field = (id: string) => document.querySelector(`[data-testid="${id}"]`) as HTMLElement;

const FIGURES = [
  'tok-s',
  'acceptance-rate',
  'mean-accepted-length',
  'mean-draft-length',
  'ttft-ms',
  'prompt-tokens',
  'cache-read-tokens',
  'cache-creation-tokens',
  'cache-source',
];

function set(id: string, value: number | undefined, digits = 0): void {
  field(id).textContent = value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

/** What is known of a reply: a speed needs two tokens, a time to first token one. */
function known(usage: TandemUsage) {
  const produced = usage.completion_tokens > 0;
  return {
    tokS:
      usage.completion_tokens > 1 && usage.extra.decode_tokens_per_s > 0 ? usage.extra.decode_tokens_per_s : undefined,
    ttftMs: produced ? usage.extra.time_to_first_token_s * 1000 : undefined,
    acceptance: usage.spec && usage.spec.steps > 0 ? usage.spec : undefined,
  };
}

/** Every figure back to "–" (a request starts, a new chat). */
export function resetFigures(): void {
  for (const id of FIGURES) field(id).textContent = '–';
  const miss = field('cache-miss');
  miss.hidden = true;
  miss.textContent = '';
}

export function showUsage(usage: TandemUsage): void {
  const { tokS, ttftMs, acceptance } = known(usage);
  set('tok-s', tokS, 1);
  set('acceptance-rate', acceptance?.acceptance_rate, 2);
  set('mean-accepted-length', acceptance?.mean_accepted_length, 2);
  // k, or what 'auto' drafted on average.
  set('mean-draft-length', acceptance && acceptance.drafted / acceptance.steps, 1);
  set('ttft-ms', ttftMs, 0);
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

/** A reply's figures in one line: speed, acceptance, tokens per pass, time to first token, cached tokens. */
export function describeUsage(usage: TandemUsage): string {
  const { tokS, ttftMs, acceptance } = known(usage);
  return [
    tokS === undefined ? undefined : `${tokS.toFixed(1)} tok/s`,
    acceptance && `acceptance ${acceptance.acceptance_rate.toFixed(2)}`,
    acceptance && `${acceptance.mean_accepted_length.toFixed(2)} tokens/pass`,
    ttftMs === undefined ? undefined : `TTFT ${Math.round(ttftMs)} ms`,
    `${usage.cache_read_input_tokens} cached`,
  ]
    .filter(Boolean)
    .join(' · ');
}

/** While a reply streams: its running speed. */
export function showLiveSpeed(tokens: number, seconds: number): void {
  if (seconds > 0 && tokens > 1) set('tok-s', tokens / seconds, 1);
}
