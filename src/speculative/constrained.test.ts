/**
 * Speculative decoding under a grammar (`response_format`) on the reference models: greedy
 * output equal to plain constrained decoding token for token, with a grammar of our own (which
 * tokens may follow which) and with xgrammar's JSON schemas over the fixture's vocabulary,
 * drafted by the draft model, prompt lookup or the EAGLE head (under the masks through d2t); and
 * sampled output with exactly the masked target's distribution. Each row of a verify pass must
 * be masked by the grammar's state after the drafts before it: a pass masked by any other
 * state fails these.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { type EagleTarget, referenceEagle } from '../model/eagle';
import { randomModel } from '../model/random-weights';
import type { ReferenceSequence } from '../ref/model';
import { ReferenceModel } from '../ref/model';
import { ResponseGrammars, type TokenConstraint } from '../sampling/grammar';
import { argmax, distribution, GREEDY, type SamplingParams } from '../sampling/sampling';
import { maskRows, maskWords } from '../sampling/token-mask';
import { FIXTURES, loadEagleFixture, loadFixture, loadReferencePair } from '../testing/fixtures';
import { chiSquare, countSampledTokens, TINY_SHAPE } from '../testing/spec';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import type { DraftLength } from './draft-length';
import { type DraftSource, draftSource, noDraft } from './draft-source';
import { ModelDraftSource } from './model-draft';
import { PromptLookupSource } from './prompt-lookup';
import { speculativeGenerate } from './speculative';
import { speculativeStats } from './stats';

/**
 * A grammar of adjacent pairs: token t may follow token p unless (t + p) is a multiple of
 * `modulus`; the first token may be anything. It never ends (replies end at max_tokens).
 * `forcing`: after a multiple of 5 only the next token (mod the vocabulary) may follow, a token
 * the grammar allows alone.
 */
class PairGrammar implements TokenConstraint {
  private readonly history: number[] = [];
  readonly terminated = false;

  constructor(
    private readonly modulus: number,
    private readonly vocabSize: number,
    private readonly forcing = false,
  ) {}

  allows(token: number, after = this.history.at(-1)): boolean {
    if (after === undefined) return true;
    if (this.forcing && after % 5 === 0) return token === (after + 1) % this.vocabSize;
    return (token + after) % this.modulus !== 0;
  }

  async allowed(): Promise<Uint32Array<ArrayBuffer>> {
    const mask = new Uint32Array(maskWords(this.vocabSize));
    for (let t = 0; t < this.vocabSize; t++) if (this.allows(t)) mask[t >> 5] |= 1 << (t & 31);
    return mask;
  }

  accept(token: number): boolean {
    if (!this.allows(token)) return false;
    this.history.push(token);
    return true;
  }

  rollBack(tokens: number): void {
    this.history.length -= tokens;
  }

  dispose(): void {}
}

const TOKENS = 40;

/** A small object the fixture (a storyteller) fills in a few dozen tokens. */
const STORY_FORMAT = {
  type: 'json_object',
  schema: JSON.stringify({
    type: 'object',
    properties: { name: { type: 'string', maxLength: 12 }, happy: { type: 'boolean' } },
    required: ['name', 'happy'],
    additionalProperties: false,
  }),
} as const;

let target: ReferenceModel;
/** The pair grammar over the fixture target's vocabulary. */
const pairs = (modulus: number) => new PairGrammar(modulus, target.config.vocabSize);
let draft: ReferenceModel;
let tokenizer: TextTokenizer;
let stopTokens: number[];
let prompts: number[][];
beforeAll(async () => {
  ({ target, draft, tokenizer, stopTokenIds: stopTokens } = await loadReferencePair());
  const chat = (user: string) =>
    tokenizer.encodeChat([
      { role: 'system', content: 'You tell short, happy stories for children.' },
      { role: 'user', content: user },
    ]);
  prompts = [
    chat('Can you tell me a story about Zoe the turtle?'),
    chat('Please write a story about a bear called Max.'),
  ];
});

/** Response formats compiled over the fixture's vocabulary. */
const fixtureGrammars = () =>
  new ResponseGrammars(() => ({
    table: tokenizer.tokenTable(),
    spelling: tokenizer.spelling,
    vocabSize: target.config.vocabSize,
    stopTokens,
  }));

async function constrained(
  prompt: number[],
  source: DraftSource,
  draftLength: DraftLength,
  constraint: TokenConstraint,
  maxTokens = TOKENS,
) {
  const { tokens, counts } = await speculativeGenerate(target, target.createSequence(256), source, prompt, {
    maxTokens,
    sampling: GREEDY,
    stopTokens,
    draftLength,
    fallback: false,
    constraint,
  });
  return { tokens, stats: speculativeStats(counts) };
}

