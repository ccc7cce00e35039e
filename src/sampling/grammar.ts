/**
 * Constrained decoding: web-llm's `response_format` (any JSON, a JSON schema, an EBNF grammar or
 * a structural tag) as a mask over each row of logits. xgrammar compiles the format against the
 * vocabulary once (cached per format) and, as tokens are accepted, says which tokens may come
 * next: a bitmask, bit t of word t >> 5 set where token t is allowed (token-mask.ts applies it,
 * on the CPU or where the logits are, on the GPU).
 *
 * Speculative decoding stays exact under a mask: the row after draft i is masked by the state
 * after drafts 0..i-1 (the matcher walks the drafts, then rolls back), so each row is the one
 * plain constrained decoding would see at that point; a draft the grammar forbids is rejected
 * like any draft the target does not choose.
 */

import type { ResponseFormat } from '@mlc-ai/web-llm';
import type {
  CompiledGrammar as Compiled,
  GrammarCompiler as Compiler,
  GrammarMatcher as Matcher,
} from '@mlc-ai/web-xgrammar';
import { GrammarMatcherInitError } from '../errors';
import type { TokenSpelling } from '../tokenizer/tokenizer-json';
import { maskWords } from './token-mask';
import { loadXGrammar } from './xgrammar';

/** The vocabulary a grammar is compiled against. */
export interface GrammarVocabulary {
  /** Every token's string by id as the vocabulary spells it; '' for special tokens. */
  table: string[];
  spelling: TokenSpelling;
  /** Rows of the model's logits (the table may be shorter: padding rows are never allowed). */
  vocabSize: number;
  /** Ids that end a reply: allowed where the grammar is complete. */
  stopTokens: number[];
}

/** A grammar's state over one reply. */
export interface TokenConstraint {
  /** The tokens the grammar allows next: a mask of `maskWords(vocabSize)` words (token-mask.ts), not to be changed. */
  allowed(): Promise<Uint32Array<ArrayBuffer>>;
  /** Advances past `token`; false, and nothing changed, where the grammar does not allow it. */
  accept(token: number): boolean;
  /** Takes back the last `tokens` accepted. */
  rollBack(tokens: number): void;
  /** The grammar is complete and a stop token was accepted: nothing may follow. Still read after `dispose`. */
  readonly terminated: boolean;
  dispose(): void;
}

/** Whether `format` constrains the reply (`text`, or none, does not). */
export function isConstrained(format: ResponseFormat | undefined): format is ResponseFormat {
  return format?.type === 'json_object' || format?.type === 'grammar' || format?.type === 'structural_tag';
}

/**
 * JSON is compiled with fixed whitespace, on one line with `", "` and `": "` between items
 * (xgrammar's `any_whitespace` off, no indent): where any whitespace is allowed, small models
 * fill the reply with newlines and never close the object, and every space is a token spent.
 */
const ONE_LINE = -1;
const ANY_OBJECT = JSON.stringify({ type: 'object' });

/** Compiled grammars kept per vocabulary: a compile costs milliseconds to seconds, a request reuses it. */
const KEPT_GRAMMARS = 8;

/** The grammars of one model's vocabulary: each format compiled once, a matcher per reply. */
export class ResponseGrammars {
  private compiler: Promise<Compiler> | undefined;
  private readonly compiled = new Map<string, Promise<Compiled>>(); // least recently used first
  private disposed = false;

  constructor(private readonly vocabulary: () => GrammarVocabulary) {}

  /** A fresh constraint for one reply in `format`; a format that does not compile is a GrammarMatcherInitError. */
  async constraint(format: ResponseFormat): Promise<TokenConstraint> {
    const xgrammar = await loadXGrammar().catch((cause: Error) => {
      // Offline, in a page that has never loaded it: the library is fetched when first used.
      throw new GrammarMatcherInitError(
        format.type ?? 'json_object',
        `the grammar library (@mlc-ai/web-xgrammar) did not load: ${cause.message}`,
        { cause },
      );
    });
    const compiled = await this.compile(format);
    const matcher = await xgrammar.GrammarMatcher.createGrammarMatcher(compiled);
    return new MatcherConstraint(matcher, this.vocabulary().vocabSize);
  }

