/**
 * A target model and, optionally, the draft model that speeds it up: the one way the engine,
 * the benchmark and the tests read a pair and put it on the GPU. The draft's vocabulary is
 * checked against the target's as soon as both tokenizers are read, before any weight is
 * uploaded: a draft whose ids mean other tokens would make speculation silently useless.
 */

import type { Gpu } from '../gpu/device';
import { loadModelFolder, type ModelFolder } from '../loader/model-folder';
import type { FileProgress, ModelSource } from '../loader/source';
import { checkVocabularies } from '../tokenizer/vocabulary';
import { GpuModel, type GpuModelOptions } from './gpu-model';

export type PairRole = 'target' | 'draft';

/** The folders of a pair, read and checked, not yet on the GPU. */
export interface FolderPair {
  target: ModelFolder;
  draft?: ModelFolder;
}

export interface LoadedModel {
  folder: ModelFolder;
  model: GpuModel;
}

export interface ModelPair {
  target: LoadedModel;
  draft?: LoadedModel;
}

/** Reads both folders (the draft's after the target's) and checks that their vocabularies agree. */
export async function readPair(
  sources: { target: ModelSource; draft?: ModelSource },
  onProgress?: (role: PairRole, progress: FileProgress) => void,
): Promise<FolderPair> {
  const target = await loadModelFolder(sources.target, (p) => onProgress?.('target', p));
  if (!sources.draft) return { target };
  try {
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
  const target = await GpuModel.create(gpu, folders.target.config, folders.target.weights, options);
  if (!folders.draft) return { target: { folder: folders.target, model: target } };
  try {
    const draft = await GpuModel.create(gpu, folders.draft.config, folders.draft.weights, options);
    return { target: { folder: folders.target, model: target }, draft: { folder: folders.draft, model: draft } };
  } catch (error) {
    target.destroy();
    throw error;
  }
}

/** `readPair`, then `uploadPair`. */
export async function loadPair(
  gpu: Gpu,
  sources: { target: ModelSource; draft?: ModelSource },
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
  for (const loaded of [pair.target, pair.draft]) {
    loaded?.model.destroy();
    loaded?.folder.tokenizer.dispose();
  }
}

function disposeFolders(folders: FolderPair): void {
  folders.target.tokenizer.dispose();
  folders.draft?.tokenizer.dispose();
}