describe('greedy speculative decoding under a grammar equals plain constrained decoding', () => {
  const lengths: DraftLength[] = [1, 3, 6, 'auto'];

  it.each(lengths)('with the draft model and prompt lookup, k = %s, under a grammar of adjacent pairs', async (k) => {
    for (const prompt of prompts) {
      const { tokens: expected } = await constrained(prompt, noDraft, k, pairs(3));
      const free = await constrained(prompt, noDraft, k, pairs(Number.POSITIVE_INFINITY));
      expect(expected).not.toEqual(free.tokens); // the grammar changed the reply
      for (let i = 1; i < expected.length; i++) expect((expected[i] + expected[i - 1]) % 3).not.toBe(0);
      const model = await constrained(prompt, new ModelDraftSource(draft, draft.createSequence(256)), k, pairs(3));
      expect(model.tokens).toEqual(expected);
      expect(model.stats.drafted).toBeGreaterThan(0);
      expect(model.stats.accepted).toBeGreaterThan(0);
      expect(model.stats.accepted).toBeLessThan(model.stats.drafted); // drafts the grammar forbids were rejected
      const lookup = await constrained(prompt, new PromptLookupSource(), k, pairs(3));
      expect(lookup.tokens).toEqual(expected);
    }
  });

  it("with a JSON schema compiled by xgrammar over the fixture's vocabulary: a reply that parses and obeys it", async () => {
    const grammars = fixtureGrammars();
    const format = STORY_FORMAT;
    for (const prompt of prompts) {
      const plainConstraint = await grammars.constraint(format);
      const { tokens: expected } = await constrained(prompt, noDraft, 4, plainConstraint, 60);
      expect(plainConstraint.terminated).toBe(true); // the object closed and a stop token followed
      expect(stopTokens).toContain(expected.at(-1));
      const reply = JSON.parse(tokenizer.decode(expected, { skipSpecial: true }));
      expect(Object.keys(reply).sort()).toEqual(['happy', 'name']);
      expect(typeof reply.name).toBe('string');
      expect(typeof reply.happy).toBe('boolean');
      for (const source of [new ModelDraftSource(draft, draft.createSequence(256)), new PromptLookupSource()]) {
        const { tokens, stats } = await constrained(prompt, source, 4, await grammars.constraint(format), 60);
        expect(tokens).toEqual(expected);
        // The draft model drafts under the schema as well; drafting freely, it proposes prose.
        if (source.kind === 'model') expect(stats.acceptance_rate).toBeGreaterThan(0.3);
      }
    }
    grammars.dispose();
  });
});

describe('tokens a grammar allows alone', () => {
  it('are verified together and drafted without forwards: constrained decoding token for token, in fewer passes', async () => {
    const grammars = fixtureGrammars();
    const vocab = target.config.vocabSize;
    for (const prompt of prompts) {
      // Token by token: each row masked by the grammar, its argmax taken.
      const constraint = await grammars.constraint(STORY_FORMAT);
      const sequence = target.createSequence(256);
      const expected: number[] = [];
      let pending = prompt;
      while (expected.length < 60 && !constraint.terminated) {
        const row = maskRows(await target.forwardLast(sequence, pending), await constraint.allowed(), vocab);
        expected.push(argmax(row));
        expect(constraint.accept(argmax(row))).toBe(true);
        pending = [argmax(row)];
      }
      constraint.dispose();
      const { tokens, stats } = await constrained(prompt, noDraft, 4, await grammars.constraint(STORY_FORMAT), 60);
      expect(tokens).toEqual(expected);
      // The keys and punctuation: a third of the reply or more, each pass verifying a run of them.
      expect(stats.forced_tokens).toBeGreaterThan(tokens.length / 3);
      expect(stats.target_forwards).toBe(tokens.length - stats.forced_tokens);
      // The draft model drafts such tokens inside its drafts without a forward of its own.
      const source = new ModelDraftSource(draft, draft.createSequence(256));
      const drafted = await constrained(prompt, source, 4, await grammars.constraint(STORY_FORMAT), 60);
      expect(drafted.tokens).toEqual(expected);
      expect(drafted.stats.draft_forwards).toBeLessThan(drafted.stats.drafted);
    }
    grammars.dispose();
  });
});

