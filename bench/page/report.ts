/**
 * The benchmark page's report: a summary table with one column per results file (this run and
 * any loaded for comparison, each removable), what each figure means beneath it, charts, and the
 * detail tables of the first. Medians come with the spread of the runs behind them; predicted
 * figures are labelled as such wherever they appear.
 */

import type { BenchResults } from '../run';
import { variantNote } from '../schema';
import { type BarGroup, barChart, lineChart, type Series } from './charts';

type Cell = string | number;

function table(headers: string[], rows: Cell[][], testId: string, caption?: string): HTMLElement {
  const t = document.createElement('table');
  t.dataset.testid = testId;
  if (caption) t.createCaption().textContent = caption;
  const head = t.createTHead().insertRow();
  for (const h of headers) head.append(Object.assign(document.createElement('th'), { textContent: h }));
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    row.forEach((cell, i) => {
      const td = i === 0 ? Object.assign(document.createElement('th'), { scope: 'row' }) : tr.insertCell();
      if (i === 0) tr.append(td);
      td.textContent = typeof cell === 'number' ? formatNumber(cell) : cell;
      if (typeof cell === 'number') td.className = 'num';
    });
  }
  return t;
}

/** Whether two results objects are the same run (loaded twice, say). */
export function sameRun(a: BenchResults, b: BenchResults): boolean {
  return a.date === b.date && a.environment === b.environment && JSON.stringify(a.device) === JSON.stringify(b.device);
}

/** What the summary's figures mean, shown beneath it. */
const GLOSSARY: [string, string][] = [
  [
    'Share of copy',
    "The matrix-vector kernel's bandwidth as a share of a plain buffer copy's on this GPU: 1 means it reads weights as fast as the GPU moves memory.",
  ],
  [
    'Speculative speed-up',
    'Speculative tokens/s over plain tokens/s on the fixture pair, each the median of several runs; the range after it is the slowest and fastest plain run, so a speed-up within that swing is noise.',
  ],
  ['Acceptance rate', 'The share of drafted tokens the target kept.'],
  [
    'Tokens per target pass',
    'Tokens produced by each verify pass of the target: the accepted drafts and the one the target adds.',
  ],
  [
    'TTFT cold / warm prefix',
    'Time to the first token of a reply with nothing cached, and with the 1,000-token system prompt already cached.',
  ],
  [
    'TTFT typed-ahead',
    'With the system prompt and all but the last few words of the question computed while the user typed: on submit only those remain.',
  ],
  [
    'TTFT read from disk',
    'With the system prompt stored on disk by an earlier visit (the prefix store), read and checked instead of computed: what a reload costs.',
  ],
  [
    'Predicted',
    'Real model shapes run with random weights: their costs are measured, their acceptance is not, so their speed-ups are computed from the costs at stated acceptance rates.',
  ],
];

function glossary(): HTMLElement {
  const list = document.createElement('dl');
  list.className = 'glossary';
  list.dataset.testid = 'bench-glossary';
  for (const [term, meaning] of GLOSSARY) {
    list.append(
      Object.assign(document.createElement('dt'), { textContent: term }),
      Object.assign(document.createElement('dd'), { textContent: meaning }),
    );
  }
  return list;
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en');
  return Number(value.toPrecision(3)).toString();
}

/** A median with the range of the runs behind it, where the results have one. */
const withRange = (median: number, range?: [number, number]) =>
  range ? `${formatNumber(median)} (${formatNumber(range[0])}–${formatNumber(range[1])})` : median;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const ms = (value: number) => `${formatNumber(value)} ms`;
const times = (value: number) => `${formatNumber(value)}x`;

/** A short name for a results object: the adapter (its architecture, else its device name), and the date. */
export function label(r: BenchResults): string {
  const { vendor, architecture, device } = r.device;
  const model = architecture && architecture !== 'unknown' ? architecture : device;
  return `${vendor || 'GPU'} ${model || ''} · ${r.date.slice(0, 10)}${r.quick ? ' · quick' : ''}`.replace(/\s+/g, ' ');
}

function section(title: string, ...children: HTMLElement[]): HTMLElement {
  const s = document.createElement('section');
  s.className = 'report-section';
  s.append(Object.assign(document.createElement('h2'), { textContent: title }), ...children);
  return s;
}

