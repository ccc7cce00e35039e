/**
 * `tandem generate`: load a model folder onto the GPU, build the prompt with the chat
 * template, and stream the reply (or print one JSON object with the text, tokens, usage,
 * timings and the adapter).
 */

import { requestNodeGpu } from '../gpu/node';
import { loadModelFolder } from '../loader/model-folder';
import { directorySource } from '../loader/node-source';
import { generate } from '../model/generate';
import { GpuModel } from '../model/gpu-model';
import type { SamplingParams } from '../sampling/sampling';
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
  const model = await GpuModel.create(gpu, folder.config, folder.weights, {
    maxContext: Math.min(folder.config.maxPositions, promptIds.length + command.maxTokens + 1),
  });
  const sequence = model.createSequence(promptIds.length + command.maxTokens);

  let printed = '';
  const tokens: number[] = [];
  const start = performance.now();
  let firstTokenAt = 0;
  const completion = await generate(model, sequence, promptIds, {
    maxTokens: command.maxTokens,
    sampling: command.sampling,
    seed: command.seed,
    stopTokens: folder.stopTokenIds,
    onToken(token) {
      if (tokens.length === 0) firstTokenAt = performance.now();
      tokens.push(token);
      if (command.json || folder.stopTokenIds.includes(token)) return;
      const text = folder.tokenizer.decode(tokens);
      if (text.length > printed.length && !text.endsWith('\uFFFD')) {
        process.stdout.write(text.slice(printed.length));
        printed = text;
      }
    },
  });
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
  }
  sequence.release();
  model.destroy();
  folder.tokenizer.dispose();
  return 0;
}

const round = (x: number) => Math.round(x * 10) / 10;
