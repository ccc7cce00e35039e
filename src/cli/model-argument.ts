/**
 * A model as the command line names it. The engine tells a folder from a catalogue id by its
 * form (a slash, or a .gguf name: engine/model-options.ts), as a page must, having no disk to
 * look at. The command line has one: a folder named without a slash (`--target
 * SmolLM2-135M-Instruct` after cloning that repository here) is that folder, not an id to
 * download, and a file that is no GGUF is said to be neither a folder nor a model file.
 */

import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isDraftWord, isFolder } from '../engine/model-options';
import { UsageError } from './usage-error';

/**
 * `value` of `option` as the engine should read it: a folder or GGUF file at `value` (relative
 * to `cwd`) made a path the engine sees as one; anything that is not on disk left as it is (an
 * id, a URL, or a path whose absence the loader reports). Draft words (ngram, mtp, none) stay
 * words, whatever is on disk.
 */
export function modelArgument(option: string, value: string, cwd = process.cwd()): string {
  if (isDraftWord(value) || /^https?:\/\//.test(value)) return value;
  const path = resolve(cwd, value);
  const found = statSync(path, { throwIfNoEntry: false });
  if (!found) return value;
  if (found.isFile() && !/\.gguf$/i.test(value)) {
    throw new UsageError(
      `${option}: ${value} is a file, not a model folder (Hugging Face or MLC) or a .gguf file; ` +
        'name the folder that holds it',
    );
  }
  return isFolder(value) ? value : path;
}
