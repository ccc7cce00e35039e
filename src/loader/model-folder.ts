/**
 * Loading a whole model folder: config.json, the weights (checked against the config), the
 * tokenizer, and generation_config.json (the stop tokens and the sampling defaults the model's
 * authors publish), with one progress callback for the bytes of every file. MLC folders and
 * GGUF files (a source with a `file`) give the same: config, weights and tokenizer.
 */

import {
  MixedModelFormatsError,
  ModelConfigError,
  ModelFileMissingError,
  NoMtpLayerError,
  TokenizerError,
  UnsupportedArchitectureError,
} from '../errors';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { type ModelConfig, parseModelConfig } from './config';
import { type EagleHead, isEagleConfig } from './eagle';
import { modelFingerprint } from './fingerprint';
import { loadGgufModel } from './gguf-model';
import { type MlcFolderConfig, parseMlcConfig } from './mlc-config';
import { mtpHeadConfig, mtpTensors, mtpWeightKey, takeMtpHead } from './mtp';
import { type FileProgress, type ModelSource, readJson } from './source';
import { loadMlcWeights } from './tensor-cache';
import { loadWeights, type ModelWeights } from './weights';

/** What generation_config.json says a request that does not say otherwise should use. */
export interface GenerationDefaults {
  /** false: greedy decoding, whatever the temperature says (as transformers reads it). */
  doSample?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
}

export interface ModelFolder {
  name: string;
  config: ModelConfig;
  weights: ModelWeights;
  tokenizer: TextTokenizer;
  /** Ids that end a reply: config.json's and generation_config.json's EOS, and the tokenizer's. */
  stopTokenIds: number[];
  generation: GenerationDefaults;
  /** Changes when the weights or the config do (fingerprint.ts): keys of what outlives the page. */
  fingerprint: string;
  /** Its multi-token prediction layer as a draft head, where the load asked for it (loader/mtp.ts). */
  mtpHead?: EagleHead;
}

export async function loadConfig(source: ModelSource): Promise<ModelConfig> {
  const json = await readJson(source, 'config.json', ModelConfigError);
  if (isEagleConfig(json)) {
    throw new UnsupportedArchitectureError(
      `${source.name} holds an EAGLE draft head, not a model: load it as the draft of the target it was made for.`,
    );
  }
  return parseModelConfig(json, `${source.name}/config.json`);
}

/** A folder's config in the format the folder has: Hugging Face's config.json, or MLC's mlc-chat-config.json. */
export type FolderConfig = { format: 'huggingface'; config: ModelConfig } | ({ format: 'mlc' } & MlcFolderConfig);

export async function readFolderConfig(source: ModelSource): Promise<FolderConfig> {
  let missing: Error;
  try {
    return { format: 'huggingface', config: await loadConfig(source) };
  } catch (error) {
    if ((error as Error).name !== 'ModelFileMissingError') throw error;
    missing = error as Error;
  }
  const json = await readJson(source, 'mlc-chat-config.json', ModelConfigError).catch((error: Error) => {
    if (error.name !== 'ModelFileMissingError') throw error;
    throw new ModelFileMissingError(
      `${source.name} has neither config.json (a Hugging Face model folder) nor mlc-chat-config.json (an MLC ` +
        `one). Is the folder URL right? (${missing.message})`,
      { cause: missing },
    );
  });
  return { format: 'mlc', ...parseMlcConfig(json, `${source.name}/mlc-chat-config.json`) };
}

/**
 * `options.mtp`: read the model's multi-token prediction layer too (a Hugging Face folder of a
 * model that has one), as `mtpHead`.
 */
export async function loadModelFolder(
  source: ModelSource,
  onProgress?: (progress: FileProgress) => void,
  options: { mtp?: boolean } = {},
): Promise<ModelFolder> {
  if (source.file && options.mtp) throw noMtpInConversion(source.name, 'a GGUF file');
  if (source.file) return loadGgufFile(source, source.file, onProgress);
  const folder = await readFolderConfig(source);
  const { config } = folder;
  if (options.mtp && folder.format === 'mlc') throw noMtpInConversion(source.name, 'an MLC folder');
  // The head's tensors, read with the model's (its config first: a model without one is refused before any download).
  const extra = new Map(
    options.mtp
      ? [...mtpTensors(mtpHeadConfig(config, source.name))].map(([name, tensor]) => [mtpWeightKey(name), tensor])
      : [],
  );
  const tokenizer = await TextTokenizer.load(source, folder.format === 'mlc' ? folder.conv : undefined);
  try {
    checkVocabulary(config, tokenizer, source.name);
    // A stored weight file found damaged is dropped as it is read: the second try downloads it.
    const weights = await readWeights(source, folder, onProgress, extra).catch((error: Error) => {
      if (error.name === 'StoredFileDamagedError') return readWeights(source, folder, onProgress, extra);
      if (error.name === 'TensorMissingError' && error.message.includes('"mtp.')) {
        throw new NoMtpLayerError(
          `${source.name}: its config has a multi-token prediction layer, but its weights do not (${error.message}). ` +
            'Use the checkpoint as its authors publish it, or draft with something else.',
          { cause: error },
        );
      }
      throw error;
    });
    const mtpHead = options.mtp ? takeMtpHead({ name: source.name, config, weights }) : undefined;
    const generation =
      folder.format === 'mlc'
        ? { eosTokenIds: folder.stopTokenIds, defaults: folder.generation }
        : await readGenerationConfig(source);
    return {
      name: source.name,
      config,
      weights,
      tokenizer,
      stopTokenIds: stopTokens(config, generation.eosTokenIds, tokenizer, source.name),
      generation: generation.defaults,
      fingerprint: modelFingerprint(config, weights),
      ...(mtpHead && { mtpHead }),
    };
  } catch (error) {
    tokenizer.dispose();
    throw error;
  }
}

