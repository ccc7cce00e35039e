/**
 * Prompt lookup decoding: no second model. The last few tokens of the context are searched
 * for earlier in the context (prompt and reply so far); if found, the tokens that followed the
 * most recent earlier occurrence are proposed. It pays off where the reply repeats its input:
 * summaries, edits, code, names and phrases a story returns to.
 *
 * Tries n-grams from `maxNgram` down to `minNgram` tokens; proposals are deterministic.
 */

import type { Draft, DraftRequest, DraftSource } from './draft-source';

export class PromptLookupSource implements DraftSource {
  readonly kind = 'ngram';
  readonly forwards = 0;

  constructor(
    private readonly maxNgram = 3,
    private readonly minNgram = 1,
  ) {}

  async propose(context: readonly number[], { k }: DraftRequest): Promise<Draft> {
    return { tokens: lookup(context, k, this.maxNgram, this.minNgram) };
  }

  rollback(): void {}
}

export function lookup(context: readonly number[], k: number, maxNgram: number, minNgram: number): number[] {
  const end = context.length;
  for (let n = Math.min(maxNgram, end - 1); n >= minNgram; n--) {
    // The latest earlier start i with context[i .. i+n) equal to the last n tokens.
    for (let i = end - n - 1; i >= 0; i--) {
      let match = true;
      for (let j = 0; j < n; j++) {
        if (context[i + j] !== context[end - n + j]) {
          match = false;
          break;
        }
      }
      if (match) {
        const from = i + n;
        return context.slice(from, Math.min(from + k, end)) as number[];
      }
    }
  }
  return [];
}
