/**
 * Qwen3.5's multi-token prediction layer as a draft head on the GPU (scripts/fixtures/mtp.py's,
 * in the Qwen3.5 fixture's own checkpoint): its logits against the reference model's at every
 * pair, its catch-up in one pass equal to one pair at a time bit for bit, PyTorch's drafts (each
 * after the first reads the head's state after its final norm), and greedy speculation with it
 * on the device step, one readback a step, equal to plain greedy over a target whose Gated
 * DeltaNet layers take back rejected drafts from their window of states.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { CachedGenerator } from '../cache/cached-generator';
import type { Gpu } from '../gpu/device';
import { directorySource } from '../loader/node-source';
import { type EagleTarget, referenceEagle } from '../model/eagle';
import { generate } from '../model/generate';
import type { GpuModel } from '../model/gpu-model';
import type { GpuSequence } from '../model/gpu-sequence';
import { destroyPair, loadPair, type ModelPair } from '../model/pair';
import type { ReferenceSequence } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import { FIXTURES, fixturePath, headAgainstReference, loadMtpFixture, loadMtpGolden } from '../testing/fixtures';
import { testGpu } from '../testing/gpu';
import { LEAN_GPU_PROFILE } from '../testing/profiles';
import { draftSource } from './draft-source';
import { EagleDraftSource } from './eagle-draft';
import { speculativeGenerate } from './speculative';

const QWEN35 = { target: directorySource(fixturePath(FIXTURES.qwen35)), draft: 'mtp' as const };
const greedyDraft = { minConfidence: 0, sampling: GREEDY, rng: null as never };

let gpu: Gpu;
let pair: ModelPair;
let model: EagleTarget<GpuSequence, GpuSequence>;
let reference: EagleTarget<ReferenceSequence, ReferenceSequence>;
beforeAll(async () => {
  gpu = await testGpu();
  pair = await loadPair(gpu, QWEN35, { maxContext: 256 });
  if (!pair.eagle) throw new Error('the pair has no MTP head');
  model = pair.eagle.model;
  const folder = await loadMtpFixture();
  reference = referenceEagle(folder, folder.mtpHead as NonNullable<typeof folder.mtpHead>);
  return () => {
    destroyPair(pair);
    folder.tokenizer.dispose();
  };
});

/** Greedy speculation with the head from each golden context equals plain greedy; readbacks counted. */
async function speculationMatchesPlain(eagle: EagleTarget<GpuSequence, GpuSequence>, k: number) {
  const target = eagle.target as GpuModel;
  const head = eagle.head as GpuModel;
  const golden = loadMtpGolden();
  for (const prompt of [golden.prompt, ...golden.drafts.map((d) => d.context)]) {
    const plain = eagle.target.createSequence(256);
    const expected = await generate(eagle.target, plain, prompt, { maxTokens: 40, sampling: GREEDY });
    const sequence = eagle.createSequence(256);
    const source = draftSource('eagle', undefined, { model: eagle, sequence });
    const before = target.readbacks + head.readbacks;
    const { tokens, counts } = await speculativeGenerate(eagle, sequence, source, prompt, {
      maxTokens: 40,
      sampling: GREEDY,
      draftLength: k,
      fallback: false,
    });
    expect(tokens).toEqual(expected);
    // One readback a target pass: the prompt's, a plain step or two (the first token's, and the
    // last when one token is left to make), and one a speculative step; none for a draft.
    expect(target.readbacks + head.readbacks - before).toBe(counts.targetForwards);
    expect(counts.targetForwards - counts.steps).toBeLessThanOrEqual(3);
    expect(counts.accepted[0]).toBeGreaterThan(0);
    for (const s of [plain, sequence]) s.release();
  }
}