function noMtpInConversion(name: string, what: string): NoMtpLayerError {
  return new NoMtpLayerError(
    `${name} is ${what}: conversions leave the multi-token prediction layer out. Load the model's Hugging Face ` +
      'folder to draft with it, or draft with something else.',
  );
}

/** A GGUF file: config, weights and tokenizer all come from it. */
async function loadGgufFile(source: ModelSource, file: string, onProgress?: (progress: FileProgress) => void) {
  const { config, weights, tokenizer: files } = await loadGgufModel(source, file, onProgress);
  const tokenizer = await TextTokenizer.fromFiles(files.json, files.config, source.name);
  try {
    checkVocabulary(config, tokenizer, source.name);
    return {
      name: source.name,
      config,
      weights,
      tokenizer,
      stopTokenIds: stopTokens(config, files.stopTokenIds, tokenizer, source.name),
      generation: {},
      fingerprint: modelFingerprint(config, weights),
    };
  } catch (error) {
    tokenizer.dispose();
    throw error;
  }
}

/** The weights in the folder's format; weights of the other format beside its config are refused by name. */
async function readWeights(
  source: ModelSource,
  folder: FolderConfig,
  onProgress?: (p: FileProgress) => void,
  extra?: Map<string, { file: string; shape: number[] }>,
) {
  try {
    return folder.format === 'mlc'
      ? await loadMlcWeights(source, folder, onProgress)
      : await loadWeights(source, folder.config, onProgress, extra);
  } catch (error) {
    if ((error as Error).name !== 'ModelFileMissingError') throw error;
    const [has, other] =
      folder.format === 'mlc'
        ? ['mlc-chat-config.json (MLC)', 'model.safetensors']
        : ['config.json (Hugging Face)', 'tensor-cache.json'];
    if (await exists(source, other)) {
      throw new MixedModelFormatsError(
        `${source.name} has ${has} but its weights are ${other}, of the other format: a model folder holds one ` +
          'format. Use the folder as it was published.',
        { cause: error },
      );
    }
    throw error;
  }
}

/** Whether `file` is in the folder, without reading it (its stream is opened and cancelled). */
async function exists(source: ModelSource, file: string): Promise<boolean> {
  try {
    const opened = await source.open(file);
    await opened.stream.cancel().catch(() => undefined);
    await opened.settle(false);
    return true;
  } catch {
    return false;
  }
}

/** generation_config.json, which is optional; values of the wrong type are refused by name. */
async function readGenerationConfig(source: ModelSource) {
  const json = (await readJson(source, 'generation_config.json', ModelConfigError).catch((error: Error) => {
    if (error.name === 'ModelFileMissingError') return {};
    throw error;
  })) as Record<string, unknown>;
  const where = `${source.name}/generation_config.json`;
  const number = (key: string, valid: (x: number) => boolean) => {
    const value = json[key];
    if (value == null) return undefined;
    if (typeof value !== 'number' || !valid(value)) {
      throw new ModelConfigError(`${where}: "${key}" is ${JSON.stringify(value)}, not a value it can take`);
    }
    return value;
  };
  const flag = (key: string) => {
    const value = json[key];
    if (value == null) return undefined;
    if (typeof value !== 'boolean') {
      throw new ModelConfigError(`${where}: "${key}" is ${JSON.stringify(value)}, not true or false`);
    }
    return value;
  };
  const eos = json.eos_token_id;
  const eosTokenIds = [eos ?? []].flat();
  if (!eosTokenIds.every((id) => Number.isSafeInteger(id) && (id as number) >= 0)) {
    throw new ModelConfigError(`${where}: eos_token_id ${JSON.stringify(eos)} is not a token id or a list of them`);
  }
  const defaults: GenerationDefaults = {
    doSample: flag('do_sample'),
    temperature: number('temperature', (t) => t >= 0 && Number.isFinite(t)),
    topP: number('top_p', (p) => p > 0 && p <= 1),
    topK: number('top_k', (k) => Number.isSafeInteger(k) && k >= 0),
    repetitionPenalty: number('repetition_penalty', (r) => r > 0 && Number.isFinite(r)),
  };
  return { eosTokenIds: eosTokenIds as number[], defaults };
}

function stopTokens(config: ModelConfig, generationEos: number[], tokenizer: TextTokenizer, name: string): number[] {
  const ids = new Set([...config.eosTokenIds, ...generationEos]);
  const eos = tokenizer.eosToken === undefined ? undefined : tokenizer.tokenId(tokenizer.eosToken);
  if (eos !== undefined) ids.add(eos);
  const outside = [...ids].filter((id) => id >= config.vocabSize);
  if (outside.length > 0) {
    throw new ModelConfigError(
      `${name}: stop token id ${outside.join(', ')} (eos_token_id) is past the model's vocab_size ${config.vocabSize}`,
    );
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * A tokenizer that can make ids the model has no embedding row for would fail mid-request:
 * refused at load. (A model may have more rows than the tokenizer has tokens: padding.)
 */
function checkVocabulary(config: ModelConfig, tokenizer: TextTokenizer, name: string): void {
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new TokenizerError(
      `${name}: tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocabSize}: ` +
        'the tokenizer belongs to another model',
    );
  }
}
