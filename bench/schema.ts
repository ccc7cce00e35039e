/**
 * The results JSON's fields, as documented in bench/README.md, and a check that a results
 * object has every one with a sane value. The CLI, the page (when a file is loaded back) and
 * the tests use it; a unit test keeps the README in step with this list.
 *
 * A path's `[]` means every element of that array; kinds:
 *   positive  a finite number > 0          count     an integer >= 0
 *   fraction  a number in [0, 1]            number    any finite number
 *   share     a finite number >= 0: a time over a far longer one, which rounding may make 0
 *   measured  a finite number >= 0, or null where the device could not measure it
 *   string / boolean / object / array, and `k` (an integer >= 1 or "auto")
 */

type Kind =
  | 'positive'
  | 'count'
  | 'fraction'
  | 'share'
  | 'measured'
  | 'number'
  | 'string'
  | 'boolean'
  | 'object'
  | 'array'
  | 'k';

export const RESULT_FIELDS: Record<string, Kind> = {
  schema: 'positive',
  date: 'string',
  quick: 'boolean',
  environment: 'string',
  'device.vendor': 'string',
  'device.architecture': 'string',
  'device.features': 'array',
  'device.limits': 'object',

  'kernels.copy_gb_s': 'positive',
  'kernels.copy_bytes': 'positive',
  'kernels.linear[].dtype': 'string',
  'kernels.linear[].rows': 'positive',
  'kernels.linear[].k': 'positive',
  'kernels.linear[].ms': 'positive',
  'kernels.linear[].gb_s': 'positive',
  'kernels.linear[].fraction_of_copy': 'positive',
  'kernels.linear[].threads': 'positive',
  'kernels.linear[].lanes_by': 'string',
  'kernels.linear[].split_groups': 'boolean',
  'kernels.linear[].two_rows': 'boolean',
  'kernels.linear[].rows_a_thread': 'positive',
  'kernels.linear[].units_in_flight': 'positive',
  'kernels.linear[].variant': 'string',
  'kernels.attention[].shape': 'string',
  'kernels.attention[].heads': 'string',
  'kernels.attention[].kv': 'string',
  'kernels.attention[].context': 'positive',
  'kernels.attention[].tokens': 'positive',
  'kernels.attention[].variant': 'string',
  'kernels.attention[].grouped': 'boolean',
  'kernels.attention[].split': 'positive',
  'kernels.attention[].ms': 'positive',
  'kernels.attention[].step_ms': 'positive',
  'kernels.attention[].kv_gb_s': 'positive',

  'model.model': 'string',
  'model.parameters': 'positive',
  'model.weight_bytes': 'positive',
  'model.prefill_tokens': 'positive',
  'model.prefill_tok_s': 'positive',
  'model.decode_tok_s': 'positive',
  'model.decode_ms': 'positive',
  'model.verify[].tokens': 'positive',
  'model.verify[].ms': 'positive',
  'model.verify[].ratio': 'positive',
  'model.verify5_ratio': 'positive',

  'decode.plain_tok_s': 'positive',
  'decode.spec_tok_s': 'positive',
  'decode.speedup': 'positive',
  'decode.acceptance_rate': 'fraction',
  'decode.mean_accepted_length': 'positive',
  'decode.target_step_ms': 'positive',
  'decode.draft_step_ms': 'positive',
  'decode.runs[].draft': 'string',
  'decode.runs[].tree': 'count',
  'decode.runs[].tree_width': 'positive',
  'decode.runs[].draft_length': 'k',
  'decode.runs[].temperature': 'number',
  'decode.runs[].plain_tok_s': 'positive',
  'decode.runs[].spec_tok_s': 'positive',
  'decode.runs[].speedup': 'positive',
  'decode.runs[].acceptance_rate': 'fraction',
  'decode.runs[].mean_accepted_length': 'positive',
  'decode.runs[].mean_draft_length': 'positive',
  'decode.runs[].per_position': 'array',
  'decode.runs[].target_forwards_per_token': 'positive',
  'decode.runs[].draft_forwards_per_token': 'number',
  'decode.runs[].forced_share': 'number',
  'decode.runs[].round_trips_per_token': 'positive',
  'decode.runs[].readback_bytes_per_token': 'positive',
  'decode.runs[].submissions_per_step': 'positive',
  'decode.runs[].record_ahead': 'boolean',
  'decode.runs[].constrained': 'boolean',
  'decode.runs[].steps_ahead': 'fraction',
  'decode.runs[].plain_tok_s_range': 'array',
  'decode.runs[].step_ms': 'positive',
  'decode.runs[].record_ms': 'positive',
  'decode.runs[].submit_ms': 'positive',
  'decode.runs[].wait_ms': 'positive',
  'decode.runs[].gpu_ms': 'measured',
  'decode.runs[].plain_gpu_ms': 'measured',
  'decode.dispatches.target_per_layer': 'positive',
  'decode.dispatches.target_per_step': 'positive',
  'decode.dispatches.draft_per_layer': 'positive',
  'decode.dispatches.draft_per_step': 'positive',
  'decode.runs[].spec_tok_s_range': 'array',
  'decode.runs[].predicted_speedup': 'positive',
  'decode.eagle.head_step_ms': 'positive',
  'decode.eagle.head_step_ratio': 'positive',
  'decode.eagle.head_dispatches_per_step': 'positive',
  'decode.eagle.speedup': 'positive',
  'decode.eagle.acceptance_rate': 'fraction',
  'decode.eagle.mean_accepted_length': 'positive',
  'decode.mtp.target': 'string',
  'decode.mtp.target_step_ms': 'positive',
  'decode.mtp.head_step_ms': 'positive',
  'decode.mtp.head_step_ratio': 'positive',
  'decode.mtp.head_dispatches_per_step': 'positive',
  'decode.mtp.speedup': 'positive',
  'decode.mtp.acceptance_rate': 'fraction',
  'decode.mtp.mean_accepted_length': 'positive',

  'ttft.system_tokens': 'positive',
  'ttft.prompt_tokens': 'positive',
  'ttft.cold_ms': 'positive',
  'ttft.warm_ms': 'positive',
  'ttft.typeahead_ms': 'positive',
  'ttft.warm_ratio': 'share',
  'ttft.typeahead_ratio': 'share',
  'ttft.decode_step_ms': 'positive',
  'ttft.restored_ms': 'positive',
  'ttft.restored_ratio': 'positive',
  'ttft.shape.name': 'string',
  'ttft.shape.prefix_tokens': 'positive',
  'ttft.shape.cold_ms': 'positive',
  'ttft.shape.restored_ms': 'positive',
  'ttft.shape.restored_ratio': 'positive',
  'ttft.long[].shape': 'string',
  'ttft.long[].prefix_tokens': 'positive',
  'ttft.long[].cold_ms': 'positive',
  'ttft.long[].warm_ms': 'positive',
  'ttft.long[].typeahead_ms': 'positive',
  'ttft.long[].warm_ratio': 'share',
  'ttft.long[].typeahead_ratio': 'share',
  'ttft.long[].decode_step_ms': 'positive',
  'ttft.long[].decode_step_ratio': 'positive',

  'memory.context_tokens': 'positive',
  'memory.models[].model': 'string',
  'memory.models[].weight_bytes': 'positive',
  'memory.models[].scratch_bytes': 'positive',
  'memory.models[].kv_bytes_per_token': 'positive',
  'memory.prefix_cache.budget_bytes': 'positive',
  'memory.prefix_cache.entry_bytes': 'positive',
  'memory.prefix_cache.max_entries': 'positive',
  'memory.prefix_cache.entries': 'count',
  'memory.prefix_cache.bytes': 'count',
  'memory.total_bytes': 'positive',

  'shapes.context_tokens': 'positive',
  'shapes.acceptance_rates': 'array',
  'shapes.models[].name': 'string',
  'shapes.models[].role': 'string',
  'shapes.models[].quantization': 'string',
  'shapes.models[].parameters': 'positive',
  'shapes.models[].weight_bytes': 'positive',
  'shapes.models[].scratch_bytes': 'positive',
  'shapes.models[].kv_bytes_per_token': 'positive',
  'shapes.models[].prefill_tok_s': 'positive',
  'shapes.models[].decode_ms': 'positive',
  'shapes.models[].decode_tok_s': 'positive',
  'shapes.models[].decode_gb_s': 'positive',
  'shapes.models[].verify[].tokens': 'positive',
  'shapes.models[].verify[].ms': 'positive',
  'shapes.models[].verify[].ratio': 'positive',
  'shapes.pairs[].target': 'string',
  'shapes.pairs[].draft': 'string',
  'shapes.pairs[].target_decode_ms': 'positive',
  'shapes.pairs[].draft_decode_ms': 'positive',
  'shapes.pairs[].draft_cost_ratio': 'positive',
  'shapes.pairs[].draft_chain_ms': 'positive',
  'shapes.pairs[].draft_chain_ratio': 'positive',
  'shapes.pairs[].predicted[].acceptance': 'fraction',
  'shapes.pairs[].predicted[].by_k[].k': 'positive',
  'shapes.pairs[].predicted[].by_k[].speedup': 'positive',
  'shapes.pairs[].predicted[].best_k': 'positive',
  'shapes.pairs[].predicted[].best_speedup': 'positive',
  'shapes.eagle[].target': 'string',
  'shapes.eagle[].layout': 'string',
  'shapes.eagle[].draft_vocab': 'positive',
  'shapes.eagle[].head_step_ms': 'positive',
  'shapes.eagle[].target_decode_ms': 'positive',
  'shapes.eagle[].head_step_ratio': 'positive',
  'shapes.eagle[].head_chain_step_ms': 'positive',
  'shapes.eagle[].head_chain_ratio': 'positive',
  'shapes.eagle[].predicted': 'array',
};

