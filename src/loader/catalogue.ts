/**
 * web-llm's model catalogue (the model list of @mlc-ai/web-llm's `prebuiltAppConfig`, kept as
 * web-llm-models.json so that the page and the worker need not bundle web-llm, or an app's own
 * `appConfig`), read as Tandem can run it: each model id with the folder its files come from
 * (the Hugging Face repo's `resolve/main/`, as web-llm fetches it), whether Tandem runs it (and
 * why not), and the draft that shares its tokenizer: the smallest model of its family, in the
 * same quantization where the catalogue has one.
 *
 * A record names a repo and a quantization, not an architecture; the architecture comes from
 * the family its id belongs to (FAMILIES), and the folder's mlc-chat-config.json has the last
 * word when it loads.
 */

import type { AppConfig, ModelRecord } from '@mlc-ai/web-llm';
import { ModelNotFoundError, UnsupportedArchitectureError, UnsupportedQuantizationError } from '../errors';
import webLlmModels from './web-llm-models.json';

/** The part of an appConfig Tandem reads. */
export type Catalogue = { model_list: Pick<ModelRecord, 'model' | 'model_id' | 'vram_required_MB' | 'model_type'>[] };

/** web-llm's own catalogue: its prebuiltAppConfig's models. */
export const WEB_LLM_CATALOGUE: Catalogue = { model_list: webLlmModels as Catalogue['model_list'] };

export interface CatalogueModel {
  id: string;
  /** The folder its files are fetched from: `<repo>/resolve/main/`. */
  url: string;
  quantization: string;
  vramMB?: number;
  supported: boolean;
  /** Why Tandem does not run it. */
  reason?: string;
  /** The catalogue id of the draft suggested for it (a smaller model with its tokenizer). */
  draft?: string;
}

interface Family {
  pattern: RegExp;
  /** Models of one tokenizer draft for each other; families without one get no draft. */
  tokenizer?: string;
}

/**
 * The models of web-llm's catalogue that Tandem runs (the Llama family, Phi-3 and Phi-4-mini,
 * Gemma 1, 2 and 3, Ministral 3, OLMo 2, StableLM 2, Phi-1.5 and Phi-2, RedPajama, Qwen3.5), by id.
 */
const FAMILIES: Family[] = [
  { pattern: /^Llama-3\.[12]-\d+B-Instruct-/, tokenizer: 'llama3' },
  { pattern: /^Llama-3-\d+B-Instruct-/ },
  { pattern: /^(Llama-2-\d+b-chat-hf|TinyLlama-1\.1B-Chat-v1\.0)-/, tokenizer: 'llama2' },
  { pattern: /^Qwen2\.5-\d+(\.\d+)?B-Instruct-/, tokenizer: 'qwen2.5' },
  { pattern: /^Qwen2-\d+(\.\d+)?B-Instruct-/, tokenizer: 'qwen2' },
  { pattern: /^Qwen3-\d+(\.\d+)?B-/, tokenizer: 'qwen3' },
  { pattern: /^SmolLM2-\d+(\.\d+)?[MB]-Instruct-/, tokenizer: 'smollm2' },
  { pattern: /^Qwen2(\.5)?-(Coder|Math)-/ },
  { pattern: /^(Hermes|OpenHermes|NeuralHermes)-.*(Llama|Mistral)/ },
  { pattern: /^(Mistral-7B|WizardMath-7B)/ }, // WizardMath-7B-V1.1: a Mistral-7B fine-tune
  { pattern: /^TinyLlama/ },
  { pattern: /^DeepSeek-R1-Distill-(Llama|Qwen)/ },
  { pattern: /^Phi-(3|3\.5|4)-mini-/ },
  { pattern: /^gemma-\d+b-it-/ }, // Gemma 1: gemma-2b-it
  { pattern: /^gemma-2-\d+b-it-/, tokenizer: 'gemma2' },
  { pattern: /^gemma-2-2b-jpn-it-/ },
  { pattern: /^gemma3-\d+b-it-/ },
  { pattern: /^Ministral-3-\d+B-/ }, // Base, Instruct and Reasoning: the text model
  { pattern: /^OLMo-2-\d+-\d+B-Instruct-/, tokenizer: 'olmo2' },
  { pattern: /^stablelm-2-zephyr-/ },
  { pattern: /^phi-(1_5|2)-/ },
  { pattern: /^RedPajama-INCITE-Chat-3B-/ },
  { pattern: /^Qwen3\.5-\d+(\.\d+)?B-/, tokenizer: 'qwen3.5' }, // the text model: mlc-llm converts no vision tower
];

/** A draft has at most this share of its target's parameters. */
const DRAFT_SHARE = 0.4;

