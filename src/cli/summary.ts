/** The line the CLI prints to stderr after a streamed reply: its usage, in words. */

import type { TandemUsage } from '../engine/usage';

const round = (x: number) => Math.round(x * 10) / 10;

export function usageSummary(usage: TandemUsage, architecture: string): string {
  const { extra, spec } = usage;
  let line =
    `\n[${usage.prompt_tokens} prompt tokens (${usage.cache_read_input_tokens} from the cache), ` +
    `${usage.completion_tokens} generated; TTFT ${round(extra.time_to_first_token_s * 1000)} ms, ` +
    `prefill ${round(extra.prefill_tokens_per_s)} tok/s, decode ${round(extra.decode_tokens_per_s)} tok/s on ${architecture}]`;
  if (spec) {
    line +=
      `\n[speculative (${spec.draft}): ${spec.accepted}/${spec.drafted} drafts accepted ` +
      `(${(spec.acceptance_rate * 100).toFixed(0)}%), ${spec.mean_accepted_length.toFixed(2)} tokens per target pass` +
      `${spec.forced_tokens > 0 ? `; ${spec.forced_tokens} tokens forced by the response format` : ''}` +
      `${spec.fell_back ? `; ${spec.fallback_reason}` : ''}]`;
  }
  return line;
}
