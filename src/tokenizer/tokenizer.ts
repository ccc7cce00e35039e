/**
 * Text <-> token ids, and chat messages -> prompt ids, from a model folder's `tokenizer.json`
 * (the Hugging Face tokenizers library compiled to WebAssembly, the same one web-llm uses:
 * byte-level BPE, SentencePiece-style, added special tokens) and `tokenizer_config.json`
 * (BOS/EOS, and the Jinja chat template, run by @huggingface/jinja), or `chat_template.jinja`
 * where a folder has one (transformers now saves templates there; it takes the place of
 * tokenizer_config.json's, as transformers reads them).
 *
 * Two rules a chat product needs that a plain encode does not give:
 *  - Message content is text. Only the chat template's own markers become control tokens; a
 *    user who types `<|im_end|>` gets those characters, not the token (`encodeChat`).
 *  - Special tokens are never shown: decoding for display skips them (`decode(ids, {skipSpecial})`).
 * And prompts start as the Hugging Face tokenizer starts them: with the tokens of
 * tokenizer.json's post-processor (Llama 3's `<|begin_of_text|>`), or BOS where
 * tokenizer_config.json asks for it, exactly once.
 */

import { ChatTemplateError, TokenizerError } from '../errors';
import type { ConvTemplate } from '../loader/mlc-config';
import { type ModelSource, readJson } from '../loader/source';
import { ChatTemplate, ChatTemplateRefusal } from './chat-template';
import { ConvTemplateFormat } from './conv-template';
import {
  describeTokenizer,
  type PostProcessor,
  parseTokenizerJson,
  type TokenizerJson,
  type TokenSpelling,
  tokenSpelling,
} from './tokenizer-json';
import { loadWasmTokenizer, type WasmTokenizer } from './wasm';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Values a chat template may read besides the messages (`enable_thinking`, `tools`...). */
export type TemplateVariables = Record<string, unknown>;

export interface TokenizerConfig {
  chat_template?: string | { name: string; template: string }[];
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  add_bos_token?: boolean;
}

/** The chat template as a file of its own, beside tokenizer_config.json. */
const TEMPLATE_FILE = 'chat_template.jinja';

/** A file the folder may not have: its bytes, or undefined where it is missing. */
async function readOptional(source: ModelSource, file: string): Promise<Uint8Array | undefined> {
  try {
    return await source.read(file);
  } catch (error) {
    if ((error as Error).name === 'ModelFileMissingError') return undefined;
    throw error;
  }
}

/** Marks a special token's text inside message content while the template renders (private-use characters). */
const LITERAL = (index: number) => `\uE000tandem:${index}\uE001`;
const LITERAL_PATTERN = /\uE000tandem:(\d+)\uE001/;

export class TextTokenizer {
  /** The folder's Jinja chat template, else an MLC folder's conversation template. */
  private readonly template: ChatTemplate | ConvTemplateFormat | undefined;
  /** Ids of the special tokens (added tokens marked special): control tokens, never shown. */
  readonly specialIds: ReadonlySet<number>;
  private readonly specialPattern: RegExp | undefined;
  /** Ids the post-processor puts before and after a single sequence. */
  private readonly frame: { before: number[]; after: number[] };
  /** How the token strings spell text (grammar matching needs it: sampling/grammar.ts). */
  readonly spelling: TokenSpelling;

  private constructor(
    private readonly wasm: WasmTokenizer,
    private readonly config: TokenizerConfig,
    json: TokenizerJson,
    private readonly source: string,
    conv?: ConvTemplate,
    templateFile = 'tokenizer_config.json',
  ) {
    const chat = Array.isArray(config.chat_template)
      ? config.chat_template.find((t) => t.name === 'default')?.template
      : config.chat_template;
    try {
      this.template = chat
        ? new ChatTemplate(chat)
        : conv
          ? new ConvTemplateFormat(conv, (id) => this.wasm.idToToken(id))
          : undefined;
    } catch (cause) {
      throw new ChatTemplateError(`${source}/${templateFile}: ${(cause as Error).message}`, { cause });
    }
    const special = (json.added_tokens ?? []).filter((t) => t.special);
    this.specialIds = new Set(special.map((t) => t.id));
    const texts = special.map((t) => t.content).sort((a, b) => b.length - a.length);
    this.specialPattern = texts.length > 0 ? new RegExp(texts.map(escapeRegExp).join('|'), 'g') : undefined;
    this.frame = singleFrame(json.post_processor ?? undefined) ?? this.bosFrame();
    this.spelling = tokenSpelling(json);
  }

