/** The settings panel, read when a message is sent. */

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

export function modelUrls(): { target: string; draft: string } {
  return { target: input<HTMLInputElement>('target-url').value, draft: input<HTMLInputElement>('draft-url').value };
}
