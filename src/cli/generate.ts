/**
 * `tandem generate`: a client of the engine in Node. It loads a model folder (and a draft)
 * through `createEngine`, sends the prompt as a text completion or, with --chat or a system
 * prompt, as a chat, and streams the reply (a summary of its usage to stderr) or prints one
 * JSON object with the text, token ids, finish reason, usage and adapter. With --repeat the
 * request is sent again: the later ones read their prompt from the prefix cache.
 */

import { readFileSync } from 'node:fs';
import { createEngine } from '../engine/engine';
import type { Reply } from '../engine/generation';
import type { TandemRequest } from '../engine/request';
import type { TandemUsage } from '../engine/usage';
import { requestNodeGpu } from '../gpu/node';
import type { DraftLength } from '../speculative/draft-length';

export interface GenerateCommand {
  target: string;
  prompt: string;
  system?: string;
  systemFile?: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  chat: boolean;
  json: boolean;
  /** A draft model folder, or 'ngram' for prompt lookup; none for plain decoding. */
  draft?: string;
  draftLength: DraftLength;
  /** Send the same request this many times (the prefix cache serves the later ones). */
  repeat: number;
}

export async function runGenerate(command: GenerateCommand): Promise<number> {
  const engine = await createEngine({
    target: command.target,
    draft: command.draft,
    draftLength: command.draftLength,
    gpu: await requestNodeGpu(),
  });
  const system = command.systemFile ? readFileSync(command.systemFile, 'utf8').trim() : command.system;
  const fields = {
    max_tokens: command.maxTokens,
    temperature: command.temperature,
    top_p: command.topP,
    top_k: command.topK,
    seed: command.seed,
  };
  const request: TandemRequest =
    command.chat || system
      ? {
          ...fields,
          messages: [
            ...(system ? [{ role: 'system' as const, content: system }] : []),
            { role: 'user' as const, content: command.prompt },
          ],
        }
      : { ...fields, prompt: command.prompt };
  const { vendor, architecture } = engine.gpu.info;
  const replies: Reply[] = [];
  try {
    for (let r = 0; r < command.repeat; r++) {
      const print = command.json ? undefined : (text: string) => process.stdout.write(text);
      const reply = await engine.generate(request, print);
      replies.push(reply);
      if (print) {
        process.stdout.write('\n');
        console.error(summary(reply.usage, architecture));
      }
    }
  } finally {
    await engine.unload();
  }
  if (command.json) {
    const json = replies.map(({ text, tokens, finishReason, usage }) => ({
      text,
      tokens,
      finish_reason: finishReason,
      usage,
      adapter: { vendor, architecture },
    }));
    console.log(JSON.stringify(command.repeat === 1 ? json[0] : json, null, 2));
  }
  return 0;
}

function summary(usage: TandemUsage, architecture: string): string {
  const { extra, spec } = usage;
  const round = (x: number) => Math.round(x * 10) / 10;
  let line =
    `\n[${usage.prompt_tokens} prompt tokens (${usage.cache_read_input_tokens} from the cache), ` +
    `${usage.completion_tokens} generated; TTFT ${round(extra.time_to_first_token_s * 1000)} ms, ` +
    `prefill ${round(extra.prefill_tokens_per_s)} tok/s, decode ${round(extra.decode_tokens_per_s)} tok/s on ${architecture}]`;
  if (spec) {
    line +=
      `\n[speculative (${spec.draft}): ${spec.accepted}/${spec.drafted} drafts accepted ` +
      `(${(spec.acceptance_rate * 100).toFixed(0)}%), ${spec.mean_accepted_length.toFixed(2)} tokens per target pass` +
      `${spec.fell_back ? `; ${spec.fallback_reason}` : ''}]`;
  }
  return line;
}