/** The values at `path` (several where it goes through arrays; none where something is missing). */
function valuesAt(root: unknown, path: string): { where: string; value: unknown }[] {
  let found = [{ where: '', value: root }];
  for (const part of path.split('.')) {
    const isArray = part.endsWith('[]');
    const key = isArray ? part.slice(0, -2) : part;
    const next: { where: string; value: unknown }[] = [];
    for (const { where, value } of found) {
      const child = (value as Record<string, unknown> | null)?.[key];
      const at = where ? `${where}.${key}` : key;
      if (!isArray) next.push({ where: at, value: child });
      else if (Array.isArray(child) && child.length > 0)
        next.push(...child.map((v, i) => ({ where: `${at}[${i}]`, value: v })));
      else next.push({ where: `${at}[]`, value: undefined });
    }
    found = next;
  }
  return found;
}

function fits(kind: Kind, value: unknown): boolean {
  const finite = typeof value === 'number' && Number.isFinite(value);
  switch (kind) {
    case 'positive':
      return finite && (value as number) > 0;
    case 'count':
      return Number.isInteger(value) && (value as number) >= 0;
    case 'fraction':
      return finite && (value as number) >= 0 && (value as number) <= 1;
    case 'share':
      return finite && (value as number) >= 0;
    case 'measured':
      return value === null || (finite && (value as number) >= 0);
    case 'number':
      return finite;
    case 'k':
      return value === 'auto' || (Number.isInteger(value) && (value as number) >= 1);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return typeof value === kind;
  }
}

