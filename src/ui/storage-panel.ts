/**
 * The stored-models panel: the model folders this browser keeps (src/loader/model-store.ts),
 * with their size, file count and checksums, and a button to delete each.
 */

import { deleteStoredModel, listStoredModels } from '../loader/model-store';

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
    const name = new URL(model.folder).pathname.replace(/\/$/, '').split('/').pop() ?? model.folder;
    const size = `${(model.bytes / 2 ** 20).toFixed(1)} MB, ${model.files.length} files`;
    const remove = Object.assign(document.createElement('button'), {
      className: 'secondary',
      textContent: 'Delete',
      type: 'button',
    });
    remove.dataset.testid = 'delete-model';
    remove.addEventListener('click', async () => {
      await deleteStoredModel(model.folder);
      await showStoredModels();
    });
    item.append(Object.assign(document.createElement('span'), { textContent: `${name} · ${size}` }), remove);
    list.append(item);
  }
}
