/** The settings panel, read when a message is sent, and kept in this browser for the next visit. */

import type { Catalogue } from '../loader/catalogue';
import { type DraftLength, parseDraftLength } from '../speculative/draft-length';
import type { DraftKind } from '../speculative/draft-source';

const input = <T extends HTMLElement>(id: string) => document.querySelector(`[data-testid="${id}"]`) as T;

export interface ChatSettings {
  system: string;
  draft: DraftKind;
  draftLength: DraftLength;
  /** Depths with leaves beside the chain's first drafts: a token tree (0: a chain). */
  draftTree: number;
  /** Leaves at each of those depths. */
  draftTreeWidth: number;
  temperature: number;
  maxTokens: number;
}

/** Fields kept across visits (the models, and so the draft source, are chosen at each load). */
const KEPT = ['system-prompt', 'speculative', 'draft-length', 'draft-tree', 'temperature', 'max-tokens'];
const SETTINGS_KEY = 'tandem-settings';

/** Restores the settings this browser used last, and keeps them as they change. */
export function keepSettings(): void {
  let saved: Record<string, unknown> = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}');
  } catch {
    // Storage refused or the entry damaged: the page's defaults.
  }
  const save = () => {
    const values = Object.fromEntries(
      KEPT.map((id) => {
        const field = input<HTMLInputElement>(id);
        return [id, field.type === 'checkbox' ? field.checked : field.value];
      }),
    );
    try {
      localStorage.setItem(SETTINGS_KEY, JSON.stringify(values));
    } catch {
      // Not kept; nothing else is lost.
    }
  };
  for (const id of KEPT) {
    const field = input<HTMLInputElement>(id);
    const value = saved[id];
    if (field.type === 'checkbox' && typeof value === 'boolean') field.checked = value;
    else if (field.type !== 'checkbox' && typeof value === 'string') field.value = value;
    field.addEventListener('input', save);
    field.addEventListener('change', save);
  }
  for (const id of Object.keys(LIMITED)) input(id).addEventListener('input', () => checkSettings());
  input<HTMLSelectElement>('draft-source').addEventListener('change', (event) => {
    (event.target as HTMLSelectElement).dataset.chosen = 'yes'; // the user's choice outlives a reload of the models
  });
}

/** Settings whose values have limits, with the words that state them. */
const LIMITED: Record<string, string> = {
  temperature: 'Temperature is a number from 0 to 2.',
  'max-tokens': 'Max tokens is a whole number from 1 to 1024.',
};

/**
 * Checks every setting with limits, marks the ones out of them and says why beside them;
 * returns the messages (none: all good).
 */
export function checkSettings(): string[] {
  const errors: string[] = [];
  for (const [id, message] of Object.entries(LIMITED)) {
    const field = input<HTMLInputElement>(id);
    const valid = field.value.trim() !== '' && field.checkValidity();
    field.setAttribute('aria-invalid', String(!valid));
    const note = document.querySelector(`[data-testid="${id}-error"]`) as HTMLElement;
    note.hidden = valid;
    note.textContent = valid ? '' : message;
    if (!valid) errors.push(message);
  }
  return errors;
}

/**
 * Settings that depend on others: the draft's source, length and tree apply only with
 * speculation on, and "Draft model" only when a draft model or an EAGLE head is loaded (else
 * prompt lookup is chosen).
 */
export function applyDependencies(hasDraftModel: boolean): void {
  const speculative = input<HTMLInputElement>('speculative').checked;
  const source = input<HTMLSelectElement>('draft-source');
  const modelOption = source.querySelector('option[value="model"]') as HTMLOptionElement;
  modelOption.disabled = !hasDraftModel;
  modelOption.textContent = hasDraftModel ? 'Draft model or EAGLE head' : 'Draft model (none loaded)';
  if (!hasDraftModel && source.value === 'model') source.value = 'ngram';
  if (hasDraftModel && !source.dataset.chosen) source.value = 'model';
  source.disabled = !speculative;
  input<HTMLSelectElement>('draft-length').disabled = !speculative;
  input<HTMLSelectElement>('draft-tree').disabled = !speculative;
}

export function readSettings(): ChatSettings {
  const speculative = input<HTMLInputElement>('speculative').checked;
  const length = input<HTMLSelectElement>('draft-length').value;
  return {
    system: input<HTMLTextAreaElement>('system-prompt').value.trim(),
    draft: speculative ? (input<HTMLSelectElement>('draft-source').value as DraftKind) : 'none',
    draftLength: parseDraftLength(length),
    ...draftTree(input<HTMLSelectElement>('draft-tree').value),
    temperature: Math.max(0, Number(input<HTMLInputElement>('temperature').value) || 0),
    maxTokens: Math.max(1, Math.round(Number(input<HTMLInputElement>('max-tokens').value) || 160)),
  };
}

/** The Draft tree setting: "D" (one leaf at each of D depths) or "DxW" (W leaves at each). */
function draftTree(value: string): { draftTree: number; draftTreeWidth: number } {
  const [depths, width] = value.split('x').map(Number);
  return { draftTree: depths || 0, draftTreeWidth: width || 1 };
}

/** The models to load: folder URLs or model ids, as the Models panel has them. */
export function modelChoice(): { target: string; draft: string } {
  return {
    target: input<HTMLInputElement>('target-url').value.trim(),
    draft: input<HTMLInputElement>('draft-url').value.trim(),
  };
}

/** `&context=N` in the page's address asks for a context of N tokens (by default the engine chooses). */
export function addressContext(): number | undefined {
  const value = Number(new URLSearchParams(location.search).get('context'));
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * The page's address may choose the models: `?model=<id or folder>&draft=<...>`, and
 * `&app-config=<URL of an appConfig JSON>` for a catalogue of the site's own.
 */
export async function applyAddress(catalogueIds: string[]): Promise<Catalogue | undefined> {
  const query = new URLSearchParams(location.search);
  const model = query.get('model');
  if (model) {
    input<HTMLInputElement>('target-url').value = model;
    input<HTMLInputElement>('draft-url').value = query.get('draft') ?? '';
  }
  const appConfigUrl = query.get('app-config');
  const appConfig = appConfigUrl ? ((await (await fetch(appConfigUrl)).json()) as Catalogue) : undefined;
  const ids = appConfig ? appConfig.model_list.map((m) => m.model_id) : catalogueIds;
  input<HTMLDataListElement>('model-ids').replaceChildren(
    ...ids.map((id) => Object.assign(document.createElement('option'), { value: id })),
  );
  return appConfig;
}