describe("Qwen3.5's MTP layer on the GPU", () => {
  it("embeds with the model's table and projects with its LM head, not copies", () => {
    const head = pair.eagle?.head as GpuModel;
    expect(head.weights.embed).toBe(pair.target.model.weights.embed);
    expect(head.weights.lmHead).toBe(pair.target.model.weights.lmHead);
  });

  it("takes the state it feeds itself from the head's final norm: a draft step runs that norm once", async () => {
    const head = pair.eagle?.head as GpuModel;
    const sequence = head.createSequence(16);
    const { perLayer, total } = head.countDispatches(sequence, 1);
    sequence.release();
    // The embedding, the two input norms (one dispatch), fc; its layer; the final norm (whose
    // row is also the state), the LM head and the argmax (one dispatch over the fixture's 1,024
    // tokens).
    expect(total).toBe(3 + perLayer + 3);
  });

  it('gives the reference logits at every pair, and a catch-up in one pass gives the bits of one pair at a time', async () => {
    const { worst, scale, sameBits } = await headAgainstReference(model, reference, loadMtpGolden().prompt);
    // f32 throughout; the GPU sums in another order than the reference's float64.
    expect(worst).toBeLessThan(1e-3 * Math.max(1, scale));
    expect(sameBits).toBe(true);
  });

  it("drafts PyTorch's drafts", async () => {
    for (const { context, k, ids } of loadMtpGolden().drafts) {
      const sequence = model.createSequence(256);
      await model.greedy(sequence, context.slice(0, -1), 'last');
      expect((await new EagleDraftSource(model, sequence).propose(context, { k, ...greedyDraft })).tokens).toEqual(ids);
      sequence.release();
    }
  });

  it.each([3, 16])(
    'greedy speculation with it (k = %i) on the device step reads back once a step and equals plain greedy',
    async (k) => speculationMatchesPlain(model, k),
  );

  it('serves a follow-up and the questions after a warmed system prompt from the prefix cache, as fresh plain replies', async () => {
    const { tokenizer } = pair.target.folder;
    const options = { capacity: 256, budgetBytes: 64 << 20 };
    const request = (draft: 'eagle' | 'none') => ({
      maxTokens: 24,
      sampling: GREEDY,
      draft,
      draftLength: 3,
      fallback: false,
    });
    const fresh = async (prompt: number[]) =>
      (await new CachedGenerator(model.target, undefined, options).generate(prompt, request('none'))).tokens;
    const cached = new CachedGenerator(model, undefined, options);
    const first = [{ role: 'user' as const, content: 'Tell me a story about a brave fox named Leo.' }];
    const reply = await cached.generate(tokenizer.encodeChat(first), request('eagle'));
    expect(reply.tokens).toEqual(await fresh(tokenizer.encodeChat(first)));
    const followUp = tokenizer.encodeChat([
      ...first,
      { role: 'assistant', content: tokenizer.decode(reply.tokens) },
      { role: 'user', content: 'And then?' },
    ]);
    const hit = await cached.generate(followUp, request('eagle'));
    expect(hit.reused).toBeGreaterThan(20);
    expect(hit.tokens).toEqual(await fresh(followUp));
    expect(hit.counts.accepted[0]).toBeGreaterThan(0); // the head drafted, and was heard

    const system = { role: 'system' as const, content: 'You are a kind teacher who tells simple stories.' };
    const prefix = tokenizer.encodeChat([system], false);
    await cached.warm(prefix);
    for (const question of ['Tell me a story about a shy owl.', 'Can you tell me a story about Mia the duck?']) {
      const prompt = tokenizer.encodeChat([system, { role: 'user', content: question }]);
      const answer = await cached.generate(prompt, request('eagle'));
      expect(answer.reused).toBe(prefix.length);
      expect(answer.tokens).toEqual(await fresh(prompt));
    }
    cached.cache.clear();
  });

  it('lean GPU profile (norms folded into the projections): the same drafts, and speculation equal to plain greedy', async () => {
    const lean = await loadPair(gpu, QWEN35, { maxContext: 256, profile: LEAN_GPU_PROFILE, compile: 'on-first-use' });
    const eagle = lean.eagle?.model as EagleTarget<GpuSequence, GpuSequence>;
    for (const { context, k, ids } of loadMtpGolden().drafts) {
      const sequence = eagle.createSequence(256);
      await eagle.greedy(sequence, context.slice(0, -1), 'last');
      expect((await new EagleDraftSource(eagle, sequence).propose(context, { k, ...greedyDraft })).tokens).toEqual(ids);
      sequence.release();
    }
    await speculationMatchesPlain(eagle, 4);
    destroyPair(lean);
  }, 300_000);
});
