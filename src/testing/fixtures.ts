/**
 * The committed fixture models (public/models/, made by scripts/fixtures/train.py) and their
 * golden outputs from the independent PyTorch implementation.
 */

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Gpu } from '../gpu/device';
import type { KernelProfile } from '../kernels/profile';
import { type EagleHead, loadEagleHead } from '../loader/eagle';
import { loadModelFolder, type ModelFolder } from '../loader/model-folder';
import { directorySource } from '../loader/node-source';
import { parseSafetensors, tensorData } from '../loader/safetensors';
import { encodeSafetensors, type TensorToWrite } from '../loader/safetensors-writer';
import { memorySource, singleFileModel } from '../loader/source';
import type { EagleTarget } from '../model/eagle';
import { loadPair, type ModelPair } from '../model/pair';
import type { Sequence } from '../model/types';
import { ReferenceModel } from '../ref/model';

export const MODELS_DIR = resolve(import.meta.dirname, '../../public/models');

export const FIXTURES = {
  target: 'tandem-target',
  targetF16: 'tandem-target-f16',
  targetBF16: 'tandem-target-bf16',
  draft: 'tandem-draft',
  qwen2: 'tandem-qwen2',
  qwen3: 'tandem-qwen3',
  phi3: 'tandem-phi3',
  gemma: 'tandem-gemma',
  gemma2: 'tandem-gemma2',
  gemma3: 'tandem-gemma3',
  /** Ministral 3's text model: YaRN over 16x its original context of 16, queries scaled from position 16 on. */
  ministral3: 'tandem-ministral3',
  /** OLMo 2: norms on the branches' outputs only, q and k normed over their whole projections. */
  olmo2: 'tandem-olmo2',
  /** StableLM 2: LayerNorms with biases, q/k/v biases, RoPE over a quarter of each head. */
  stablelm2: 'tandem-stablelm2',
  /** Phi-2: one LayerNorm for attention and the MLP side by side, fc1/GELU/fc2, biases everywhere (the LM head's too). */
  phi2: 'tandem-phi2',
  /** GPT-NeoX: attention and the MLP side by side, each on its own LayerNorm; the exact GELU; q|k|v fused head by head. */
  neox: 'tandem-neox',
  /** Qwen3.5: three Gated DeltaNet layers to one of gated attention, two value heads per key head; a vision-language checkpoint's names. */
  qwen35: 'tandem-qwen35',
  /** SmolLM3: Llama's layer with RoPE left out of every fourth layer (NoPE): the last of its 4. */
  smollm3: 'tandem-smollm3',
  llamaBias: 'tandem-llama-bias',
  /** MLC folders, q4f16_1 (scripts/fixtures/mlc.py): the target with its Jinja template, the draft with MLC's conv_template. */
  targetQ4: 'tandem-target-q4f16_1-MLC',
  draftQ4: 'tandem-draft-q4f16_1-MLC',
  /** Gemma 2 as an MLC folder (mlc.py): tied 4-bit embedding, norms stored as 1 + w. */
  gemma2Q4: 'tandem-gemma2-q4f16_1-MLC',
  /** Phi-3 as an MLC folder (mlc.py): Phi-2's tensor names, LongRoPE in model_config, no window. */
  phi3Q4: 'tandem-phi3-q4f16_1-MLC',
  /** Gemma 3 as an MLC folder (mlc.py): under language_model., q, k, v apart, text_config, norms as 1 + w. */
  gemma3Q4: 'tandem-gemma3-q4f16_1-MLC',
  /** Ministral 3 as an MLC folder (mlc.py): rope_parameters without rope_theta, a tied 4-bit embedding. */
  ministral3Q4: 'tandem-ministral3-q4f16_1-MLC',
  /** OLMo 2 as an MLC folder (mlc.py): Llama's names, q|k|v and gate|up fused, no input norms. */
  olmo2Q4: 'tandem-olmo2-q4f16_1-MLC',
  /** StableLM 2 as an MLC folder (mlc.py): q|k|v's bias fused, LayerNorm biases in f16, rope_theta by its own name. */
  stablelm2Q4: 'tandem-stablelm2-q4f16_1-MLC',
  /** Phi-2 as an MLC folder (mlc.py): transformer.h.N's mixer.Wqkv, mlp.fc1 and fc2, lm_head.ln and lm_head.linear. */
  phi2Q4: 'tandem-phi2-q4f16_1-MLC',
  /** GPT-NeoX as an MLC folder (mlc.py): gpt_neox.* names, query_key_value in q|k|v order, every bias. */
  neoxQ4: 'tandem-neox-q4f16_1-MLC',
  /** Qwen3.5 as an MLC folder (mlc.py): q_proj's rows with k and v as c_attn, conv1d_weight, A_log and dt_bias in f32, the gated norm not plus one. */
  qwen35Q4: 'tandem-qwen35-q4f16_1-MLC',
} as const;