function summary(all: BenchResults[]): HTMLElement {
  const row = (name: string, pick: (r: BenchResults) => Cell): Cell[] => [name, ...all.map(pick)];
  const f32 = (r: BenchResults) => r.kernels.linear.find((l) => l.dtype === 'F32')?.fraction_of_copy ?? Number.NaN;
  const rows = [
    row('Environment', (r) => r.environment),
    row('Copy bandwidth', (r) => `${formatNumber(r.kernels.copy_gb_s)} GB/s`),
    row('Matrix-vector f32: share of copy', (r) => formatNumber(f32(r))),
    row('Fixture target: decode', (r) => `${formatNumber(r.model.decode_tok_s)} tok/s`),
    row('Fixture target: prefill', (r) => `${formatNumber(r.model.prefill_tok_s)} tok/s`),
    row('Verify 5 tokens / decode 1', (r) => times(r.model.verify5_ratio)),
    row('Speculative speed-up (measured, auto)', (r) => {
      const run = r.decode.runs.find((x) => x.draft === 'model' && x.draft_length === 'auto' && x.temperature === 0);
      const range = run?.plain_tok_s_range; // results of schema 2 have none
      return range ? `${times(r.decode.speedup)} (plain ${range[0]}–${range[1]} tok/s)` : times(r.decode.speedup);
    }),
    row('Acceptance rate', (r) => formatNumber(r.decode.acceptance_rate)),
    row('Tokens per target pass', (r) => formatNumber(r.decode.mean_accepted_length)),
    row('Dispatches per decode step (target, a layer)', (r) =>
      r.decode.dispatches ? `${r.decode.dispatches.target_per_step} (${r.decode.dispatches.target_per_layer})` : '–',
    ),
    row('TTFT cold', (r) => ms(r.ttft.cold_ms)),
    row('TTFT warm prefix', (r) => ms(r.ttft.warm_ms)),
    row('TTFT typed-ahead', (r) => ms(r.ttft.typeahead_ms)),
    // Results of schema 2 have no restored figures.
    row('TTFT read from disk (after a reload)', (r) => (r.ttft.restored_ms ? ms(r.ttft.restored_ms) : '–')),
    row('Real shape: TTFT cold / read from disk', (r) =>
      r.ttft.shape
        ? `${r.ttft.shape.name}, ${r.ttft.shape.prefix_tokens} tokens: ${ms(r.ttft.shape.cold_ms)} / ${ms(r.ttft.shape.restored_ms)}`
        : '–',
    ),
    row('Long prefixes: TTFT cold / warm, decode step', (r) =>
      // Results before schema 5 have none.
      r.ttft.long?.length
        ? r.ttft.long
            .map((l) => `${l.shape}, ${l.prefix_tokens}: ${ms(l.cold_ms)} / ${ms(l.warm_ms)}, ${ms(l.decode_step_ms)}`)
            .join('; ')
        : '–',
    ),
    row('GPU memory (fixture pair + cache)', (r) => mib(r.memory.total_bytes)),
  ];
  const pairs = [...new Set(all.flatMap((r) => r.shapes.pairs.map((p) => p.target)))];
  for (const target of pairs) {
    rows.push(
      row(`${target}: decode`, (r) => {
        const m = r.shapes.models.find((s) => s.name === target);
        return m ? `${formatNumber(m.decode_tok_s)} tok/s` : '–';
      }),
      row(`${target}: predicted speed-up at 0.7`, (r) => {
        const p = r.shapes.pairs.find((s) => s.target === target)?.predicted.find((e) => e.acceptance === 0.7);
        return p ? `${times(p.best_speedup)} (k=${p.best_k}), predicted` : '–';
      }),
    );
  }
  return table(['', ...all.map(label)], rows, 'bench-summary');
}

/** The summary, with a Remove button over each compared run's column. */
function summaryWithRemoval(
  latest: BenchResults | undefined,
  compared: BenchResults[],
  remove: (run: BenchResults) => void,
): HTMLElement {
  const all = [...(latest ? [latest] : []), ...compared];
  const t = summary(all);
  const headers = t.querySelectorAll('thead th');
  compared.forEach((run, i) => {
    const button = Object.assign(document.createElement('button'), {
      type: 'button',
      className: 'secondary remove',
      textContent: 'Remove',
    });
    button.setAttribute('aria-label', `Remove ${label(run)} from the comparison`);
    button.dataset.testid = 'remove-run';
    button.addEventListener('click', () => remove(run));
    headers[(latest ? 2 : 1) + i].append(' ', button);
  });
  return t;
}