/** Fields added by a later schema, with the version that added them: older results lack them. */
export const FIELDS_SINCE: Record<string, number> = {
  'shapes.models[].quantization': 3,
  'shapes.models[].decode_gb_s': 3,
  'decode.runs[].round_trips_per_token': 3,
  'decode.runs[].plain_tok_s_range': 3,
  'decode.runs[].step_ms': 3,
  'decode.runs[].record_ms': 3,
  'decode.runs[].wait_ms': 3,
  'decode.dispatches.target_per_layer': 3,
  'decode.dispatches.target_per_step': 3,
  'decode.dispatches.draft_per_layer': 3,
  'decode.dispatches.draft_per_step': 3,
  'decode.runs[].spec_tok_s_range': 3,
  'ttft.restored_ms': 3,
  'ttft.restored_ratio': 3,
  'ttft.shape.name': 3,
  'ttft.shape.prefix_tokens': 3,
  'ttft.shape.cold_ms': 3,
  'ttft.shape.restored_ms': 3,
  'ttft.shape.restored_ratio': 3,
  'shapes.eagle[].target': 4,
  'shapes.eagle[].draft_vocab': 4,
  'shapes.eagle[].head_step_ms': 4,
  'shapes.eagle[].target_decode_ms': 4,
  'shapes.eagle[].head_step_ratio': 4,
  'shapes.eagle[].predicted': 4,
  'decode.runs[].tree': 4,
  'decode.eagle.head_step_ms': 4,
  'decode.eagle.head_step_ratio': 4,
  'decode.eagle.speedup': 4,
  'decode.eagle.acceptance_rate': 4,
  'decode.eagle.mean_accepted_length': 4,
  'ttft.long[].shape': 5,
  'ttft.long[].prefix_tokens': 5,
  'ttft.long[].cold_ms': 5,
  'ttft.long[].warm_ms': 5,
  'ttft.long[].typeahead_ms': 5,
  'ttft.long[].warm_ratio': 5,
  'ttft.long[].typeahead_ratio': 5,
  'ttft.long[].decode_step_ms': 5,
  'ttft.long[].decode_step_ratio': 5,
  'decode.runs[].readback_bytes_per_token': 6,
  'shapes.eagle[].layout': 7,
  'decode.runs[].submissions_per_step': 8,
  'kernels.linear[].threads': 9,
  'kernels.linear[].lanes_by': 9,
  'decode.runs[].tree_width': 10,
  'kernels.linear[].two_rows': 11,
  'decode.runs[].record_ahead': 13,
  'decode.runs[].steps_ahead': 13,
  'decode.mtp.target': 13,
  'decode.mtp.target_step_ms': 13,
  'decode.mtp.head_step_ms': 13,
  'decode.mtp.head_step_ratio': 13,
  'decode.mtp.speedup': 13,
  'decode.mtp.acceptance_rate': 13,
  'decode.mtp.mean_accepted_length': 13,
  'decode.runs[].mean_draft_length': 14,
  'decode.eagle.head_dispatches_per_step': 15,
  'decode.mtp.head_dispatches_per_step': 15,
  'decode.runs[].constrained': 16,
  'decode.runs[].forced_share': 17,
  'kernels.linear[].split_groups': 18,
  'kernels.linear[].variant': 19,
  'kernels.linear[].rows_a_thread': 20,
  'kernels.attention[].shape': 21,
  'kernels.attention[].heads': 21,
  'kernels.attention[].kv': 21,
  'kernels.attention[].context': 21,
  'kernels.attention[].tokens': 21,
  'kernels.attention[].variant': 21,
  'kernels.attention[].grouped': 21,
  'kernels.attention[].split': 21,
  'kernels.attention[].ms': 21,
  'kernels.attention[].step_ms': 21,
  'kernels.attention[].kv_gb_s': 21,
  'shapes.pairs[].draft_chain_ms': 21,
  'shapes.pairs[].draft_chain_ratio': 21,
  'shapes.eagle[].head_chain_step_ms': 21,
  'shapes.eagle[].head_chain_ratio': 21,
  'kernels.linear[].units_in_flight': 22,
  'decode.runs[].submit_ms': 23,
  'decode.runs[].gpu_ms': 24,
  'decode.runs[].plain_gpu_ms': 24,
};