/**
 * The target as one GGUF file, each kind of matrix in another of llama.cpp's types
 * (scripts/fixtures/gguf_fixture.py), with gguf-py's dequantized weights beside it (no golden logits).
 */
export const GGUF_FIXTURE = 'tandem-target-gguf/tandem-target-mixed.gguf';
/** The Phi-3 fixture as a GGUF file (gguf_fixture.py): fused projections, LongRoPE factors as tensors, Q8_0 matrices. */
export const PHI3_GGUF_FIXTURE = 'tandem-phi3-gguf/tandem-phi3-Q8_0.gguf';
/** The Gemma fixture as a GGUF file (gguf_fixture.py): norm weights stored plus one, F16 matrices. */
export const GEMMA_GGUF_FIXTURE = 'tandem-gemma-gguf/tandem-gemma-F16.gguf';
/** The Gemma 2 fixture as a GGUF file (gguf_fixture.py): norm weights stored plus one, F16 matrices. */
export const GEMMA2_GGUF_FIXTURE = 'tandem-gemma2-gguf/tandem-gemma2-F16.gguf';
/** The Gemma 3 fixture as a GGUF file: norms plus one, its window pattern in the metadata, F16 matrices. */
export const GEMMA3_GGUF_FIXTURE = 'tandem-gemma3-gguf/tandem-gemma3-F16.gguf';
/** The OLMo 2 fixture as a GGUF file: the branches' output norms, whole-projection q and k norms, F16 matrices. */
export const OLMO2_GGUF_FIXTURE = 'tandem-olmo2-gguf/tandem-olmo2-F16.gguf';
/** The SmolLM3 fixture as a GGUF file (smollm3): a llama's keys and permuted q and k, its NoPE layers llama.cpp's assumption. */
export const SMOLLM3_GGUF_FIXTURE = 'tandem-smollm3-gguf/tandem-smollm3-F16.gguf';
/** The Ministral 3 fixture as a GGUF file (mistral3): YaRN and the query scale in the metadata, q and k permuted, F16. */
export const MINISTRAL3_GGUF_FIXTURE = 'tandem-ministral3-gguf/tandem-ministral3-F16.gguf';
/** The StableLM 2 fixture as a GGUF file (stablelm): LayerNorm biases, RoPE's part of a head, F16 matrices. */
export const STABLELM2_GGUF_FIXTURE = 'tandem-stablelm2-gguf/tandem-stablelm2-F16.gguf';
/** The Phi-2 fixture as a GGUF file (phi2): fc1 as ffn_up, biases on every projection and the head, F16 matrices. */
export const PHI2_GGUF_FIXTURE = 'tandem-phi2-gguf/tandem-phi2-F16.gguf';
/** The GPT-NeoX fixture as a GGUF file (gptneox): attn_qkv in q|k|v order, every bias, F16 matrices. */
export const NEOX_GGUF_FIXTURE = 'tandem-neox-gguf/tandem-neox-F16.gguf';
/** The Qwen3.5 fixture as a GGUF file (qwen35): value heads in tiled order, ssm_a = -exp(A_log), F16 matrices. */
export const QWEN35_GGUF_FIXTURE = 'tandem-qwen35-gguf/tandem-qwen35-F16.gguf';

/** An EAGLE-3 head for the target (scripts/fixtures/eagle.py): a draft head, not a model of its own. */
export const EAGLE_FIXTURE = 'tandem-target-eagle3';
/** The head trained for the target's MLC q4f16_1 folder (eagle.py --q4). */
export const EAGLE_Q4_FIXTURE = 'tandem-target-q4-eagle3';
/** An EAGLE-1 head for the target, laid out as the EAGLE repository publishes them (scripts/fixtures/eagle1.py). */
export const EAGLE1_FIXTURE = 'tandem-target-eagle1';

/** The Qwen3.5 fixture with its multi-token prediction layer read as a draft head (scripts/fixtures/mtp.py). */
export function loadMtpFixture(): Promise<ModelFolder> {
  return loadModelFolder(directorySource(fixturePath(FIXTURES.qwen35)), undefined, { mtp: true });
}

