/**
 * The RoPE of a config.json, as transformers reads it: which layers turn (SmolLM3), how much of
 * a head (partial_rotary_factor), the frequencies' scaling (linear, Llama 3, LongRoPE, YaRN) and
 * Ministral 3's query scaling by position. Each value is checked, and a bad one refused by name
 * through the caller's `fail` (config.ts).
 */

import type { Architecture, QueryScaling, RopeScaling } from './config';

/**
 * Which of SmolLM3's layers turn queries and keys by RoPE: `no_rope_layers` (1: RoPE, 0: none),
 * else all but every `no_rope_layer_interval`-th (4 by default), as transformers fills it in.
 */
export function parseRopeLayers(raw: Record<string, unknown>, numLayers: number, fail: (message: string) => Error) {
  const given = raw.no_rope_layers;
  if (given != null) {
    if (!Array.isArray(given) || given.length !== numLayers || !given.every((v) => v === 0 || v === 1)) {
      throw fail(`no_rope_layers must be 1 (RoPE) or 0 (none) for each of the ${numLayers} layers`);
    }
    return given.map((v) => v === 1);
  }
  const every = raw.no_rope_layer_interval ?? 4;
  if (!Number.isSafeInteger(every) || (every as number) < 1) {
    throw fail(`no_rope_layer_interval ${JSON.stringify(every)} is not a whole number of layers`);
  }
  return Array.from({ length: numLayers }, (_, i) => (i + 1) % (every as number) !== 0);
}

/**
 * The values of a head RoPE turns: int(head_dim x partial_rotary_factor), as transformers takes
 * it (GPT-NeoX's rotary_pct). Only Phi-3's attention (Phi-4-mini), StableLM's, Phi-1/2's and
 * GPT-NeoX's turn part of a head; Llama's and the others' would fail in transformers with a
 * factor below 1, and are refused.
 */
export function parseRotaryDim(
  raw: Record<string, unknown>,
  arch: Architecture,
  headDim: number,
  fail: (message: string) => Error,
): number {
  // GPT-NeoX's checkpoints name it rotary_pct; transformers 5 may keep it in rope_parameters.
  const parameters = raw.rope_parameters as Record<string, unknown> | null | undefined;
  const factor =
    raw.partial_rotary_factor ??
    (arch === 'GPTNeoXForCausalLM' ? raw.rotary_pct : undefined) ??
    parameters?.partial_rotary_factor ??
    1;
  if (factor === 1) return headDim;
  if (typeof factor !== 'number' || !(factor > 0 && factor < 1)) {
    throw fail(`"partial_rotary_factor" must be a number above 0 and at most 1, got ${JSON.stringify(factor)}`);
  }
  if (
    !['Phi3ForCausalLM', 'StableLmForCausalLM', 'PhiForCausalLM', 'GPTNeoXForCausalLM', 'Qwen3_5ForCausalLM'].includes(
      arch,
    )
  ) {
    throw fail(
      `partial_rotary_factor ${factor}: ${arch} turns whole heads; RoPE over part of a head is Phi's, StableLM's and GPT-NeoX's`,
    );
  }
  const rotaryDim = Math.floor(headDim * factor);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) {
    throw fail(
      `partial_rotary_factor ${factor} turns ${rotaryDim} of a head's ${headDim} values; RoPE needs an even count`,
    );
  }
  return rotaryDim;
}

/**
 * Ministral 3's `llama_4_scaling_beta` in its RoPE parameters, with the original context as the
 * interval, as transformers' Ministral 3 reads them; other architectures have no such scaling,
 * and are refused one.
 */
export function parseQueryScaling(
  parameters: Record<string, unknown> | null | undefined,
  arch: Architecture,
  fail: (message: string) => Error,
): { queryScaling?: QueryScaling } {
  const beta = parameters?.llama_4_scaling_beta;
  if (beta == null || beta === 0) return {};
  if (arch !== 'Ministral3ForCausalLM') throw fail(`llama_4_scaling_beta: ${arch} scales no queries by position`);
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta < 0) {
    throw fail(`"llama_4_scaling_beta" must be a finite number of at least 0, got ${JSON.stringify(beta)}`);
  }
  return {
    queryScaling: {
      beta,
      interval: positiveNumber(parameters?.original_max_position_embeddings, 'original_max_position_embeddings', fail),
    },
  };
}

