/**
 * `tandem generate`: a client of the engine in Node. It loads a model folder (and a draft)
 * through `createEngine`, sends the request (a text completion, or a chat through the model's
 * template) and streams the reply with a summary of its usage on stderr, or prints one JSON
 * object with the text, token ids, finish reason, usage and adapter. With --repeat the request
 * is sent again: the later ones read their prompt from the prefix cache.
 */

import { createEngine, type EngineOptions } from '../engine/engine';
import { modelOptions } from '../engine/model-options';
import type { TandemRequest } from '../engine/request';
import { requestNodeGpu } from '../gpu/node';
import type { Catalogue } from '../loader/catalogue';
import type { DraftLength } from '../speculative/draft-length';
import { usageSummary } from './summary';

export interface GenerateCommand {
  /** A model folder (a path or a URL), or a model id of the catalogue. */
  target: string;
  /** A draft model (folder or catalogue id), 'mtp' (the target's own MTP layer), 'ngram' for prompt lookup, or 'none'. */
  draft?: string;
  /** The catalogue model ids are looked up in (default: web-llm's). */
  appConfig?: Catalogue;
  draftLength: DraftLength;
  request: TandemRequest;
  /** Send the request this many times (the prefix cache serves the later ones). */
  repeat: number;
  json: boolean;
}

export async function runGenerate(command: GenerateCommand): Promise<number> {
  const { request } = command;
  const engine = await createEngine({ ...engineOptions(command), gpu: await requestNodeGpu() });
  const adapter = { vendor: engine.gpu.info.vendor, architecture: engine.gpu.info.architecture };
  const results = [];
  try {
    for (let r = 0; r < command.repeat; r++) {
      const print = command.json ? undefined : (text: string) => process.stdout.write(text);
      const { text, tokens, finishReason, usage } = await engine.generate(request, print);
      results.push({ text, tokens, finish_reason: finishReason, usage, adapter });
      if (print) {
        print('\n');
        console.error(usageSummary(usage, adapter.architecture));
      }
    }
  } finally {
    await engine.unload();
  }
  if (command.json) console.log(JSON.stringify(command.repeat === 1 ? results[0] : results, null, 2));
  return 0;
}

function engineOptions(command: GenerateCommand): EngineOptions {
  const { target, draft, draftLength, appConfig } = command;
  return { ...modelOptions(target, { draft, appConfig }), draftLength };
}