/** The MTP layer's golden outputs (mtp.py), as loadEagleGolden reads a head's. */
export function loadMtpGolden() {
  return loadEagleGolden(FIXTURES.qwen35, 'mtp-golden');
}

export function fixturePath(name: string): string {
  return join(MODELS_DIR, name);
}

/**
 * The fixture pair as reference (CPU) models, with the target's tokenizer (the caller disposes
 * of it) and stop tokens; the draft's tokenizer, the same vocabulary, is disposed of here.
 */
export async function loadReferencePair() {
  const [t, d] = await Promise.all([loadFixture(FIXTURES.target), loadFixture(FIXTURES.draft)]);
  d.tokenizer.dispose();
  return {
    target: new ReferenceModel(t.config, t.weights),
    draft: new ReferenceModel(d.config, d.weights),
    tokenizer: t.tokenizer,
    stopTokenIds: t.stopTokenIds,
  };
}

/** A fixture model: a folder, or a GGUF file in one. */
export function loadFixture(name: string): Promise<ModelFolder> {
  const single = singleFileModel(name);
  if (!single) return loadModelFolder(directorySource(fixturePath(name)));
  return loadModelFolder({
    ...directorySource(fixturePath(single.folder)),
    name: fixturePath(name),
    file: single.file,
  });
}

/** A fixture EAGLE head, for a loaded target folder. */
export function loadEagleFixture(target: ModelFolder, name: string = EAGLE_FIXTURE): Promise<EagleHead> {
  const embedding = target.weights.get('model.embed_tokens.weight');
  if (!embedding) throw new Error('the target has no embedding');
  const lmHead = target.weights.get('lm_head.weight');
  return loadEagleHead(directorySource(fixturePath(name)), { config: target.config, embedding, lmHead });
}

/** Edits to a fixture head's config.json and tensors (`editedEagleHead`). */
export interface HeadEdit {
  config?: (config: Record<string, unknown>) => void;
  tensors?: (tensors: Record<string, TensorToWrite>) => void;
}

/** The fixture head `name` for a loaded target folder, loaded from memory with `edit` applied to its files. */
export function editedEagleHead(target: ModelFolder, name: string, edit: HeadEdit = {}): Promise<EagleHead> {
  const dir = fixturePath(name);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  edit.config?.(config);
  const file = parseSafetensors(readFileSync(join(dir, 'model.safetensors')));
  const tensors: Record<string, TensorToWrite> = {};
  for (const [tensor, info] of file.tensors)
    tensors[tensor] = { dtype: info.dtype, shape: info.shape, data: tensorData(file, info) };
  edit.tensors?.(tensors);
  const embedding = target.weights.get('model.embed_tokens.weight');
  if (!embedding) throw new Error('the target has no embedding');
  const source = memorySource('head', {
    'config.json': JSON.stringify(config),
    'model.safetensors': encodeSafetensors(tensors),
  });
  return loadEagleHead(source, { config: target.config, embedding, lmHead: target.weights.get('lm_head.weight') });
}

/** A fixture EAGLE head's golden outputs (scripts/fixtures/eagle.py). */
export function loadEagleGolden(name: string = EAGLE_FIXTURE, stem = 'golden') {
  const folder = fixturePath(name);
  const json = JSON.parse(readFileSync(join(folder, `${stem}.json`), 'utf8')) as {
    prompt: { ids: number[] };
    drafts: { context: number[]; k: number; ids: number[] }[];
  };
  const tensors = parseSafetensors(readFileSync(join(folder, `${stem}.safetensors`)), `${stem}.safetensors`);
  const info = tensors.tensors.get('logits.0');
  if (!info) throw new Error(`${folder}: golden logits.0 missing`);
  return { prompt: json.prompt.ids, drafts: json.drafts, logits: tensorData(tensors, info) as Float32Array };
}

/**
 * The largest difference between a head's logits at each real pair of its golden prompt and
 * PyTorch's: the target runs the prompt, then the head each pair (features of t, token at t + 1).
 */
