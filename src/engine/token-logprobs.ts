/**
 * Token log-probabilities in web-llm's (OpenAI's) shape: each token's text, its UTF-8 bytes,
 * its log-probability, and the alternatives'. A token's text is the token decoded alone, as
 * web-llm gives it (a piece of a multi-byte character decodes to U+FFFD).
 */

import type { ChatCompletionTokenLogprob } from '@mlc-ai/web-llm';
import type { TokenLogprob } from '../sampling/logprobs';
import type { TextTokenizer } from '../tokenizer/tokenizer';

export function describeLogprob(tokenizer: TextTokenizer, entry: TokenLogprob): ChatCompletionTokenLogprob {
  const text = (token: number) => {
    const decoded = tokenizer.decode([token]);
    return { token: decoded, bytes: Array.from(new TextEncoder().encode(decoded)) };
  };
  return {
    ...text(entry.token),
    logprob: entry.logprob,
    top_logprobs: entry.top.map((alternative) => ({ ...text(alternative.token), logprob: alternative.logprob })),
  };
}