export function positiveNumber(value: unknown, key: string, fail: (message: string) => Error): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw fail(`"${key}" must be a positive finite number, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function parseRopeScaling(
  value: unknown,
  raw: Record<string, unknown>,
  maxPositions: number,
  rotaryDim: number,
  fail: (message: string) => Error,
): RopeScaling {
  if (value == null) return { type: 'default' };
  const scaling = value as Record<string, unknown>;
  const type = scaling.rope_type ?? scaling.type ?? 'default';
  const positive = (key: string, from = scaling) => {
    const v = from[key];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
      throw fail(`rope_scaling (${String(type)}) needs a positive "${key}", got ${JSON.stringify(v)}`);
    }
    return v;
  };
  if (type === 'default') return { type: 'default' };
  if (type === 'linear') return { type: 'linear', factor: positive('factor') };
  if (type === 'llama3') {
    const low = positive('low_freq_factor');
    const high = positive('high_freq_factor');
    if (!(high > low)) throw fail(`rope_scaling (llama3): high_freq_factor ${high} must exceed low_freq_factor ${low}`);
    return {
      type: 'llama3',
      factor: positive('factor'),
      lowFreqFactor: low,
      highFreqFactor: high,
      originalMaxPositions: positive('original_max_position_embeddings'),
    };
  }
  if (type === 'longrope' || type === 'su') {
    const half = rotaryDim / 2;
    const factors = (key: string) => {
      const list = scaling[key];
      if (!Array.isArray(list) || list.length !== half || !list.every((f) => typeof f === 'number' && f > 0)) {
        throw fail(`rope_scaling (longrope) needs "${key}": ${half} positive factors, one per frequency`);
      }
      return list as number[];
    };
    const original =
      typeof scaling.original_max_position_embeddings === 'number'
        ? positive('original_max_position_embeddings')
        : positive('original_max_position_embeddings', raw);
    // Phi-3's scaling of cos and sin: sqrt(1 + ln(s) / ln(original)) for a context s times the original.
    const s = maxPositions / original;
    const attentionFactor =
      typeof scaling.attention_factor === 'number'
        ? positive('attention_factor')
        : s <= 1
          ? 1
          : Math.sqrt(1 + Math.log(s) / Math.log(original));
    return {
      type: 'longrope',
      short: factors('short_factor'),
      long: factors('long_factor'),
      originalMaxPositions: original,
      attentionFactor,
    };
  }
  if (type === 'yarn') return parseYarn(scaling, raw, maxPositions, fail);
  throw fail(`rope_scaling type ${JSON.stringify(type)} is not supported (default, linear, llama3, longrope, yarn)`);
}

/**
 * YaRN's parameters as transformers reads them: the factor, the original context (else the
 * model's), beta_fast and beta_slow (32 and 1 if absent), and the attention factor: given, else
 * mscale(factor, mscale) / mscale(factor, mscale_all_dim) where both are given, else
 * mscale(factor), with mscale(s, m) = 0.1 m ln(s) + 1 (1 for s <= 1).
 */
function parseYarn(
  scaling: Record<string, unknown>,
  raw: Record<string, unknown>,
  maxPositions: number,
  fail: (message: string) => Error,
): RopeScaling {
  const positive = (key: string) => positiveNumber(scaling[key], key, fail);
  const optional = (key: string, fallback: number) => (scaling[key] ? positive(key) : fallback);
  const original = positiveNumber(
    scaling.original_max_position_embeddings ?? raw.original_max_position_embeddings ?? maxPositions,
    'original_max_position_embeddings',
    fail,
  );
  const factor = positive('factor');
  const mscale = (s: number, m: number) => (s <= 1 ? 1 : 0.1 * m * Math.log(s) + 1);
  const attentionFactor =
    scaling.attention_factor != null
      ? positive('attention_factor')
      : scaling.mscale && scaling.mscale_all_dim
        ? mscale(factor, positive('mscale')) / mscale(factor, positive('mscale_all_dim'))
        : mscale(factor, 1);
  const truncate = scaling.truncate ?? true;
  if (typeof truncate !== 'boolean') throw fail(`rope_scaling (yarn): "truncate" must be true or false`);
  return {
    type: 'yarn',
    factor,
    originalMaxPositions: original,
    betaFast: optional('beta_fast', 32),
    betaSlow: optional('beta_slow', 1),
    truncate,
    attentionFactor,
  };
}