export async function headGoldenError<S extends Sequence, H extends Sequence>(
  model: EagleTarget<S, H>,
  golden: { prompt: number[]; logits: Float32Array },
): Promise<number> {
  const sequence = model.createSequence(256);
  await model.greedy(sequence, golden.prompt, 'last');
  const n = golden.prompt.length - 1;
  const vocab = golden.logits.length / n;
  let worst = 0;
  for (let t = 0; t < n; t++) {
    const row = await model.head.forwardHidden(sequence.head, [golden.prompt[t + 1]], { of: sequence.target, from: t });
    if (row.length !== vocab) throw new Error(`the head gives ${row.length} logits a row, the golden ${vocab}`);
    for (let i = 0; i < vocab; i++) worst = Math.max(worst, Math.abs(row[i] - golden.logits[t * vocab + i]));
  }
  sequence.release();
  return worst;
}

/**
 * A GPU head against the reference head at every pair of `prompt` (the target's features of t,
 * the token at t + 1), then for three draft steps fed their own state, as a head drafts: the
 * largest difference of their logits and the largest reference logit; and whether a catch-up
 * over every pair in one pass gives the bits the last pair gives when the pairs run one at a time.
 */
export async function headAgainstReference<
  S extends Sequence,
  H extends Sequence,
  RS extends Sequence,
  RH extends Sequence,
>(
  model: EagleTarget<S, H>,
  reference: EagleTarget<RS, RH>,
  prompt: number[],
): Promise<{ worst: number; scale: number; sameBits: boolean }> {
  const [whole, stepped] = [model.createSequence(256), model.createSequence(256)];
  const refSequence = reference.createSequence(256);
  for (const s of [whole, stepped]) await model.greedy(s, prompt, 'last');
  await reference.greedy(refSequence, prompt, 'last');
  let worst = 0;
  let scale = 0;
  const compare = (got: Float32Array, expected: Float32Array) => {
    for (let i = 0; i < got.length; i++) {
      worst = Math.max(worst, Math.abs(got[i] - expected[i]));
      scale = Math.max(scale, Math.abs(expected[i]));
    }
  };
  let last: Float32Array = new Float32Array(0);
  for (let t = 0; t < prompt.length - 1; t++) {
    const token = [prompt[t + 1]];
    last = await model.head.forwardHidden(stepped.head, token, { of: stepped.target, from: t });
    compare(last, await reference.head.forwardHidden(refSequence.head, token, { of: refSequence.target, from: t }));
  }
  const once = await model.head.forwardHidden(whole.head, prompt.slice(1), { of: whole.target, from: 0 });
  // Draft steps: each token fed with the state the head kept from its step before.
  for (const token of prompt.slice(1, 4)) {
    compare(
      await model.head.forwardHidden(stepped.head, [token], 'own'),
      await reference.head.forwardHidden(refSequence.head, [token], 'own'),
    );
  }
  for (const s of [whole, stepped, refSequence]) s.release();
  return { worst, scale, sameBits: once.length === last.length && once.every((v, i) => Object.is(v, last[i])) };
}

export interface GoldenPrompt {
  text: string;
  ids: number[];
  greedyIds: number[];
  greedyText: string;
  minTop2Margin: number;
  logits: Float32Array; // (ids.length, vocab)
}

export function loadGolden(name: string): GoldenPrompt[] {
  const folder = fixturePath(name);
  const json = JSON.parse(readFileSync(join(folder, 'golden.json'), 'utf8')) as {
    prompts: { text: string; ids: number[]; greedy_ids: number[]; greedy_text: string; min_top2_margin: number }[];
  };
  const tensors = parseSafetensors(readFileSync(join(folder, 'golden.safetensors')), 'golden.safetensors');
  return json.prompts.map((p, i) => {
    const info = tensors.tensors.get(`logits.${i}`);
    if (!info) throw new Error(`${folder}: golden logits.${i} missing`);
    return {
      text: p.text,
      ids: p.ids,
      greedyIds: p.greedy_ids,
      greedyText: p.greedy_text,
      minTop2Margin: p.min_top2_margin,
      logits: tensorData(tensors, info) as Float32Array,
    };
  });
}

/** The fixture pair on the GPU (loadPair): the f16 target and the draft, with the target's tokenizer (the device's profile unless `profile`). */
export async function loadGpuPair(gpu: Gpu, maxContext = 256, profile?: KernelProfile) {
  const pair = await loadPair(
    gpu,
    { target: directorySource(fixturePath(FIXTURES.targetF16)), draft: directorySource(fixturePath(FIXTURES.draft)) },
    { maxContext, profile },
  );
  const { target, draft } = pair as Required<ModelPair>;
  return { target: target.model, draft: draft.model, tokenizer: target.folder.tokenizer };
}
