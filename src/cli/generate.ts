/**
 * `tandem generate`: load a model folder (and a draft) onto the GPU, build the prompt, and
 * stream the reply, or print JSON with the text, tokens, usage (prefix-cache figures included),
 * timings, the adapter and, with a draft, the speculative decoding figures. Requests go through
 * the prefix cache, so with --repeat the second and later requests reuse the first's prompt.
 */

import { readFileSync } from 'node:fs';
import { CachedGenerator, type CachedResult, type DraftKind } from '../cache/cached-generator';
import { requestNodeGpu } from '../gpu/node';
import { loadModelFolder } from '../loader/model-folder';
import { directorySource } from '../loader/node-source';
import { GpuModel } from '../model/gpu-model';
import type { SamplingParams } from '../sampling/sampling';
import type { DraftLength, SpecStats } from '../spec/speculative';
import { checkVocabularies } from '../spec/vocabulary';
import type { ChatMessage, TextTokenizer } from '../tokenizer/tokenizer';

export interface GenerateCommand {
  target: string;
  prompt: string;
  system?: string;
  systemFile?: string;
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  chat: boolean;
  json: boolean;
  /** A draft model folder, or 'ngram' for prompt lookup; none for plain decoding. */
  draft?: string;
  draftLength: DraftLength;
  /** Send the same request this many times (the prefix cache serves the later ones). */
  repeat: number;
}

/** The prompt as text: as given, or as a chat (system and user turns) through the model's template. */
export function promptText(tokenizer: TextTokenizer, prompt: string, system: string | undefined, chat: boolean) {
  if (!chat || !tokenizer.hasChatTemplate) return system ? `${system}\n\n${prompt}` : prompt;
  const messages: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];
  messages.push({ role: 'user', content: prompt });
  return tokenizer.applyChatTemplate(messages);
}

export async function runGenerate(command: GenerateCommand): Promise<number> {
  const gpu = await requestNodeGpu();
  const folder = await loadModelFolder(directorySource(command.target));
  const { tokenizer } = folder;
  const system = command.systemFile ? readFileSync(command.systemFile, 'utf8').trim() : command.system;
  const promptIds = tokenizer.encodePrompt(promptText(tokenizer, command.prompt, system, command.chat || !!system));
  const capacity = Math.min(folder.config.maxPositions, promptIds.length + command.maxTokens + 16);
  const model = await GpuModel.create(gpu, folder.config, folder.weights, { maxContext: capacity });

  let draftKind: DraftKind = 'none';
  let draftModel: GpuModel | undefined;
  if (command.draft === 'ngram') draftKind = 'ngram';
  else if (command.draft) {
    const draft = await loadModelFolder(directorySource(command.draft));
    checkVocabularies(tokenizer, draft.tokenizer);
    draft.tokenizer.dispose();
    draftModel = await GpuModel.create(gpu, draft.config, draft.weights, { maxContext: capacity });
    draftKind = 'model';
  }
  const generator = new CachedGenerator(model, draftModel, { capacity, budgetBytes: 512 << 20 });

  const results = [];
  for (let r = 0; r < command.repeat; r++) {
    const stream = command.json ? undefined : streamer(tokenizer, folder.stopTokenIds);
    const result = await generator.generate(promptIds, {
      maxTokens: command.maxTokens,
      sampling: command.sampling,
      seed: command.seed,
      stopTokens: folder.stopTokenIds,
      draft: draftKind,
      draftLength: command.draftLength,
      onToken: stream?.write,
    });
    const report = describe(result, tokenizer, folder.stopTokenIds, command.maxTokens, draftKind !== 'none');
    results.push({ ...report, adapter: { vendor: gpu.info.vendor, architecture: gpu.info.architecture } });
    if (stream) {
      stream.end();
      console.error(summary(report.usage, report.stats, report.spec, gpu.info.architecture));
    }
  }
  if (command.json) console.log(JSON.stringify(command.repeat === 1 ? results[0] : results, null, 2));
  generator.cache.clear();
  model.destroy();
  draftModel?.destroy();
  tokenizer.dispose();
  return 0;
}

function describe(result: CachedResult, tokenizer: TextTokenizer, stops: number[], maxTokens: number, spec: boolean) {
  const { usage } = result;
  const computed = usage.prompt_tokens - usage.cache_read_input_tokens;
  return {
    text: tokenizer.decode(result.tokens.filter((t) => !stops.includes(t))),
    tokens: result.tokens,
    usage: {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.total_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      prompt_tokens_details: usage.prompt_tokens_details,
    },
    stats: {
      ttft_ms: round(usage.ttft_ms),
      prefill_tok_s: round(computed / (usage.ttft_ms / 1000)),
      decode_tok_s: round(result.spec.decode_tok_s),
    },
    finish_reason: result.tokens.length < maxTokens ? 'stop' : 'length',
    ...(spec ? { spec: roundStats(result.spec) } : {}),
  };
}

/** Prints the reply as it comes, whole characters only (a token may end inside one). */
function streamer(tokenizer: TextTokenizer, stops: number[]) {
  const tokens: number[] = [];
  let printed = '';
  const flush = (final: boolean) => {
    const text = tokenizer.decode(tokens);
    if (text.length > printed.length && (final || !text.endsWith('\uFFFD'))) {
      process.stdout.write(text.slice(printed.length));
      printed = text;
    }
  };
  return {
    write(token: number) {
      if (stops.includes(token)) return;
      tokens.push(token);
      flush(false);
    },
    end() {
      flush(true);
      process.stdout.write('\n');
    },
  };
}

type Report = ReturnType<typeof describe>;

function summary(usage: Report['usage'], stats: Report['stats'], spec: Report['spec'], architecture: string) {
  let line =
    `\n[${usage.prompt_tokens} prompt tokens (${usage.cache_read_input_tokens} from the cache), ` +
    `${usage.completion_tokens} generated; TTFT ${stats.ttft_ms} ms, prefill ${stats.prefill_tok_s} tok/s, ` +
    `decode ${stats.decode_tok_s} tok/s on ${architecture}]`;
  if (spec) {
    line +=
      `\n[speculative (${spec.draft}): ${spec.accepted}/${spec.drafted} drafts accepted ` +
      `(${(spec.acceptance_rate * 100).toFixed(0)}%), ${spec.mean_accepted_length} tokens per target pass` +
      `${spec.fell_back ? `; ${spec.fallback_reason}` : ''}]`;
  }
  return line;
}

const round = (x: number) => Math.round(x * 10) / 10;

function roundStats(stats: SpecStats) {
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    ...stats,
    acceptance_rate: r3(stats.acceptance_rate),
    mean_accepted_length: r3(stats.mean_accepted_length),
    per_position: stats.per_position.map(r3),
    decode_tok_s: round(stats.decode_tok_s),
  };
}
