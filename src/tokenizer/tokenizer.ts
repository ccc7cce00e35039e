/**
 * Text <-> token ids, and chat messages -> prompt text, from a model folder's
 * `tokenizer.json` (the Hugging Face tokenizers library compiled to WebAssembly, the same one
 * web-llm uses: byte-level BPE, SentencePiece-style, added special tokens) and
 * `tokenizer_config.json` (BOS/EOS, and the Jinja chat template, run by @huggingface/jinja).
 */

import { Template } from '@huggingface/jinja';
import { TokenizerError } from '../errors';
import { type ModelSource, readJson } from '../loader/source';
import { type WasmTokenizer, wasmTokenizerClass } from './wasm';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

interface TokenizerConfig {
  chat_template?: string | { name: string; template: string }[];
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  add_bos_token?: boolean;
}

export class TextTokenizer {
  private readonly template: Template | undefined;

  private constructor(
    private readonly wasm: WasmTokenizer,
    private readonly config: TokenizerConfig,
    private readonly source: string,
  ) {
    const chat = Array.isArray(config.chat_template)
      ? config.chat_template.find((t) => t.name === 'default')?.template
      : config.chat_template;
    try {
      this.template = chat ? new Template(chat) : undefined;
    } catch (cause) {
      throw new TokenizerError(`${source}/tokenizer_config.json: the chat template does not parse: ${String(cause)}`, {
        cause,
      });
    }
  }

  static async load(source: ModelSource): Promise<TextTokenizer> {
    const json = await source.read('tokenizer.json').catch((cause) => {
      throw new TokenizerError(`${source.name}: tokenizer.json is missing: ${(cause as Error).message}`, { cause });
    });
    const config = (await readJson(source, 'tokenizer_config.json', TokenizerError).catch((cause) => {
      if ((cause as Error).name === 'TokenizerError') throw cause;
      return {}; // optional: without it there is no chat template, and no BOS/EOS names
    })) as TokenizerConfig;
    try {
      JSON.parse(new TextDecoder().decode(json)); // the wasm library aborts on bad JSON with no message
    } catch (cause) {
      throw new TokenizerError(`${source.name}/tokenizer.json is not valid JSON: ${String(cause)}`, { cause });
    }
    let wasm: WasmTokenizer;
    try {
      wasm = await wasmTokenizerClass().fromJSON(json.slice().buffer);
    } catch (cause) {
      throw new TokenizerError(`${source.name}/tokenizer.json could not be loaded: ${String(cause)}`, { cause });
    }
    return new TextTokenizer(wasm, config, source.name);
  }

  /** Ids of `text`; special tokens written in the text (e.g. <|im_start|>) become their ids. */
  encode(text: string): number[] {
    return Array.from(this.wasm.encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    return this.wasm.decode(Int32Array.from(ids));
  }

  /** Number of tokens the tokenizer defines (special tokens included); a model may pad beyond it. */
  get vocabSize(): number {
    return this.wasm.getVocabSize();
  }

  idToToken(id: number): string {
    return this.wasm.idToToken(id);
  }

  tokenId(token: string): number | undefined {
    const ids = this.encode(token);
    return ids.length === 1 && this.idToToken(ids[0]) === token ? ids[0] : undefined;
  }

  get bosToken(): string | undefined {
    return tokenText(this.config.bos_token);
  }

  get eosToken(): string | undefined {
    return tokenText(this.config.eos_token);
  }

  get addBosToken(): boolean {
    return this.config.add_bos_token === true;
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The prompt text for `messages`, ending with the assistant's turn opened when asked. */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true): string {
    if (!this.template) throw new TokenizerError(`${this.source}: tokenizer_config.json has no chat_template`);
    return this.template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
    });
  }

  /** Prompt ids for `text`, with BOS first when the tokenizer config asks for it. */
  encodePrompt(text: string): number[] {
    const ids = this.encode(text);
    const bos = this.bosToken === undefined ? undefined : this.tokenId(this.bosToken);
    return this.addBosToken && bos !== undefined && ids[0] !== bos ? [bos, ...ids] : ids;
  }

  dispose(): void {
    this.wasm.dispose();
  }
}

function tokenText(token: string | { content: string } | null | undefined): string | undefined {
  if (token == null) return undefined;
  return typeof token === 'string' ? token : token.content;
}