  dispose(): void {
    this.disposed = true;
    for (const grammar of this.compiled.values()) grammar.then((g) => g.dispose()).catch(() => undefined);
    this.compiled.clear();
    this.compiler?.then((c) => c.dispose()).catch(() => undefined);
  }

  private compile(format: ResponseFormat): Promise<Compiled> {
    if (this.disposed) throw new Error('the grammars of an unloaded model');
    const key = JSON.stringify([format.type, format.schema, format.grammar, format.structural_tag]);
    const kept = this.compiled.get(key);
    if (kept) {
      this.compiled.delete(key); // to the back: used most recently
      this.compiled.set(key, kept);
      return kept;
    }
    const compiling = this.compileNew(format);
    this.compiled.set(key, compiling);
    compiling.catch(() => this.compiled.delete(key));
    if (this.compiled.size > KEPT_GRAMMARS) {
      const [oldest, grammar] = this.compiled.entries().next().value as [string, Promise<Compiled>];
      this.compiled.delete(oldest);
      grammar.then((g) => g.dispose()).catch(() => undefined);
    }
    return compiling;
  }

  private async compileNew(format: ResponseFormat): Promise<Compiled> {
    const compiler = await this.compilerOnce();
    const type = format.type ?? 'json_object';
    if (type === 'json_object' && format.schema != null) {
      try {
        JSON.parse(format.schema);
      } catch (cause) {
        throw new GrammarMatcherInitError(type, `the schema is not valid JSON (${(cause as Error).message}).`, {
          cause,
        });
      }
    }
    try {
      if (type === 'json_object') {
        // Any object where no schema is given (OpenAI's JSON mode), its properties left open.
        const schema = format.schema ?? ANY_OBJECT;
        return await compiler.compileJSONSchema(schema, false, ONE_LINE, undefined, format.schema != null);
      }
      if (type === 'grammar') return await compiler.compileGrammar(format.grammar ?? '');
      return await compiler.compileStructuralTag(format.structural_tag ?? '');
    } catch (cause) {
      // xgrammar's WebAssembly aborts on what it cannot compile; its reason goes to the console.
      const what = type === 'grammar' ? 'EBNF grammar' : type === 'json_object' ? 'JSON schema' : 'structural tag';
      throw new GrammarMatcherInitError(
        type,
        `xgrammar cannot compile this ${what} (its reason is in the console): ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  private compilerOnce(): Promise<Compiler> {
    this.compiler ??= (async () => {
      const xgrammar = await loadXGrammar();
      const { table, spelling, vocabSize, stopTokens } = this.vocabulary();
      const info = await xgrammar.TokenizerInfo.createTokenizerInfo(
        table,
        spelling.type,
        spelling.prependSpace,
        vocabSize,
        stopTokens,
      );
      return xgrammar.GrammarCompiler.createGrammarCompiler(info);
    })();
    return this.compiler;
  }
}

/**
 * A reply's matcher. The mask of its present state is kept until the state changes: a step asks
 * for it several times (the forced tokens, the draft, the verify pass's first row).
 */
class MatcherConstraint implements TokenConstraint {
  private ended: boolean | undefined; // terminated, as it was when disposed
  private present: Uint32Array<ArrayBuffer> | undefined; // the mask of the present state, once read

  constructor(
    private readonly matcher: Matcher,
    private readonly vocabSize: number,
  ) {}

  async allowed(): Promise<Uint32Array<ArrayBuffer>> {
    if (this.present) return this.present;
    // xgrammar's words are as many as its vocabulary (the model's) needs; read as unsigned.
    const bits = await this.matcher.getNextTokenBitmask();
    const mask = new Uint32Array(maskWords(this.vocabSize));
    mask.set(new Uint32Array(bits.buffer, bits.byteOffset, Math.min(bits.length, mask.length)));
    this.present = mask;
    return mask;
  }

  accept(token: number): boolean {
    const accepted = this.matcher.acceptToken(token);
    if (accepted) this.present = undefined;
    return accepted;
  }

  rollBack(tokens: number): void {
    if (tokens === 0) return;
    this.matcher.rollBack(tokens);
    this.present = undefined;
  }

  get terminated(): boolean {
    return this.ended ?? this.matcher.isTerminated();
  }

  dispose(): void {
    if (this.ended !== undefined) return;
    this.ended = this.matcher.isTerminated();
    this.matcher.dispose();
  }
}
