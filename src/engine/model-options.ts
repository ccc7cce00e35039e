/**
 * A model as a user names it, as engine options: a folder (a path or a URL) or a model id of
 * web-llm's catalogue, whose folder URL, draft and context come from the catalogue. Shared by
 * web-llm's factories (mlc-engine.ts), the CLI, the chat page and the embed; it imports no
 * engine code, so a page that only starts a worker stays small.
 */

import type { AppConfig, InitProgressReport } from '@mlc-ai/web-llm';
import type { Gpu } from '../gpu/device';
import { type Catalogue, resolveModel } from '../loader/catalogue';
import type { DraftLength } from '../speculative/draft-length';
import type { EngineOptions } from './engine';

/** web-llm's engine config, as Tandem reads it (mlc-engine.ts adds what only a thread's engine takes). */
export interface MLCEngineConfig {
  /** The catalogue of model ids (default: web-llm's prebuiltAppConfig). */
  appConfig?: AppConfig | Catalogue;
  initProgressCallback?: (report: InitProgressReport) => void;
  /**
   * A catalogue id, 'ngram' (prompt lookup), 'mtp' (the model's own multi-token prediction layer)
   * or 'none'; by default the catalogue's suggestion.
   */
  draftModel?: string;
  draftLength?: DraftLength;
  /** GPU bytes the prefix cache may hold. */
  cacheBudgetBytes?: number;
  /** A GPU to use (Node); by default `navigator.gpu`'s. */
  gpu?: Gpu;
}

/** web-llm's per-model chat options that Tandem reads. */
export interface MLCChatOptions {
  context_window_size?: number;
}

/** Drafts named by a word rather than a model: prompt lookup, the target's MTP layer, none. */
export type DraftWord = 'ngram' | 'mtp' | 'none';

export function isDraftWord(draft: unknown): draft is DraftWord {
  return draft === 'ngram' || draft === 'mtp' || draft === 'none';
}

/** The engine options for a catalogue model: its folder URL, its draft's, and the context asked for. */
export function catalogueEngineOptions(
  modelId: string,
  config: MLCEngineConfig = {},
  chatOptions: MLCChatOptions = {},
): Omit<EngineOptions, 'initProgressCallback' | 'gpu' | 'prefixStore'> & { target: string; draft: string } {
  const model = resolveModel(modelId, config.appConfig);
  const draftId = config.draftModel ?? model.draft ?? 'ngram';
  const draft = isDraftWord(draftId) ? draftId : resolveModel(draftId, config.appConfig).url;
  return {
    target: model.url,
    modelId,
    draft,
    draftLength: config.draftLength,
    cacheBudgetBytes: config.cacheBudgetBytes,
    contextLength: chatOptions.context_window_size,
  };
}

/**
 * A folder is a path or a URL (it has a slash), and a GGUF file is one too; anything else is
 * a model id of the catalogue.
 */
export const isFolder = (location: string) =>
  location.includes('/') || location.includes('\\') || /\.gguf$/i.test(location);

/**
 * Engine options for a model as a user names it, a folder or a catalogue id. A catalogue
 * model's draft is the catalogue's suggestion unless `draft` names another (an id, a folder,
 * 'ngram', 'mtp' or 'none'); a folder's draft is `draft`, else `folderDraft`.
 */
export function modelOptions(
  target: string,
  options: { draft?: string; appConfig?: AppConfig | Catalogue; folderDraft?: string } = {},
): { target: string; draft?: string; modelId?: string } {
  const { draft, appConfig } = options;
  if (isFolder(target)) return { target, draft: draft ?? options.folderDraft };
  const draftModel = draft !== undefined && !isFolder(draft) ? draft : undefined;
  const { modelId, draft: suggested, target: url } = catalogueEngineOptions(target, { appConfig, draftModel });
  return { target: url, modelId, draft: draft !== undefined && isFolder(draft) ? draft : suggested };
}