describe('greedy drafting with an EAGLE head under a grammar', () => {
  let eagle: EagleTarget<ReferenceSequence, ReferenceSequence>;
  beforeAll(async () => {
    const folder = await loadFixture(FIXTURES.target);
    eagle = referenceEagle(folder, await loadEagleFixture(folder));
    folder.tokenizer.dispose();
  });

  /** Generates with the head drafting (k = 4) under `constraint`. */
  const withHead = async (prompt: number[], constraint: TokenConstraint, maxTokens = TOKENS) => {
    const sequence = eagle.createSequence(256);
    const source = draftSource('eagle', undefined, { model: eagle, sequence });
    const options = { maxTokens, sampling: GREEDY, stopTokens, draftLength: 4, fallback: false, constraint };
    const { tokens, counts } = await speculativeGenerate(eagle, sequence, source, prompt, options);
    return { tokens, stats: speculativeStats(counts) };
  };

  it('equals plain constrained decoding, the head drafting under the masks read through d2t', async () => {
    for (const prompt of prompts) {
      const { tokens: expected } = await constrained(prompt, noDraft, 4, pairs(3));
      const { tokens, stats } = await withHead(prompt, pairs(3));
      expect(tokens).toEqual(expected);
      expect(stats.drafted).toBeGreaterThan(0);
    }
  });

  it('under a JSON schema: a reply equal to plain constrained decoding, in fewer target passes', async () => {
    const grammars = fixtureGrammars();
    for (const prompt of prompts) {
      const plain = await constrained(prompt, noDraft, 4, await grammars.constraint(STORY_FORMAT), 60);
      const { tokens, stats } = await withHead(prompt, await grammars.constraint(STORY_FORMAT), 60);
      expect(tokens).toEqual(plain.tokens);
      // The grammar's forced tokens (keys, punctuation) need no drafts; the head drafts the rest
      // (the name, the value), some of which the target accepts.
      expect(stats.accepted).toBeGreaterThan(0);
      expect(stats.target_forwards).toBeLessThan(plain.stats.target_forwards);
    }
    grammars.dispose();
  });
});

describe('speculative sampling under a grammar keeps the masked target distribution', () => {
  const prompt = [0, 3];
  const sampling: SamplingParams = { temperature: 1, topK: 0, topP: 1 };
  const modulus = 4; // on six tokens: each token rules out one or two successors

  /** The exact marginal of output token `at` under `model` with `grammar`'s masks, every path enumerated. */
  const exactMarginal = (model: ReferenceModel, grammar: PairGrammar, at: number) => {
    const vocab = model.config.vocabSize;
    const marginal = new Float64Array(vocab);
    const walk = (context: number[], weight: number, depth: number) => {
      const row = model.forwardSync(model.createSequence(16), context).slice(-vocab);
      const last = depth === 0 ? undefined : context.at(-1);
      for (let t = 0; t < vocab; t++) if (!grammar.allows(t, last)) row[t] = Number.NEGATIVE_INFINITY;
      const p = distribution(row, sampling);
      if (depth === at) {
        for (let i = 0; i < vocab; i++) marginal[i] += weight * p[i];
        return;
      }
      for (let i = 0; i < vocab; i++) if (p[i] > 0) walk([...context, i], weight * p[i], depth + 1);
    };
    walk(prompt, 1, 0);
    return marginal;
  };

  it.each([
    ['', false],
    [', tokens the grammar allows alone verified without drafts', true],
  ])(
    'tokens 3 and 4 (from a speculative step with the draft model) match the exact masked marginals%s',
    async (_, forcing) => {
      const tiny = (seed: number) => {
        const { config, weights } = randomModel(TINY_SHAPE, seed);
        return new ReferenceModel(config, weights);
      };
      const t = tiny(1);
      const d = tiny(2);
      const { counts, acceptance, forced } = await countSampledTokens(3000, 6, (seed) =>
        speculativeGenerate(t, t.createSequence(16), new ModelDraftSource(d, d.createSequence(16)), prompt, {
          maxTokens: 5,
          sampling,
          seed,
          draftLength: 3,
          fallback: false,
          constraint: new PairGrammar(modulus, t.config.vocabSize, forcing),
        }),
      );
      expect(acceptance).toBeGreaterThan(0.1);
      expect(acceptance).toBeLessThan(0.9);
      expect(forced > 0).toBe(forcing);
      // 5 degrees of freedom: P(chi2 > 20.5) = 0.001; the seeds are fixed, so this is deterministic.
      // A token the mask rules out has probability 0 in both: it must never be drawn.
      const expect3 = exactMarginal(t, new PairGrammar(modulus, t.config.vocabSize, forcing), 2);
      const expect4 = exactMarginal(t, new PairGrammar(modulus, t.config.vocabSize, forcing), 3);
      const live = (counts: number[], p: Float64Array) =>
        [counts.filter((_, i) => p[i] > 0), p.filter((x) => x > 0)] as const;
      expect(counts[0].filter((_, i) => expect3[i] === 0).every((c) => c === 0)).toBe(true);
      expect(counts[1].filter((_, i) => expect4[i] === 0).every((c) => c === 0)).toBe(true);
      expect(chiSquare(...live(counts[0], expect3))).toBeLessThan(20.5);
      expect(chiSquare(...live(counts[1], expect4))).toBeLessThan(20.5);
    },
  );
});
