/**
 * `tandem generate`: load a model folder onto the GPU, build the prompt with the chat
 * template, and stream the reply (or print one JSON object with the text, tokens, usage,
 * timings and the adapter).
 */

import type { Gpu } from '../gpu/device';
import { requestNodeGpu } from '../gpu/node';
import { loadModelFolder } from '../loader/model-folder';
import { directorySource } from '../loader/node-source';
import { generate } from '../model/generate';
import { GpuModel } from '../model/gpu-model';
import type { SamplingParams } from '../sampling/sampling';
import type { DraftSource } from '../spec/draft-source';
import { ModelDraftSource } from '../spec/model-draft';
import { PromptLookupSource } from '../spec/prompt-lookup';
import { AUTO_CONFIDENCE, type DraftLength, type SpecStats, speculativeGenerate } from '../spec/speculative';
import { checkVocabularies } from '../spec/vocabulary';
import type { ChatMessage, TextTokenizer } from '../tokenizer/tokenizer';

export interface GenerateCommand {
  target: string;
  prompt: string;
  system?: string;
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  chat: boolean;
  json: boolean;
  /** A draft model folder, or 'ngram' for prompt lookup; none for plain decoding. */
  draft?: string;
  draftLength: DraftLength;
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
  const promptIds = folder.tokenizer.encodePrompt(
    promptText(folder.tokenizer, command.prompt, command.system, command.chat),
  );
  const capacity = promptIds.length + command.maxTokens + 16; // room for a verify pass's drafts
  const model = await GpuModel.create(gpu, folder.config, folder.weights, { maxContext: capacity });
  const sequence = model.createSequence(capacity);
  const source = await draftSource(command, gpu, folder.tokenizer, capacity);

  let printed = '';
  const tokens: number[] = [];
  const start = performance.now();
  let firstTokenAt = 0;
  const options = {
    maxTokens: command.maxTokens,
    sampling: command.sampling,
    seed: command.seed,
    stopTokens: folder.stopTokenIds,
    onToken(token: number) {
      if (tokens.length === 0) firstTokenAt = performance.now();
      tokens.push(token);
      if (command.json || folder.stopTokenIds.includes(token)) return;
      const text = folder.tokenizer.decode(tokens);
      if (text.length > printed.length && !text.endsWith('\uFFFD')) {
        process.stdout.write(text.slice(printed.length));
        printed = text;
      }
    },
  };
  let spec: SpecStats | undefined;
  let completion: number[];
  if (source) {
    const result = await speculativeGenerate(model, sequence, source, promptIds, {
      ...options,
      draftLength: command.draftLength,
    });
    completion = result.tokens;
    spec = result.stats;
    source.release();
  } else {
    completion = await generate(model, sequence, promptIds, options);
  }
  const end = performance.now();

  const reply = completion.filter((t) => !folder.stopTokenIds.includes(t));
  const text = folder.tokenizer.decode(reply);
  const decodeSeconds = (end - firstTokenAt) / 1000;
  const result = {
    text,
    tokens: completion,
    usage: {
      prompt_tokens: promptIds.length,
      completion_tokens: completion.length,
      total_tokens: promptIds.length + completion.length,
    },
    stats: {
      ttft_ms: round(firstTokenAt - start),
      prefill_tok_s: round(promptIds.length / ((firstTokenAt - start) / 1000)),
      decode_tok_s: completion.length > 1 ? round((completion.length - 1) / decodeSeconds) : null,
    },
    finish_reason: completion.length < command.maxTokens ? 'stop' : 'length',
    ...(spec ? { spec: roundStats(spec) } : {}),
    adapter: { vendor: gpu.info.vendor, architecture: gpu.info.architecture, description: gpu.info.description },
  };
  if (command.json) console.log(JSON.stringify(result, null, 2));
  else {
    process.stdout.write(text.slice(printed.length));
    console.error(
      `\n\n[${result.usage.prompt_tokens} prompt tokens, ${result.usage.completion_tokens} generated; ` +
        `TTFT ${result.stats.ttft_ms} ms, prefill ${result.stats.prefill_tok_s} tok/s, decode ${result.stats.decode_tok_s} tok/s ` +
        `on ${gpu.info.vendor} ${gpu.info.architecture}]`,
    );
    if (spec) {
      console.error(
        `[speculative (${spec.draft}): ${spec.accepted}/${spec.drafted} drafts accepted (${(spec.acceptance_rate * 100).toFixed(0)}%), ` +
          `${spec.mean_accepted_length.toFixed(2)} tokens per target pass${spec.fell_back ? `; ${spec.fallback_reason}` : ''}]`,
      );
    }
  }
  sequence.release();
  model.destroy();
  folder.tokenizer.dispose();
  return 0;
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

async function draftSource(
  command: GenerateCommand,
  gpu: Gpu,
  tokenizer: TextTokenizer,
  capacity: number,
): Promise<DraftSource | undefined> {
  if (!command.draft) return undefined;
  if (command.draft === 'ngram') return new PromptLookupSource();
  const folder = await loadModelFolder(directorySource(command.draft));
  checkVocabularies(tokenizer, folder.tokenizer);
  folder.tokenizer.dispose();
  const model = await GpuModel.create(gpu, folder.config, folder.weights, { maxContext: capacity });
  return new ModelDraftSource(model, capacity, command.draftLength === 'auto' ? AUTO_CONFIDENCE : 0);
}