  /** `conv`: an MLC folder's conversation template, used when tokenizer_config.json has no chat template. */
  static async load(source: ModelSource, conv?: ConvTemplate): Promise<TextTokenizer> {
    const [bytes, config, templateFile] = await Promise.all([
      source.read('tokenizer.json').catch((cause) => {
        throw new TokenizerError(`${source.name}: tokenizer.json is missing: ${(cause as Error).message}`, { cause });
      }),
      readJson(source, 'tokenizer_config.json', TokenizerError).catch((cause) => {
        if ((cause as Error).name === 'TokenizerError') throw cause;
        return {}; // optional: without it there is no chat template, and no BOS/EOS names
      }) as Promise<TokenizerConfig>,
      readOptional(source, TEMPLATE_FILE),
    ]);
    if (templateFile === undefined) return TextTokenizer.fromFiles(bytes, config, source.name, conv);
    const template = new TextDecoder().decode(templateFile);
    return TextTokenizer.fromFiles(bytes, { ...config, chat_template: template }, source.name, conv, TEMPLATE_FILE);
  }

  /**
   * A tokenizer from the contents of tokenizer.json and tokenizer_config.json, wherever they
   * came from (a folder, or a GGUF file's metadata: gguf-tokenizer.ts); `where` names the model.
   */
  static async fromFiles(
    bytes: Uint8Array,
    config: TokenizerConfig,
    where: string,
    conv?: ConvTemplate,
    templateFile?: string,
  ): Promise<TextTokenizer> {
    // The wasm library aborts on a file it cannot read with no message: the shape is checked first.
    const json = parseTokenizerJson(bytes, `${where}/tokenizer.json`);
    let wasm: WasmTokenizer;
    try {
      wasm = await loadWasmTokenizer(bytes.slice().buffer);
    } catch (cause) {
      throw new TokenizerError(
        `${where}/tokenizer.json could not be read by the tokenizers library (${describeTokenizer(json)}): ` +
          'a component type or option it does not know, or a field of the wrong type.',
        { cause },
      );
    }
    return new TextTokenizer(wasm, config, json, where, conv, templateFile);
  }

  /** Ids of `text`; special tokens written in the text (e.g. <|im_start|>) become their ids. */
  encode(text: string): number[] {
    return Array.from(this.wasm.encode(text));
  }

  /**
   * Ids of `text` read as plain text: wherever a special token's string occurs, the text is cut
   * after its first character, so no control token can come out of it.
   */
  encodeLiteral(text: string): number[] {
    const ids: number[] = [];
    let rest = text;
    while (rest.length > 0) {
      const at = this.specialPattern ? rest.search(this.specialPattern) : -1;
      const cut = at < 0 ? rest.length : at + 1;
      ids.push(...this.encode(rest.slice(0, cut)));
      rest = rest.slice(cut);
    }
    return ids;
  }

  /** The text of `ids`; with `skipSpecial`, special tokens leave no trace (what a reader is shown). */
  decode(ids: ArrayLike<number>, options: { skipSpecial?: boolean } = {}): string {
    const kept = options.skipSpecial ? Array.from(ids).filter((id) => !this.specialIds.has(id)) : ids;
    return this.wasm.decode(Int32Array.from(kept));
  }

  /** Number of tokens the tokenizer defines (special tokens included); a model may pad beyond it. */
  get vocabSize(): number {
    return this.wasm.getVocabSize();
  }

  idToToken(id: number): string {
    return this.wasm.idToToken(id);
  }

