/**
 * Small SVG charts for the benchmark page: grouped bars (with whiskers for a range, and a log
 * scale for values that span decades) and lines, with axes, a legend and an optional guide
 * line (speed-up 1, for instance). A few dozen points each; no library needed.
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 560;
const HEIGHT = 300;
const PAD = { left: 56, right: 16, top: 16, bottom: 64 };
export const PALETTE = ['#0f766e', '#c2410c', '#4338ca', '#a16207', '#be185d', '#15803d', '#64748b'];

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  /** Drawn dashed: predicted, not measured. */
  dashed?: boolean;
}

export interface BarGroup {
  label: string;
  /** A bar each; `range` ([min, max]) is drawn as a whisker over it. */
  values: { name: string; value: number; range?: [number, number] }[];
}

interface Frame {
  title: string;
  xLabel?: string;
  yLabel: string;
  /** A horizontal line at this y, labelled. */
  guide?: { y: number; label: string };
  /** A logarithmic y axis (decades), for values that span several. */
  log?: boolean;
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Round tick values covering [0, max]. */
export function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  return Array.from({ length: Math.ceil(max / step - 1e-9) + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

function format(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return Number(value.toPrecision(3)).toString();
}

function frame(options: Frame, yMax: number, yMin = yMax) {
  const svg = el('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', class: 'chart' });
  svg.dataset.scale = options.log ? 'log' : 'linear';
  svg.append(el('title', {}, options.title));
  const plot = { x0: PAD.left, x1: WIDTH - PAD.right, y0: HEIGHT - PAD.bottom, y1: PAD.top };
  let y: (v: number) => number;
  let yTicks: number[];
  if (options.log) {
    // Whole decades from below the smallest value to above the largest.
    const lo = Math.floor(Math.log10(Math.max(yMin, 1e-9)));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(yMax, 1e-9))));
    yTicks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
    y = (v: number) => plot.y0 - ((plot.y0 - plot.y1) * (Math.log10(Math.max(v, 10 ** lo)) - lo)) / (hi - lo);
  } else {
    yTicks = ticks(Math.max(yMax, options.guide?.y ?? 0));
    const top = yTicks[yTicks.length - 1];
    y = (v: number) => plot.y0 - ((plot.y0 - plot.y1) * v) / top;
  }
  for (const t of yTicks) {
    svg.append(el('line', { x1: plot.x0, x2: plot.x1, y1: y(t), y2: y(t), class: 'grid' }));
    svg.append(el('text', { x: plot.x0 - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, format(t)));
  }
  svg.append(
    el(
      'text',
      { x: 14, y: (plot.y0 + plot.y1) / 2, transform: `rotate(-90 14 ${(plot.y0 + plot.y1) / 2})`, class: 'axis' },
      options.yLabel,
    ),
  );
  if (options.xLabel) {
    svg.append(
      el(
        'text',
        { x: (plot.x0 + plot.x1) / 2, y: HEIGHT - 30, 'text-anchor': 'middle', class: 'axis' },
        options.xLabel,
      ),
    );
  }
  return { svg, plot, y };
}

function guide(svg: SVGSVGElement, plot: { x0: number; x1: number }, y: number, label: string) {
  svg.append(el('line', { x1: plot.x0, x2: plot.x1, y1: y, y2: y, class: 'guide' }));
  svg.append(el('text', { x: plot.x1 - 4, y: y - 5, 'text-anchor': 'end', class: 'guide-label' }, label));
}

function legend(names: { name: string; color: string; dashed?: boolean }[]): HTMLElement {
  const list = document.createElement('ul');
  list.className = 'legend';
  for (const { name, color, dashed } of names) {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = dashed ? 'swatch dashed' : 'swatch';
    swatch.style.borderColor = color;
    item.append(swatch, name);
    list.append(item);
  }
  return list;
}

function figure(title: string, svg: SVGSVGElement, key: HTMLElement, testId: string): HTMLElement {
  const fig = document.createElement('figure');
  fig.className = 'chart-figure';
  fig.dataset.testid = testId;
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  fig.append(caption, svg, key);
  return fig;
}

export function lineChart(options: Frame & { series: Series[]; testId: string }): HTMLElement {
  const xs = options.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = options.series.flatMap((s) => s.points.map((p) => p.y));
  const { svg, plot, y } = frame(options, Math.max(0, ...ys));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const x = (v: number) => plot.x0 + ((plot.x1 - plot.x0) * (v - xMin)) / Math.max(1e-9, xMax - xMin);
  for (const value of [...new Set(xs)].sort((a, b) => a - b)) {
    svg.append(el('text', { x: x(value), y: plot.y0 + 16, 'text-anchor': 'middle', class: 'tick' }, format(value)));
  }
  if (options.guide) guide(svg, plot, y(options.guide.y), options.guide.label);
  options.series.forEach((series, i) => {
    const color = PALETTE[i % PALETTE.length];
    const points = series.points.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
    svg.append(el('polyline', { points, stroke: color, class: series.dashed ? 'line dashed' : 'line' }));
    for (const p of series.points) {
      const dot = el('circle', { cx: x(p.x), cy: y(p.y), r: 3, fill: color });
      dot.append(el('title', {}, `${series.name}: ${format(p.x)} → ${format(p.y)}`));
      svg.append(dot);
    }
  });
  const key = legend(
    options.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length], dashed: s.dashed })),
  );
  return figure(options.title, svg, key, options.testId);
}

export function barChart(options: Frame & { groups: BarGroup[]; testId: string }): HTMLElement {
  const names = [...new Set(options.groups.flatMap((g) => g.values.map((v) => v.name)))];
  const all = options.groups.flatMap((g) => g.values.flatMap((v) => [v.value, ...(v.range ?? [])]));
  const { svg, plot, y } = frame(options, Math.max(0, ...all), Math.min(...all.filter((v) => v > 0)));
  const groupWidth = (plot.x1 - plot.x0) / Math.max(1, options.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, names.length);
  options.groups.forEach((group, g) => {
    const left = plot.x0 + g * groupWidth + groupWidth * 0.1;
    for (const { name, value, range } of group.values) {
      const i = names.indexOf(name);
      const bar = el('rect', {
        x: left + i * barWidth,
        y: y(value),
        width: Math.max(1, barWidth - 2),
        height: Math.max(0, plot.y0 - y(value)),
        fill: PALETTE[i % PALETTE.length],
      });
      bar.append(el('title', {}, `${group.label}, ${name}: ${format(value)}`));
      const centre = left + i * barWidth + (barWidth - 2) / 2;
      const top = range ? Math.min(y(range[1]), y(value)) : y(value);
      svg.append(bar, el('text', { x: centre, y: top - 4, 'text-anchor': 'middle', class: 'value' }, format(value)));
      if (range) {
        const whisker = el('line', { x1: centre, x2: centre, y1: y(range[0]), y2: y(range[1]), class: 'whisker' });
        whisker.append(el('title', {}, `${group.label}, ${name}: ${format(range[0])} to ${format(range[1])}`));
        svg.append(whisker);
      }
    }
    const labelX = left + groupWidth * 0.4;
    svg.append(
      el(
        'text',
        {
          x: labelX,
          y: plot.y0 + 14,
          'text-anchor': 'end',
          transform: `rotate(-30 ${labelX} ${plot.y0 + 14})`,
          class: 'tick',
        },
        group.label,
      ),
    );
  });
  if (options.guide) guide(svg, plot, y(options.guide.y), options.guide.label);
  const key = legend(names.map((name, i) => ({ name, color: PALETTE[i % PALETTE.length] })));
  return figure(options.title, svg, key, options.testId);
}
