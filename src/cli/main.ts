/**
 * The `tandem` command line (Node, WebGPU through Dawn).
 *
 *   npx tandem generate --target <model dir> --prompt "..." [options]
 *
 * Run `npx tandem help` for the options.
 */

import '../node/require-shim';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { TandemRequest } from '../engine/request';
import { parseDraftLength } from '../speculative/draft-length';
import { runGenerate } from './generate';

export const USAGE = `Usage: npx tandem generate --target <model dir|model id> --prompt "..." [options]

  --target DIR|ID     a model folder (Hugging Face or MLC), a GGUF file (F16, Q8_0, Q4_K_M...),
                      or a model id of web-llm's catalogue
                      (e.g. Llama-3.2-1B-Instruct-q4f16_1-MLC, downloaded with its suggested draft)
  --app-config FILE   look model ids up in this appConfig JSON ({ model_list: [...] }) instead
  --prompt TEXT       the text to continue, or with --chat the user's message
  --chat              wrap the prompt in the model's chat template (as a user turn)
  --system TEXT       a system prompt (implies --chat)
  --system-file FILE  the system prompt from a file (implies --chat)
  --repeat N          send the request N times: later ones reuse the cached prompt (default 1)
  --max-tokens N      most tokens to generate (default 128)
  --temperature T     0 for greedy decoding (default 0)
  --top-p P           nucleus sampling (default 1)
  --top-k K           keep the K most likely tokens (default 0: off)
  --seed S            seed for sampling (default 0)
  --draft DIR|ID|ngram|none
                      speculative decoding with a draft model (folder or id) or an EAGLE head
                      (EAGLE-3: config.json says LlamaForCausalLMEagle3; EAGLE-1: a one-layer
                      Llama config without a tokenizer), prompt lookup, or none
  --draft-len K|auto  tokens drafted per step (default auto)
  --draft-tree W      verify a token tree, other candidates beside each of the draft's first
                      W tokens (default 0: a chain; an EAGLE head proposes them)
  --draft-tree-width R
                      candidates beside each of those tokens (default 1, at most 3)
  --json              print one JSON object (text, token ids, finish reason, usage, adapter)
                      instead of streaming text`;

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === 'generate') {
    const { values } = parseArgs({
      args: rest,
      options: {
        target: { type: 'string' },
        'app-config': { type: 'string' },
        prompt: { type: 'string' },
        system: { type: 'string' },
        'system-file': { type: 'string' },
        repeat: { type: 'string', default: '1' },
        'max-tokens': { type: 'string', default: '128' },
        temperature: { type: 'string', default: '0' },
        'top-p': { type: 'string', default: '1' },
        'top-k': { type: 'string', default: '0' },
        seed: { type: 'string', default: '0' },
        draft: { type: 'string' },
        'draft-len': { type: 'string', default: 'auto' },
        'draft-tree': { type: 'string', default: '0' },
        'draft-tree-width': { type: 'string', default: '1' },
        chat: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
    });
    if (!values.target || values.prompt === undefined) {
      console.error(USAGE);
      return 2;
    }
    const system = values['system-file'] ? readFileSync(values['system-file'], 'utf8').trim() : values.system;
    const fields = {
      max_tokens: Number(values['max-tokens']),
      temperature: Number(values.temperature),
      top_p: Number(values['top-p']),
      top_k: Number(values['top-k']),
      seed: Number(values.seed),
      draftTree: Number(values['draft-tree']),
      draftTreeWidth: Number(values['draft-tree-width']),
    };
    const user = { role: 'user' as const, content: values.prompt };
    const request: TandemRequest =
      values.chat || system
        ? { ...fields, messages: system ? [{ role: 'system', content: system }, user] : [user] }
        : { ...fields, prompt: values.prompt };
    return runGenerate({
      target: values.target,
      draft: values.draft,
      appConfig: values['app-config'] ? JSON.parse(readFileSync(values['app-config'], 'utf8')) : undefined,
      draftLength: parseDraftLength(values['draft-len']),
      request,
      repeat: Math.max(1, Number(values.repeat)),
      json: values.json,
    });
  }
  console.error(USAGE);
  return command === 'help' || command === '--help' ? 0 : 2;
}
