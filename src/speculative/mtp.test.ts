/**
 * Qwen3.5's multi-token prediction layer as a draft head, on the reference models: the loader
 * (the `mtp.` tensors read with the model's, checked against its config, taken out of its
 * weights; refused by name where a folder has none), the head against the PyTorch golden
 * outputs of scripts/fixtures/mtp.py, and greedy speculative decoding with it equal to plain
 * greedy decoding token for token, over a target whose Gated DeltaNet layers keep a state.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelFolder } from '../loader/model-folder';
import { loadModelFolder } from '../loader/model-folder';
import { directorySource } from '../loader/node-source';
import { parseSafetensors, tensorData } from '../loader/safetensors';
import { encodeSafetensors, type TensorToWrite } from '../loader/safetensors-writer';
import { memorySource } from '../loader/source';
import { type EagleTarget, referenceEagle } from '../model/eagle';
import { generate } from '../model/generate';
import { disposeFolders, readPair } from '../model/pair';
import type { ReferenceSequence } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import {
  FIXTURES,
  fixturePath,
  headGoldenError,
  loadFixture,
  loadMtpFixture,
  loadMtpGolden,
  QWEN35_GGUF_FIXTURE,
} from '../testing/fixtures';
import { draftSource } from './draft-source';
import { EagleDraftSource } from './eagle-draft';
import { speculativeGenerate } from './speculative';
import { speculativeStats } from './stats';

let folder: ModelFolder;
let model: EagleTarget<ReferenceSequence, ReferenceSequence>;
beforeAll(async () => {
  folder = await loadMtpFixture();
  if (!folder.mtpHead) throw new Error('the fixture was read without its MTP layer');
  model = referenceEagle(folder, folder.mtpHead);
  return () => folder.tokenizer.dispose();
});

/** The Qwen3.5 fixture's files, from memory, with `edit` applied to its config and tensors. */
function editedQwen35(edit: {
  config?: (text: Record<string, unknown>) => void;
  tensors?: (tensors: Record<string, TensorToWrite>) => void;
}) {
  const dir = fixturePath(FIXTURES.qwen35);
  const files: Record<string, string | Uint8Array> = {};
  for (const name of readdirSync(dir)) files[name] = readFileSync(join(dir, name));
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  edit.config?.(config.text_config);
  files['config.json'] = JSON.stringify(config);
  const file = parseSafetensors(readFileSync(join(dir, 'model.safetensors')));
  const tensors: Record<string, TensorToWrite> = {};
  for (const [tensor, info] of file.tensors)
    tensors[tensor] = { dtype: info.dtype, shape: info.shape, data: tensorData(file, info) };
  edit.tensors?.(tensors);
  files['model.safetensors'] = encodeSafetensors(tensors);
  return memorySource('edited-qwen35', files);
}

