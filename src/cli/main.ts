/**
 * The `tandem` command line (Node, WebGPU through Dawn).
 *
 *   npx tandem generate --target <model dir> --prompt "..." [options]
 *
 * Run `npx tandem help` for the options. A mistake in them (an unknown option, a number that
 * is not one, a file that cannot be read) is said in one line with the usage, exit code 2; an
 * error a user can act on (a named Tandem error: no adapter, a malformed model file...) in one
 * line, exit code 1; anything else with its stack, as a bug.
 */

import '../node/require-shim';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { TandemRequest } from '../engine/request';
import { TandemError } from '../errors';
import { parseDraftLength } from '../speculative/draft-length';
import { runGenerate } from './generate';
import { modelArgument } from './model-argument';
import { UsageError } from './usage-error';

export const USAGE = `Usage: npx tandem generate --target <model dir|model id> --prompt "..." [options]

  --target DIR|ID     a model folder (Hugging Face or MLC), a GGUF file (F16, Q8_0, Q4_K_M...),
                      or a model id of web-llm's catalogue
                      (e.g. Llama-3.2-1B-Instruct-q4f16_1-MLC, downloaded with its suggested draft;
                      a folder of that name here is read instead)
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
  --draft DIR|ID|mtp|ngram|none
                      speculative decoding with a draft model (folder or id) or an EAGLE head
                      (EAGLE-3: config.json says LlamaForCausalLMEagle3; EAGLE-1: a one-layer
                      Llama config without a tokenizer), the target's own multi-token
                      prediction layer (mtp: Qwen3.5's Hugging Face folders), prompt lookup, or none
  --draft-len K|auto  tokens drafted per step (default auto)
  --draft-tree W      verify a token tree, other candidates beside each of the draft's first
                      W tokens (default 0: a chain; an EAGLE head proposes them)
  --draft-tree-width R
                      candidates beside each of those tokens (default 1, at most 3)
  --reply-json        hold the reply to JSON: any object (web-llm's response_format json_object)
  --reply-schema FILE hold the reply to the JSON schema in FILE
  --reply-grammar FILE
                      hold the reply to the EBNF grammar in FILE (response_format grammar)
  --json              print one JSON object (text, token ids, finish reason, usage, adapter)
                      instead of streaming text`;

export async function main(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      console.error(`tandem: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof TandemError) {
      console.error(`${error.name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

async function run(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command !== 'generate') {
    console.error(USAGE);
    return command === 'help' || command === '--help' ? 0 : 2;
  }
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
      'reply-json': { type: 'boolean', default: false },
      'reply-schema': { type: 'string' },
      'reply-grammar': { type: 'string' },
    },
  });
  if (!values.target) throw new UsageError('--target is missing: a model folder, a GGUF file or a model id');
  if (values.prompt === undefined) throw new UsageError('--prompt is missing');
  const system = values['system-file'] ? readOption('--system-file', values['system-file']).trim() : values.system;
  const whole = (name: keyof typeof values) => numberOption(name, values[name] as string, true);
  const fields = {
    max_tokens: whole('max-tokens'),
    temperature: numberOption('temperature', values.temperature),
    top_p: numberOption('top-p', values['top-p']),
    top_k: whole('top-k'),
    seed: whole('seed'),
    draftTree: whole('draft-tree'),
    draftTreeWidth: whole('draft-tree-width'),
    ...replyFormat(values['reply-json'], values['reply-schema'], values['reply-grammar']),
  };
  const user = { role: 'user' as const, content: values.prompt };
  const request: TandemRequest =
    values.chat || system
      ? { ...fields, messages: system ? [{ role: 'system', content: system }, user] : [user] }
      : { ...fields, prompt: values.prompt };
  const appConfig = values['app-config'];
  return runGenerate({
    target: modelArgument('--target', values.target),
    draft: values.draft === undefined ? undefined : modelArgument('--draft', values.draft),
    appConfig: appConfig ? readJsonOption('--app-config', appConfig) : undefined,
    draftLength: usage(() => parseDraftLength(values['draft-len'])),
    request,
    repeat: Math.max(1, whole('repeat')),
    json: values.json,
  });
}

/** The `response_format` the --reply-* options ask for (at most one of them). */
function replyFormat(json: boolean | undefined, schemaFile: string | undefined, grammarFile: string | undefined) {
  const asked = [json && '--reply-json', schemaFile && '--reply-schema', grammarFile && '--reply-grammar'].filter(
    Boolean,
  );
  if (asked.length > 1) throw new UsageError(`${asked.join(' and ')}: give one format for the reply`);
  if (schemaFile)
    return { response_format: { type: 'json_object' as const, schema: readOption('--reply-schema', schemaFile) } };
  if (grammarFile)
    return { response_format: { type: 'grammar' as const, grammar: readOption('--reply-grammar', grammarFile) } };
  return json ? { response_format: { type: 'json_object' as const } } : {};
}

/** An option's number; the request's own checks say what range it must be in. */
function numberOption(name: string, text: string, integer = false): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name}: "${text}" is not ${integer ? 'a whole number' : 'a number'}`);
  }
  return value;
}

/** The text of the file an option names. */
function readOption(option: string, path: string): string {
  return usage(() => readFileSync(path, 'utf8'), `${option}: cannot read ${path}`);
}

/** The JSON value in the file an option names (its shape is checked where it is used). */
function readJsonOption(option: string, path: string) {
  const text = readOption(option, path);
  return usage(() => JSON.parse(text), `${option}: ${path} is not JSON`);
}

/** `fn`'s value, or its error as a mistake in the command line (with `what` before its message). */
function usage<T>(fn: () => T, what?: string): T {
  try {
    return fn();
  } catch (error) {
    // One line: a JSON parser's message quotes the text it stopped at.
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    throw new UsageError(what ? `${what} (${message})` : message);
  }
}

/** Node's parseArgs rejects unknown options and options without their values with these codes. */
function isParseArgsError(error: unknown): boolean {
  return error instanceof Error && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
}
