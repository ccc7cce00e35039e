/**
 * The storage panels: the model folders this browser keeps (src/loader/model-store.ts), with
 * their size, file count and checksums, and the prompts the prefix store keeps; a button to
 * delete each.
 */

import { originDirectory } from '../cache/file-directory';
import { deleteStoredPrefix, entryBytes, listStoredPrefixes, PREFIX_DIRECTORY } from '../cache/prefix-store';
import { shortName } from '../engine/load-progress';
import { deleteStoredModel, listStoredModels } from '../loader/model-store';
import { readableSize } from '../util/bytes';

export async function showStoredModels(): Promise<void> {
  const list = document.querySelector('[data-testid="stored-models"]') as HTMLElement;
  const models = await listStoredModels();
  list.replaceChildren();
  if (models.length === 0) {
    list.append(Object.assign(document.createElement('li'), { className: 'note', textContent: 'None yet.' }));
    return;
  }
  for (const model of models) {
    const item = document.createElement('li');
    item.dataset.testid = 'stored-model';
    item.dataset.folder = model.folder;
    item.title = model.files.map((f) => `${f.url.slice(model.folder.length)}  sha256 ${f.sha256}`).join('\n');
    const name = shortName(model.folder);
    const size = `${readableSize(model.bytes)}, ${model.files.length} files`;
    const remove = Object.assign(document.createElement('button'), {
      className: 'secondary',
      textContent: 'Delete',
      type: 'button',
    });
    remove.dataset.testid = 'delete-model';
    remove.setAttribute('aria-label', `Delete the stored model ${name}`);
    remove.addEventListener('click', async () => {
      await deleteStoredModel(model.folder);
      await showStoredModels();
    });
    item.append(Object.assign(document.createElement('span'), { textContent: `${name} · ${size}` }), remove);
    list.append(item);
  }
}

/**
 * The stored-prompts panel: the prefixes the prefix store keeps on disk (src/cache/prefix-store.ts),
 * with their start, length and size, and a button to delete each.
 */
export async function showStoredPrefixes(): Promise<void> {
  const list = document.querySelector('[data-testid="stored-prefixes"]') as HTMLElement;
  const directory = await originDirectory(PREFIX_DIRECTORY);
  const prefixes = directory ? await listStoredPrefixes(directory, false).catch(() => []) : [];
  list.replaceChildren();
  if (!directory || prefixes.length === 0) {
    const text = directory ? 'None yet.' : 'This browser keeps no files for this page.';
    list.append(Object.assign(document.createElement('li'), { className: 'note', textContent: text }));
    return;
  }
  for (const prefix of prefixes.sort((a, b) => b.lastUsed - a.lastUsed)) {
    const item = document.createElement('li');
    item.dataset.testid = 'stored-prefix';
    item.title = `${prefix.modelName}\nstored ${prefix.stored}\nsha256 ${prefix.sha256}`;
    const start = prefix.preview.length > 48 ? `${prefix.preview.slice(0, 48)}…` : prefix.preview;
    const size = `${prefix.tokens.length} tokens, ${readableSize(entryBytes(prefix))}`;
    const remove = Object.assign(document.createElement('button'), {
      className: 'secondary',
      textContent: 'Delete',
      type: 'button',
    });
    remove.dataset.testid = 'delete-prefix';
    remove.setAttribute('aria-label', `Delete the stored prompt “${start}”`);
    remove.addEventListener('click', async () => {
      await deleteStoredPrefix(directory, prefix.id);
      await showStoredPrefixes();
    });
    item.append(Object.assign(document.createElement('span'), { textContent: `“${start}” · ${size}` }), remove);
    list.append(item);
  }
}
