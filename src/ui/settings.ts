/** The settings panel, read when a message is sent, and kept in this browser for the next visit. */

import type { Catalogue } from '../loader/catalogue';
import { type DraftLength, parseDraftLength } from '../speculative/draft-length';
import type { DraftKind } from '../speculative/draft-source';

const input = <T extends HTMLElement>(id: string) => document.querySelector(`[data-testid="${id}"]`) as T;

export interface ChatSettings {
  system: string;
  draft: DraftKind;
  draftLength: DraftLength;
  temperature: number;
  maxTokens: number;
}

/** Fields kept across visits (the models are chosen by the Models panel or the address). */
const KEPT = ['system-prompt', 'speculative', 'draft-source', 'draft-length', 'temperature', 'max-tokens'];
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
}

export function readSettings(): ChatSettings {
  const speculative = input<HTMLInputElement>('speculative').checked;
  const length = input<HTMLSelectElement>('draft-length').value;
  return {
    system: input<HTMLTextAreaElement>('system-prompt').value.trim(),
    draft: speculative ? (input<HTMLSelectElement>('draft-source').value as DraftKind) : 'none',
    draftLength: parseDraftLength(length),
    temperature: Math.max(0, Number(input<HTMLInputElement>('temperature').value) || 0),
    maxTokens: Math.max(1, Math.round(Number(input<HTMLInputElement>('max-tokens').value) || 160)),
  };
}

/** The models to load: folder URLs or model ids, as the Models panel has them. */
export function modelChoice(): { target: string; draft: string } {
  return {
    target: input<HTMLInputElement>('target-url').value.trim(),
    draft: input<HTMLInputElement>('draft-url').value.trim(),
  };
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