describe("loading a Qwen3.5 checkpoint's MTP layer", () => {
  it('reads it as a one-layer head: fc over the two norms, an attention layer, the final norm', () => {
    const head = folder.mtpHead;
    if (!head) throw new Error('no head');
    expect(head.layout).toBe('mtp');
    expect(head.config.hiddenInput).toBe('mtp');
    expect(head.config.numLayers).toBe(1);
    expect(head.config.layers[0].linear).toBeFalsy();
    expect(head.config.linearAttention).toBeUndefined();
    expect(head.config.attentionOutputGate).toBe(true);
    expect(head.weights.get('fc.weight')?.shape).toEqual([64, 128]);
    expect(head.weights.get('pre_fc_norm_embedding.weight')?.shape).toEqual([64]);
    expect(head.weights.get('pre_fc_norm_hidden.weight')?.shape).toEqual([64]);
    // Gated attention: each head's query rows, then its gate's.
    expect(head.weights.get('model.layers.0.self_attn.q_proj.weight')?.shape).toEqual([256, 64]);
    expect(head.weights.get('model.layers.0.self_attn.q_norm.weight')?.shape).toEqual([32]);
    expect(head.weights.get('model.norm.weight')).toBeDefined();
    expect(head.weights.get('model.embed_tokens.weight')).toBe(folder.weights.get('model.embed_tokens.weight'));
    expect(Array.from(head.draftToTarget)).toEqual(Array.from({ length: folder.config.vocabSize }, (_, i) => i));
  });

  it("leaves the model's weights and fingerprint as a load without it has them", async () => {
    const plain = await loadFixture(FIXTURES.qwen35);
    expect([...folder.weights.keys()].sort()).toEqual([...plain.weights.keys()].sort());
    expect(folder.fingerprint).toBe(plain.fingerprint);
    expect(plain.mtpHead).toBeUndefined();
    plain.tokenizer.dispose();
  });

  it("is the draft a pair reads for 'mtp'", async () => {
    const pair = await readPair({ target: directorySource(fixturePath(FIXTURES.qwen35)), draft: 'mtp' });
    expect(pair.head?.head.layout).toBe('mtp');
    expect(pair.head?.name).toContain('MTP');
    expect(pair.draft).toBeUndefined();
    disposeFolders(pair);
  });

  it('is refused by name where a folder has none: no layer in the config, a conversion, tensors left out', async () => {
    const mtp = { mtp: true };
    await expect(loadModelFolder(directorySource(fixturePath(FIXTURES.target)), undefined, mtp)).rejects.toMatchObject({
      name: 'NoMtpLayerError',
      message: expect.stringContaining('no multi-token prediction layer'),
    });
    await expect(
      loadModelFolder(directorySource(fixturePath(FIXTURES.qwen35Q4)), undefined, mtp),
    ).rejects.toMatchObject({ name: 'NoMtpLayerError', message: expect.stringContaining('an MLC folder') });
    const [gguf, file] = QWEN35_GGUF_FIXTURE.split('/');
    await expect(
      loadModelFolder({ ...directorySource(fixturePath(gguf)), file }, undefined, mtp),
    ).rejects.toMatchObject({ name: 'NoMtpLayerError', message: expect.stringContaining('a GGUF file') });
    const stripped = editedQwen35({
      tensors: (t) => {
        for (const name of Object.keys(t)) if (name.startsWith('mtp.')) delete t[name];
      },
    });
    await expect(loadModelFolder(stripped, undefined, mtp)).rejects.toMatchObject({
      name: 'NoMtpLayerError',
      message: expect.stringContaining('mtp.'),
    });
  });

  it('names a tensor whose shape disagrees, and refuses layouts it does not run', async () => {
    const mtp = { mtp: true };
    const narrow = editedQwen35({
      tensors: (t) => {
        t['mtp.fc.weight'] = { dtype: 'F32', shape: [64, 64], data: new Float32Array(64 * 64) };
      },
    });
    await expect(loadModelFolder(narrow, undefined, mtp)).rejects.toMatchObject({
      name: 'TensorShapeError',
      message: expect.stringContaining('mtp.fc.weight'),
    });
    const two = editedQwen35({ config: (c) => (c.mtp_num_hidden_layers = 2) });
    await expect(loadModelFolder(two, undefined, mtp)).rejects.toMatchObject({ name: 'UnsupportedArchitectureError' });
    const own = editedQwen35({ config: (c) => (c.mtp_use_dedicated_embeddings = true) });
    await expect(loadModelFolder(own, undefined, mtp)).rejects.toMatchObject({ name: 'UnsupportedArchitectureError' });
  });
});

describe('an MTP head on the reference model', () => {
  it("matches PyTorch's logits at every real pair (the model's normed state at t, token at t + 1)", async () => {
    expect(await headGoldenError(model, loadMtpGolden())).toBeLessThan(2e-4);
  });

  it("drafts PyTorch's drafts, feeding itself its state after its final norm", async () => {
    for (const { context, k, ids } of loadMtpGolden().drafts) {
      const sequence = model.createSequence(256);
      await model.greedy(sequence, context.slice(0, -1), 'last');
      const source = new EagleDraftSource(model, sequence);
      const draft = await source.propose(context, { k, minConfidence: 0, sampling: GREEDY, rng: null as never });
      expect(draft.tokens).toEqual(ids);
    }
  });

  it.each([1, 3])('greedy speculation with it (k = %i) equals plain greedy decoding', async (k) => {
    const golden = loadMtpGolden();
    for (const prompt of [golden.prompt, ...golden.drafts.map((d) => d.context)]) {
      const expected = await generate(model.target, model.target.createSequence(256), prompt, {
        maxTokens: 40,
        sampling: GREEDY,
      });
      const sequence = model.createSequence(256);
      const source = draftSource('eagle', undefined, { model, sequence });
      const { tokens, counts } = await speculativeGenerate(model, sequence, source, prompt, {
        maxTokens: 40,
        sampling: GREEDY,
        draftLength: k,
        fallback: false,
      });
      expect(tokens).toEqual(expected);
      expect(speculativeStats(counts).acceptance_rate).toBeGreaterThan(0.3);
    }
  });
});