function charts(all: BenchResults[]): HTMLElement {
  const [first] = all;
  const wrap = document.createElement('div');
  wrap.className = 'charts';
  const source = { ngram: 'lookup', model: 'draft', eagle: 'EAGLE', mtp: 'MTP' } as const;
  const runName = (r: BenchResults['decode']['runs'][number]) =>
    `${source[r.draft]} k=${r.draft_length}${r.tree ? ` tree ${r.tree}x${r.tree_width ?? 1}` : ''}${r.temperature > 0 ? ` T=${r.temperature}` : ''}${r.constrained ? ' JSON' : ''}${r.record_ahead === false ? ' (no recording ahead)' : ''}`;

  const tokS: BarGroup[] = first.decode.runs.map((r) => ({
    label: runName(r),
    values: [
      { name: 'plain', value: r.plain_tok_s, range: r.plain_tok_s_range },
      { name: 'speculative', value: r.spec_tok_s, range: r.spec_tok_s_range },
    ],
  }));
  wrap.append(
    barChart({
      title: 'Tokens/s, plain vs speculative (fixture pair, measured; whiskers: slowest to fastest run)',
      yLabel: 'tokens/s',
      groups: tokS,
      testId: 'chart-tok-s',
    }),
  );

  const speedups: Series[] = all.map((r) => ({
    name: `measured, fixture pair · ${label(r)}`,
    points: r.decode.runs
      .filter((run) => run.draft === 'model' && run.temperature === 0 && typeof run.draft_length === 'number')
      .map((run) => ({ x: run.draft_length as number, y: run.speedup })),
  }));
  for (const pair of first.shapes.pairs) {
    const p = pair.predicted.find((e) => e.acceptance === 0.7) ?? pair.predicted[0];
    speedups.push({
      name: `predicted, ${pair.target} at acceptance ${p.acceptance}`,
      points: p.by_k.map((e) => ({ x: e.k, y: e.speedup })),
      dashed: true,
    });
  }
  wrap.append(
    lineChart({
      title: 'Speed-up vs draft length',
      xLabel: 'draft length k',
      yLabel: 'speed-up',
      series: speedups,
      guide: { y: 1, label: 'no gain' },
      testId: 'chart-speedup',
    }),
  );

  const verify: Series[] = all.map((r) => ({
    name: `fixture target · ${label(r)}`,
    points: r.model.verify.map((v) => ({ x: v.tokens, y: v.ratio })),
  }));
  for (const m of first.shapes.models.filter((s) => s.role === 'target')) {
    verify.push({ name: m.name, points: m.verify.map((v) => ({ x: v.tokens, y: v.ratio })) });
  }
  wrap.append(
    lineChart({
      title: 'Cost of a verify pass over n tokens, relative to one',
      xLabel: 'tokens in the pass',
      yLabel: 'x one-token step',
      series: verify,
      guide: { y: 1, label: 'free (memory-bound ideal)' },
      testId: 'chart-verify',
    }),
  );

  const ttft: BarGroup[] = all.map((r) => ({
    label: label(r),
    values: [
      { name: 'cold', value: r.ttft.cold_ms },
      { name: 'warm prefix', value: r.ttft.warm_ms },
      { name: 'typed-ahead', value: r.ttft.typeahead_ms },
      ...(r.ttft.restored_ms ? [{ name: 'read from disk', value: r.ttft.restored_ms }] : []),
    ],
  }));
  wrap.append(
    barChart({
      title: `Time to first token, ${first.ttft.system_tokens}-token system prompt (log scale)`,
      yLabel: 'ms',
      groups: ttft,
      testId: 'chart-ttft',
      log: true, // cold and typed-ahead differ by 10-100x, and GPUs by as much again
    }),
  );
  return wrap;
}

