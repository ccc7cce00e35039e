/**
 * Model arguments of the command line: what is on disk is a path (a folder named without a
 * slash included), what is not stays an id, and a file that is no model is a usage mistake.
 */

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFolder } from '../engine/model-options';
import { modelArgument } from './model-argument';

describe('modelArgument', () => {
  const here = mkdtempSync(join(tmpdir(), 'tandem-args-'));
  mkdirSync(join(here, 'SmolLM2-135M-Instruct'));
  mkdirSync(join(here, 'mtp'));
  writeFileSync(join(here, 'model.safetensors'), '');
  writeFileSync(join(here, 'tiny.gguf'), '');

  it('makes a folder named without a slash a path the engine reads as a folder', () => {
    const path = modelArgument('--target', 'SmolLM2-135M-Instruct', here);
    expect(path).toBe(join(here, 'SmolLM2-135M-Instruct'));
    expect(isFolder(path)).toBe(true);
  });

  it('leaves paths, GGUF files, URLs, ids and draft words as they are', () => {
    expect(modelArgument('--target', './SmolLM2-135M-Instruct', here)).toBe('./SmolLM2-135M-Instruct');
    expect(modelArgument('--target', 'tiny.gguf', here)).toBe('tiny.gguf');
    expect(modelArgument('--target', join(here, 'mtp'), '/')).toBe(join(here, 'mtp'));
    expect(modelArgument('--target', 'https://example.com/model', here)).toBe('https://example.com/model');
    expect(modelArgument('--target', 'Llama-3.2-1B-Instruct-q4f16_1-MLC', here)).toBe(
      'Llama-3.2-1B-Instruct-q4f16_1-MLC',
    );
    expect(modelArgument('--draft', 'mtp', here)).toBe('mtp'); // a word, though a folder has its name
    expect(modelArgument('--target', 'no/such/folder', here)).toBe('no/such/folder'); // the loader says it is missing
  });

  it('says a file that is no GGUF is not a model', () => {
    expect(() => modelArgument('--target', 'model.safetensors', here)).toThrow(
      /^--target: model.safetensors is a file, not a model folder \(Hugging Face or MLC\) or a \.gguf file/,
    );
    expect(() => modelArgument('--draft', 'model.safetensors', here)).toThrow(/^--draft: /);
    expect(() => modelArgument('--target', join(here, 'model.safetensors'), '/')).toThrow(/is a file/); // absolute
  });
});