/**
 * Every field missing or out of range, as "path: why"; empty for a sound results object. A run
 * of some suites (`--suite`) holds those suites' objects alone: the fields of a suite it did
 * not run are not asked for.
 */
export function checkResults(results: unknown): string[] {
  const problems: string[] = [];
  const version = (results as { schema?: unknown } | null)?.schema;
  const ran = (suite: string) => (results as Record<string, unknown> | null)?.[suite] !== undefined;
  for (const [path, kind] of Object.entries(RESULT_FIELDS)) {
    if (typeof version === 'number' && version < (FIELDS_SINCE[path] ?? 0)) continue;
    const top = path.split('.')[0];
    if (path.includes('.') && top !== 'device' && !ran(top)) continue;
    for (const { where, value } of valuesAt(results, path)) {
      if (value === undefined) problems.push(`${where}: missing`);
      else if (!fits(kind, value))
        problems.push(`${where}: ${JSON.stringify(value)} is not ${kind === 'k' ? 'a draft length' : `a ${kind}`}`);
    }
  }
  return problems;
}

/**
 * What sets a linear kernel's timing apart from the profile's own kernel, as the CLI's summary
 * and the page name it: " (one row a thread)", " (whole words)" and the like, or nothing.
 */
export function variantNote(linear: {
  lanes_by: string;
  two_rows?: boolean;
  split_groups?: boolean;
  variant?: string;
}): string {
  if (linear.variant !== undefined) return linear.variant === 'profile' ? '' : ` (${linear.variant})`;
  // Results before schema 19, whose profile summed one row a thread at decode.
  if (linear.lanes_by === 'q4 words') return ' (lanes by q4 words)';
  if (linear.two_rows) return ' (two rows a thread)';
  // A quantized layer's lanes taking whole words (results before schema 18 do not say).
  return linear.lanes_by === 'f16 words' && linear.split_groups === false ? ' (whole words)' : '';
}
