/**
 * The GPU panel: what adapter the page found (vendor, architecture, features, limits), or,
 * without WebGPU, what the user can do to get it.
 */

import type { GpuInfo } from '../gpu/device';

export function showGpu(panel: HTMLElement, info: GpuInfo): void {
  const status = panel.querySelector('[data-testid="gpu-status"]') as HTMLElement;
  status.textContent = `${info.vendor} / ${info.architecture}${info.description ? ` (${info.description})` : ''}`;
  status.dataset.state = 'ready';

  const facts = document.createElement('dl');
  facts.className = 'facts';
  const add = (name: string, value: string, testId: string) => {
    const dt = document.createElement('dt');
    // A limit's camel-case name may break before each capital, not inside its words.
    for (const [i, word] of name.split(/(?=[A-Z])/).entries()) {
      if (i > 0) dt.append(document.createElement('wbr'));
      dt.append(word);
    }
    const dd = document.createElement('dd');
    dd.textContent = value;
    dd.dataset.testid = testId;
    facts.append(dt, dd);
  };
  add('Vendor', info.vendor, 'gpu-vendor');
  add('Architecture', info.architecture, 'gpu-architecture');
  add('Features', info.features.join(', ') || 'none', 'gpu-features');
  for (const [name, value] of Object.entries(info.limits)) add(name, formatLimit(value), `gpu-limit-${name}`);
  panel.append(facts);
}

export function showNoGpu(panel: HTMLElement, error: Error): void {
  const status = panel.querySelector('[data-testid="gpu-status"]') as HTMLElement;
  status.textContent = error.message;
  status.classList.add('error');
  status.dataset.state = 'unavailable';
  status.dataset.error = error.name;
}

function formatLimit(value: number): string {
  if (value >= 1 << 20 && value % (1 << 20) === 0) return `${value / (1 << 20)} MiB`;
  return String(value);
}
