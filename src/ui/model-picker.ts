/**
 * The Models panel's picker: the bundled models, then every model of the catalogue Tandem runs,
 * each with the GPU memory it needs and the draft that comes with it (the catalogue's
 * suggestion), and the ones it does not run listed apart with the reason. Choosing one fills
 * the model and draft fields and says how much it downloads (the sum of the weight shards its
 * tensor-cache.json lists, model and draft); Load models loads them.
 */

import { type Catalogue, type CatalogueModel, catalogue } from '../loader/catalogue';

const field = <T extends HTMLElement>(id: string) => document.querySelector(`[data-testid="${id}"]`) as T;

/** The fixture pair served with the page. */
const BUNDLED = { target: '/models/tandem-target', draft: '/models/tandem-draft' };

const label = (model: CatalogueModel) =>
  [
    model.id,
    model.vramMB ? `needs ${(model.vramMB / 1024).toFixed(1)} GB of GPU memory` : undefined,
    model.draft ? `draft ${model.draft}` : 'prompt lookup drafts',
  ]
    .filter(Boolean)
    .join(' · ');

/** Bytes of the weight shards an MLC folder lists, or undefined when its record cannot be read. */
async function weightBytes(folderUrl: string): Promise<number | undefined> {
  for (const record of ['tensor-cache.json', 'ndarray-cache.json']) {
    try {
      const response = await fetch(new URL(record, folderUrl));
      if (!response.ok) continue;
      const json = (await response.json()) as { records?: { nbytes?: number }[] };
      return (json.records ?? []).reduce((sum, shard) => sum + (shard.nbytes ?? 0), 0);
    } catch {
      // Not this record, or no network: the size stays unknown.
    }
  }
  return undefined;
}

/** Says how much `models` download, once their records are read. */
async function showSize(models: CatalogueModel[]): Promise<void> {
  const note = field('model-size');
  note.textContent = 'Download size: reading…';
  const sizes = await Promise.all(models.map((m) => weightBytes(m.url)));
  const known = sizes.every((s) => s !== undefined);
  const total = sizes.reduce<number>((sum, s) => sum + (s ?? 0), 0);
  note.textContent = known
    ? `Download: ${(total / 2 ** 20).toFixed(1)} MB of weights${models.length > 1 ? ' (model and draft)' : ''}.`
    : 'Download size: unknown until the download starts.';
}

export function showModelPicker(appConfig?: Catalogue): void {
  const picker = field<HTMLSelectElement>('model-picker');
  const models = catalogue(appConfig);
  const option = (value: string, text: string, disabled = false) =>
    Object.assign(document.createElement('option'), { value, textContent: text, disabled });
  const runs = models.filter((m) => m.supported);
  const refused = models.filter((m) => !m.supported);
  const bundled = document.createElement('optgroup');
  bundled.label = 'Bundled with this page';
  bundled.append(option('bundled', 'Tandem fixture pair (tandem-target, tandem-draft) · 6 MB'));
  const supported = document.createElement('optgroup');
  supported.label = "web-llm's catalogue";
  supported.append(...runs.map((m) => option(m.id, label(m))));
  const unsupported = document.createElement('optgroup');
  unsupported.label = 'Not run by Tandem';
  unsupported.append(...refused.map((m) => option(m.id, `${m.id}: ${m.reason}`, true)));
  picker.replaceChildren(option('', 'Choose a model…'), bundled, supported, ...(refused.length ? [unsupported] : []));
  picker.onchange = () => {
    const chosen = picker.value;
    if (!chosen) return;
    const target = field<HTMLInputElement>('target-url');
    const draft = field<HTMLInputElement>('draft-url');
    if (chosen === 'bundled') {
      target.value = BUNDLED.target;
      draft.value = BUNDLED.draft;
      field('model-size').textContent = 'Download: 6.4 MB, once; kept for the next visit.';
    } else {
      target.value = chosen;
      draft.value = ''; // the catalogue's own draft
      const model = models.find((m) => m.id === chosen);
      const withDraft = models.find((m) => m.id === model?.draft);
      if (model) void showSize(withDraft ? [model, withDraft] : [model]);
    }
  };
}
