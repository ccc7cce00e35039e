/**
 * A target model and, optionally, the draft model that speeds it up: the one way the engine,
 * the benchmark and the tests read a pair and put it on the GPU. The draft's vocabulary is
 * checked against the target's as soon as both tokenizers are read, before any weight is
 * uploaded: a draft whose ids mean other tokens would make speculation silently useless.
 *
 * The draft folder may instead hold an EAGLE-3 head (loader/eagle.ts: its config.json says
 * so), checked against the target it was made for; the target is then built to export the
 * head's features, the head embeds with the target's table, and `eagle` is the two as one
 * model (model/eagle.ts). A draft of 'mtp' is the target's own multi-token prediction layer
 * (loader/mtp.ts), read with the target's weights and run as such a head.
 */

import { ModelConfigError, TensorMissingError } from '../errors';
import type { Gpu } from '../gpu/device';
import { type EagleHead, eagleLayout, isEagleConfig, loadEagleHead } from '../loader/eagle';
import { modelFingerprint } from '../loader/fingerprint';
import { loadModelFolder, type ModelFolder } from '../loader/model-folder';
import { type FileProgress, type ModelSource, readJson } from '../loader/source';
import { checkVocabularies } from '../tokenizer/vocabulary';
import { EagleTarget, featureExport } from './eagle';
import { prepareHeadSteps } from './gpu-eagle-step';
import { GpuModel, type GpuModelOptions } from './gpu-model';
import type { GpuSequence } from './gpu-sequence';
import { prepareDeviceSteps } from './gpu-speculation';

export type PairRole = 'target' | 'draft';

/** The folders of a pair, read and checked, not yet on the GPU. */
export interface FolderPair {
  target: ModelFolder;
  draft?: ModelFolder;
  /** An EAGLE head in place of a draft model, and the folder's name. */
  head?: { name: string; head: EagleHead };
}

export interface LoadedModel {
  folder: ModelFolder;
  model: GpuModel;
}

export interface ModelPair {
  target: LoadedModel;
  draft?: LoadedModel;
  /** The target with its EAGLE head, as one model; `head` is the head's own. */
  eagle?: { name: string; model: EagleTarget<GpuSequence, GpuSequence>; head: GpuModel; fingerprint: string };
}

/** Where a pair's draft comes from: a folder, or (`'mtp'`) the target's own MTP layer. */
export type DraftSource = ModelSource | 'mtp';

/** Reads both folders (the draft's after the target's) and checks that their vocabularies agree. */
export async function readPair(
  sources: { target: ModelSource; draft?: DraftSource },
  onProgress?: (role: PairRole, progress: FileProgress) => void,
): Promise<FolderPair> {
  const mtp = sources.draft === 'mtp';
  const target = await loadModelFolder(sources.target, (p) => onProgress?.('target', p), { mtp });
  if (target.mtpHead) return { target, head: { name: `${target.name} (MTP)`, head: target.mtpHead } };
  if (!sources.draft || sources.draft === 'mtp') return { target };
  try {
    if (await holdsEagleHead(sources.draft)) return { target, head: await readHead(sources.draft, target) };
    const draft = await loadModelFolder(sources.draft, (p) => onProgress?.('draft', p));
    try {
      checkVocabularies(target.tokenizer, draft.tokenizer);
    } catch (error) {
      draft.tokenizer.dispose();
      throw error;
    }
    return { target, draft };
  } catch (error) {
    target.tokenizer.dispose();
    throw error;
  }
}

/** Uploads both models with the same options (context, batch, kernel profile). */
export async function uploadPair(gpu: Gpu, folders: FolderPair, options: GpuModelOptions = {}): Promise<ModelPair> {
  const { head } = folders;
  if (head && folders.draft) throw new Error('a pair drafts with a model or an EAGLE head, not both');
  const target = await GpuModel.create(gpu, folders.target.config, folders.target.weights, {
    ...options,
    ...(head ? { features: featureExport(head.head) } : {}),
  });
  if (head) {
    try {
      const { config, weights, draftToTarget, layout } = head.head;
      const model = await GpuModel.create(gpu, config, weights, {
        ...options,
        sharedEmbed: target.weights.embed,
        ...(layout !== 'eagle3' ? { sharedHead: target.weights.lmHead } : {}),
      });
      const eagle = new EagleTarget(target, model, draftToTarget);
      await prepareHeadSteps(target, model, draftToTarget);
      const fingerprint = modelFingerprint(config, weights);
      return {
        target: { folder: folders.target, model: target },
        eagle: { name: head.name, model: eagle, head: model, fingerprint },
      };
    } catch (error) {
      target.destroy();
      throw error;
    }
  }
  if (!folders.draft) return { target: { folder: folders.target, model: target } };
  try {
    const draft = await GpuModel.create(gpu, folders.draft.config, folders.draft.weights, options);
    await prepareDeviceSteps(target, draft);
    return { target: { folder: folders.target, model: target }, draft: { folder: folders.draft, model: draft } };
  } catch (error) {
    target.destroy();
    throw error;
  }
}

/** `readPair`, then `uploadPair`. */
export async function loadPair(
  gpu: Gpu,
  sources: { target: ModelSource; draft?: DraftSource },
  options: GpuModelOptions & { onProgress?: (role: PairRole, progress: FileProgress) => void } = {},
): Promise<ModelPair> {
  const { onProgress, ...modelOptions } = options;
  const folders = await readPair(sources, onProgress);
  try {
    return await uploadPair(gpu, folders, modelOptions);
  } catch (error) {
    disposeFolders(folders);
    throw error;
  }
}

/** Frees both models' GPU memory and tokenizers. */
export function destroyPair(pair: ModelPair): void {
  pair.eagle?.head.destroy(); // before the target: it shares the target's embedding
  for (const loaded of [pair.target, pair.draft]) {
    loaded?.model.destroy();
    loaded?.folder.tokenizer.dispose();
  }
}

/** The EAGLE head in `source`, checked against `target`, which it embeds with (and an EAGLE-1 head takes its LM head). */
export async function readHead(source: ModelSource, target: ModelFolder): Promise<{ name: string; head: EagleHead }> {
  const embedding = target.weights.get('model.embed_tokens.weight');
  if (!embedding) throw new TensorMissingError(`${target.name}: no embedding for its EAGLE head to share`);
  const lmHead = target.weights.get('lm_head.weight');
  return { name: source.name, head: await loadEagleHead(source, { config: target.config, embedding, lmHead }) };
}

/**
 * Whether a draft folder holds an EAGLE head rather than a draft model: its config.json names a
 * head's architecture, or (as the EAGLE repository publishes EAGLE-1 heads) is a one-layer Llama
 * config in a folder without a tokenizer, which every model has.
 */
async function holdsEagleHead(source: ModelSource): Promise<boolean> {
  let json: unknown;
  try {
    json = await readJson(source, 'config.json', ModelConfigError);
  } catch {
    return false; // no config.json (an MLC folder), or a broken one: the model loader says what is wrong
  }
  if (isEagleConfig(json)) return true;
  if (eagleLayout(json) !== 'eagle1') return false;
  try {
    await source.read('tokenizer.json');
    return false;
  } catch {
    return true;
  }
}

/** Frees the tokenizers of folders read but not uploaded. */
export function disposeFolders(folders: FolderPair): void {
  folders.target.tokenizer.dispose();
  folders.draft?.tokenizer.dispose();
}