function details(r: BenchResults): HTMLElement[] {
  const kernels = table(
    ['Kernel', 'Shape', 'ms', 'GB/s', 'share of copy'],
    [
      ['copy', mib(r.kernels.copy_bytes), Number.NaN, r.kernels.copy_gb_s, 1],
      ...r.kernels.linear.map((l): Cell[] => [
        `linear ${l.dtype}${variantNote(l)}`,
        `${l.rows}x${l.k}`,
        l.ms,
        l.gb_s,
        l.fraction_of_copy,
      ]),
      // A layer's attention, its cache read once (results of schema 21 on).
      ...(r.kernels.attention ?? []).map((a): Cell[] => [
        `attention ${a.heads} ${a.kv}${a.variant === 'profile' ? '' : ` (${a.variant})`}`,
        `${a.tokens} after ${a.context}`,
        a.ms,
        a.kv_gb_s,
        a.kv_gb_s / r.kernels.copy_gb_s,
      ]),
    ],
    'bench-kernels',
  );
  const decode = table(
    [
      'Configuration',
      'plain tok/s',
      'speculative tok/s',
      'speed-up',
      'cost model',
      'acceptance',
      'tokens/pass',
      'step ms (record / wait)',
      'GPU ms (plain step)',
      'round trips/token',
    ],
    r.decode.runs.map((run) => [
      // 'auto' with the lengths it drafted on average (results of schema 14 on).
      `${run.draft} k=${run.draft_length}${run.draft_length === 'auto' && run.mean_draft_length ? ` (${formatNumber(run.mean_draft_length)})` : ''}` +
        `${run.tree ? ` tree ${run.tree}x${run.tree_width ?? 1}` : ''} T=${run.temperature}${run.constrained ? ' JSON' : ''}`,
      withRange(run.plain_tok_s, run.plain_tok_s_range),
      withRange(run.spec_tok_s, run.spec_tok_s_range),
      run.speedup,
      run.predicted_speedup,
      run.acceptance_rate,
      run.mean_accepted_length,
      // Results of schema 2 have no step split or round trips.
      run.step_ms
        ? `${formatNumber(run.step_ms)} (${formatNumber(run.record_ms)} / ${formatNumber(run.wait_ms)})`
        : '–',
      // Results of schema 24 on, on a device with timestamp queries.
      run.gpu_ms != null ? `${formatNumber(run.gpu_ms)} (${formatNumber(run.plain_gpu_ms ?? 0)})` : '–',
      run.round_trips_per_token ?? '–',
    ]),
    'bench-decode',
    'Measured on the fixture pair: medians, with the slowest and fastest run in brackets; "cost model" is the speed-up the measured step and verify costs predict for the measured tokens per pass; a step\'s wall time, of which the CPU spent "record" recording and submitting passes and "wait" waiting for results; the GPU\'s busy time in a step, and in a plain step; round trips: GPU-to-CPU readbacks per generated token.',
  );
  const memory = table(
    ['Buffer', 'Bytes'],
    [
      ...r.memory.models.flatMap((m): Cell[][] => [
        [`${m.model}: weights`, mib(m.weight_bytes)],
        [`${m.model}: scratch`, mib(m.scratch_bytes)],
        [`${m.model}: KV per token`, `${m.kv_bytes_per_token} B`],
      ]),
      [
        `prefix cache: ${r.memory.prefix_cache.entries} of ${r.memory.prefix_cache.max_entries} entries`,
        mib(r.memory.prefix_cache.bytes),
      ],
      ['total', mib(r.memory.total_bytes)],
    ],
    'bench-memory',
    `Engine defaults: ${r.memory.context_tokens}-token context, ${mib(r.memory.prefix_cache.budget_bytes)} cache budget.`,
  );
  const shapes = table(
    ['Shape (random weights)', 'role', 'parameters', 'weights', 'prefill tok/s', 'decode ms', 'verify(n) / decode'],
    r.shapes.models.map((m) => [
      m.name,
      m.role,
      `${(m.parameters / 1e6).toFixed(0)} M`,
      mib(m.weight_bytes),
      m.prefill_tok_s,
      m.decode_ms,
      m.verify.length > 1 ? m.verify.map((v) => `${v.tokens}: ${formatNumber(v.ratio)}`).join(', ') : '–',
    ]),
    'bench-shapes',
    `Timings measured at position ${r.shapes.context_tokens}.`,
  );
  const predictions = table(
    ['Pair', 'draft/target step', 'in a chain', ...r.shapes.acceptance_rates.map((a) => `acceptance ${a}`)],
    r.shapes.pairs.map((p) => [
      `${p.target} + ${p.draft}`,
      p.draft_cost_ratio,
      p.draft_chain_ratio ?? Number.NaN,
      ...p.predicted.map((e) => `${times(e.best_speedup)} at k=${e.best_k}`),
    ]),
    'bench-predicted',
    'Predicted, not measured: random weights have no meaningful acceptance, so these apply the measured costs at stated acceptance rates.',
  );
  return [
    section('Kernels', kernels),
    section('Speculative decoding', decode),
    section('Memory', memory),
    section('Real model shapes', shapes, predictions),
  ];
}

/** The report of `latest` (if any) beside `compared` runs; `remove` takes a compared run away. */
export function renderReport(
  container: HTMLElement,
  latest: BenchResults | undefined,
  compared: BenchResults[],
  remove: (run: BenchResults) => void = () => {},
): void {
  container.replaceChildren();
  const all = [...(latest ? [latest] : []), ...compared];
  if (all.length === 0) return;
  container.append(
    section('Summary', summaryWithRemoval(latest, compared, remove), glossary()),
    section('Charts', charts(all)),
    ...details(all[0]),
  );
}