/** Why the others are not run, by what their id starts with. */
const UNSUPPORTED: [RegExp, string][] = [
  [/vision|-V-|VL/i, 'vision-language models are not run'],
  [/^gemma-4-/i, 'Gemma 4 is not an architecture Tandem runs'],
  [/embed|arctic/i, 'an embedding model, not a causal language model'],
];

const QUANTIZATION = /-(q\d+f\d+(?:_\d)?|q0bf16)-MLC/;
const MLC_AI = 'https://huggingface.co/mlc-ai/';
const SUPPORTED_QUANTIZATIONS = ['q4f16_1', 'q4f32_1', 'q0f16', 'q0f32'];

/** web-llm's rule: `<repo>/` gets `resolve/main/` unless it names a revision itself. */
export function modelFolderUrl(model: string): string {
  const base = model.endsWith('/') ? model : `${model}/`;
  return /.+\/resolve\/.+\//.test(base) ? base : `${base}resolve/main/`;
}

export function catalogue(appConfig: Catalogue | AppConfig = WEB_LLM_CATALOGUE): CatalogueModel[] {
  const models = appConfig.model_list.map(describe);
  for (const model of models) {
    if (model.supported) model.draft = draftFor(model, models);
  }
  return models;
}

/** A catalogue model by id, to run: refused by name when it is unknown or not runnable. */
export function resolveModel(id: string, appConfig: Catalogue | AppConfig = WEB_LLM_CATALOGUE): CatalogueModel {
  const model = catalogue(appConfig).find((m) => m.id === id);
  if (!model) throw new ModelNotFoundError(id);
  if (!model.supported) {
    const Refusal = SUPPORTED_QUANTIZATIONS.includes(model.quantization)
      ? UnsupportedArchitectureError
      : UnsupportedQuantizationError;
    throw new Refusal(`${id}: ${model.reason}.`);
  }
  return model;
}

function describe(record: Catalogue['model_list'][number]): CatalogueModel {
  const id = record.model_id;
  const quantization = QUANTIZATION.exec(id)?.[1] ?? 'unknown';
  const model = { id, url: modelFolderUrl(record.model), quantization, vramMB: record.vram_required_MB };
  const refused = UNSUPPORTED.find(([pattern]) => pattern.test(id));
  if (record.model_type !== undefined && record.model_type !== 0) {
    return { ...model, supported: false, reason: 'not a text language model (an embedding or vision model)' };
  }
  if (refused) return { ...model, supported: false, reason: refused[1] };
  if (!SUPPORTED_QUANTIZATIONS.includes(quantization)) {
    return {
      ...model,
      supported: false,
      reason: `quantization ${quantization} is not one Tandem runs (${SUPPORTED_QUANTIZATIONS.join(', ')})`,
    };
  }
  // mlc-ai's own repos outside the families are other architectures; an app's own records are
  // tried, and their mlc-chat-config.json decides.
  if (!FAMILIES.some((f) => f.pattern.test(id)) && record.model.startsWith(MLC_AI)) {
    return { ...model, supported: false, reason: 'not an architecture Tandem runs' };
  }
  return { ...model, supported: true };
}

/**
 * The draft for `target`: among the models of its tokenizer family with at most DRAFT_SHARE of
 * its parameters (from the id: "0.5B", "135M"), the smallest, in the target's quantization if
 * there is one; never a shortened-context variant (-1k).
 */
function draftFor(target: CatalogueModel, models: CatalogueModel[]): string | undefined {
  const family = (id: string) => FAMILIES.find((f) => f.pattern.test(id))?.tokenizer;
  const tokenizer = family(target.id);
  const size = parameters(target.id);
  if (!tokenizer || size === undefined) return undefined;
  const candidates = models.filter((m) => {
    const own = parameters(m.id);
    return (
      m.supported &&
      !m.id.endsWith('-1k') &&
      family(m.id) === tokenizer &&
      own !== undefined &&
      own <= size * DRAFT_SHARE
    );
  });
  const sameQuantization = candidates.filter((m) => m.quantization === target.quantization);
  const pool = sameQuantization.length > 0 ? sameQuantization : candidates;
  const smallest = (m: CatalogueModel) => [parameters(m.id) as number, m.vramMB ?? 0];
  return pool.sort((a, b) => smallest(a)[0] - smallest(b)[0] || smallest(a)[1] - smallest(b)[1])[0]?.id;
}

/** Parameters a model's id states ("1.5B", "360M", "7b"). */
function parameters(id: string): number | undefined {
  const match = /-(\d+(?:\.\d+)?)([MBmb])-/.exec(id);
  if (!match) return undefined;
  return Number(match[1]) * (match[2].toUpperCase() === 'B' ? 1e9 : 1e6);
}
