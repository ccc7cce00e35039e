/**
 * The Models panel's picker: the bundled models, then every model of the catalogue Tandem runs,
 * each with the GPU memory it needs and the draft that comes with it (the catalogue's
 * suggestion), and the ones it does not run listed apart with the reason. Choosing one fills
 * the model and draft fields; Load models loads them.
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
    } else {
      target.value = chosen;
      draft.value = ''; // the catalogue's own draft
    }
  };
}