  /**
   * Every token's string by id, as the vocabulary spells it (`spelling`), special tokens as ''
   * (they spell no text: a grammar never matches them).
   */
  tokenTable(): string[] {
    return Array.from({ length: this.vocabSize }, (_, id) => (this.specialIds.has(id) ? '' : this.idToToken(id)));
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

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /**
   * The prompt text for `messages`, ending with the assistant's turn opened when asked.
   * `variables` reach the template beside the messages (Qwen3's `enable_thinking`).
   */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true, variables: TemplateVariables = {}): string {
    const template = this.template;
    if (!template) throw new ChatTemplateError(`${this.source}: tokenizer_config.json has no chat template`);
    const render = (chat: ChatMessage[]) =>
      template.render({
        ...variables,
        messages: chat,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.bosToken ?? '',
        eos_token: this.eosToken ?? '',
      });
    try {
      try {
        return render(messages);
      } catch (refusal) {
        // Gemma 2's template (and Gemma's, Mistral v0.1's) refuses a system message: it goes where
        // Gemma 3's template puts it, at the head of the first user message, a blank line after it.
        if (!(refusal instanceof ChatTemplateRefusal) || messages[0]?.role !== 'system') throw refusal;
        return render(systemInFirstUserMessage(messages));
      }
    } catch (cause) {
      throw new ChatTemplateError(`${this.source}: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * Prompt ids for `messages` through the chat template, the content of every message read as
   * plain text. Special-token strings in content are swapped for placeholders the template
   * passes through untouched; the rendered text is encoded as the Hugging Face tokenizer
   * encodes it, and each placeholder as its literal text. Content without such strings gives
   * exactly the ids of encoding the rendered template.
   */
  encodeChat(messages: ChatMessage[], addGenerationPrompt = true, variables: TemplateVariables = {}): number[] {
    const literals: string[] = [];
    const withPlaceholders = (content: string) =>
      this.specialPattern
        ? content.replace(this.specialPattern, (marker) => LITERAL(literals.push(marker) - 1))
        : content;
    const text = this.applyChatTemplate(
      messages.map((m) => ({ ...m, content: withPlaceholders(m.content) })),
      addGenerationPrompt,
      variables,
    );
    const pieces = text.split(LITERAL_PATTERN); // text, literal index, text, literal index, ...
    const ids = pieces.flatMap((piece, i) => {
      if (i % 2 === 0) return piece ? this.encode(piece) : [];
      return this.encodeLiteral(literals[Number(piece)] ?? '');
    });
    return this.framed(ids);
  }

  /** Prompt ids for raw `text` (no chat template), framed as the Hugging Face tokenizer frames them. */
  encodePrompt(text: string): number[] {
    return this.framed(this.encode(text));
  }

  dispose(): void {
    this.wasm.dispose();
  }

  /** `ids` with the post-processor's tokens around them; a frame the text already has is not added twice. */
  private framed(ids: number[]): number[] {
    const { before, after } = this.frame;
    const hasBefore = before.length > 0 && before.every((id, i) => ids[i] === id);
    const hasAfter = after.length > 0 && after.every((id, i) => ids[ids.length - after.length + i] === id);
    return [...(hasBefore ? [] : before), ...ids, ...(hasAfter ? [] : after)];
  }

  /** Without a post-processor template: BOS first when tokenizer_config.json's add_bos_token says so. */
  private bosFrame(): { before: number[]; after: number[] } {
    const bos = this.bosToken === undefined ? undefined : this.tokenId(this.bosToken);
    return { before: this.config.add_bos_token === true && bos !== undefined ? [bos] : [], after: [] };
  }
}

/**
 * The ids a TemplateProcessing post-processor (alone or inside a Sequence) puts before and after
 * a single sequence: its `single` template is special tokens around `$A`.
 */
function singleFrame(processor: PostProcessor | undefined): { before: number[]; after: number[] } | undefined {
  if (!processor) return undefined;
  if (processor.type === 'Sequence') {
    for (const inner of processor.processors ?? []) {
      const frame = singleFrame(inner);
      if (frame) return frame;
    }
    return undefined;
  }
  if (processor.type !== 'TemplateProcessing' || !processor.single) return undefined;
  const frame = { before: [] as number[], after: [] as number[] };
  let seenSequence = false;
  for (const piece of processor.single) {
    if (piece.Sequence) seenSequence = true;
    else if (piece.SpecialToken) {
      const ids = processor.special_tokens?.[piece.SpecialToken.id]?.ids ?? [];
      (seenSequence ? frame.after : frame.before).push(...ids);
    }
  }
  return frame;
}

function tokenText(token: string | { content: string } | null | undefined): string | undefined {
  if (token == null) return undefined;
  return typeof token === 'string' ? token : token.content;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `messages` with the leading system message moved into the first user message (or made one). */
function systemInFirstUserMessage([system, ...rest]: ChatMessage[]): ChatMessage[] {
  const first = rest.findIndex((m) => m.role === 'user');
  if (first < 0) return [{ role: 'user', content: system.content }, ...rest];
  return rest.map((m, i) => (i === first ? { ...m, content: `${system.content}\n\n${m.content}` } : m));
}
