/**
 * Loading a whole model folder: config.json, the weights (checked against the config) and
 * the tokenizer, with one progress callback for the bytes of every file.
 */

import { ModelConfigError } from '../errors';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { type ModelConfig, parseModelConfig } from './config';
import { type FileProgress, type ModelSource, readJson } from './source';
import { loadWeights, type ModelWeights } from './weights';

export interface ModelFolder {
  name: string;
  config: ModelConfig;
  weights: ModelWeights;
  tokenizer: TextTokenizer;
  /** Ids that end a reply: config.json's and generation_config.json's EOS, and the tokenizer's. */
  stopTokenIds: number[];
}

export async function loadConfig(source: ModelSource): Promise<ModelConfig> {
  return parseModelConfig(await readJson(source, 'config.json', ModelConfigError), `${source.name}/config.json`);
}

export async function loadModelFolder(
  source: ModelSource,
  onProgress?: (progress: FileProgress) => void,
): Promise<ModelFolder> {
  const config = await loadConfig(source);
  const tokenizer = await TextTokenizer.load(source);
  try {
    // A stored weight file found damaged is dropped as it is read: the second try downloads it.
    const weights = await loadWeights(source, config, onProgress).catch((error: Error) => {
      if (error.name !== 'StoredFileDamagedError') throw error;
      return loadWeights(source, config, onProgress);
    });
    return { name: source.name, config, weights, tokenizer, stopTokenIds: await stopTokens(source, config, tokenizer) };
  } catch (error) {
    tokenizer.dispose();
    throw error;
  }
}

async function stopTokens(source: ModelSource, config: ModelConfig, tokenizer: TextTokenizer): Promise<number[]> {
  const ids = new Set(config.eosTokenIds);
  const generation = (await readJson(source, 'generation_config.json', ModelConfigError).catch(() => ({}))) as {
    eos_token_id?: number | number[];
  };
  for (const id of [generation.eos_token_id ?? []].flat()) ids.add(id);
  const eos = tokenizer.eosToken === undefined ? undefined : tokenizer.tokenId(tokenizer.eosToken);
  if (eos !== undefined) ids.add(eos);
  return [...ids].sort((a, b) => a - b);
}
