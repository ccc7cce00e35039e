/**
 * Conversations kept in this browser (IndexedDB, through idb-keyval), so a reload or a visit
 * tomorrow finds them: each with its turns, a title (its first question) and when it changed.
 * Storage is a convenience: where the browser refuses, the page works without it.
 */

import { createStore, del, get, set, values } from 'idb-keyval';
import type { Turn } from './conversation';

export interface SavedConversation {
  id: string;
  title: string;
  /** When it last changed (ms since the epoch). */
  updated: number;
  turns: Turn[];
}

const store = () => createStore('tandem-chat', 'conversations');

export function newConversationId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Keeps `turns` as conversation `id` (nothing is kept for a conversation with no turns). */
export async function saveConversation(id: string, turns: readonly Turn[]): Promise<void> {
  if (turns.length === 0) return;
  const first = turns.find((t) => t.role === 'user')?.content ?? '';
  const title = first.length > 60 ? `${first.slice(0, 60)}…` : first;
  await set(id, { id, title, updated: Date.now(), turns: [...turns] } satisfies SavedConversation, store()).catch(
    () => undefined,
  );
}

/** Every kept conversation, the latest first. */
export async function listConversations(): Promise<SavedConversation[]> {
  const all = await values<SavedConversation>(store()).catch(() => []);
  return all.sort((a, b) => b.updated - a.updated);
}

export function loadConversation(id: string): Promise<SavedConversation | undefined> {
  return get<SavedConversation>(id, store()).catch(() => undefined);
}

export function deleteConversation(id: string): Promise<void> {
  return del(id, store()).catch(() => undefined);
}
