/**
 * The Tokenizer class of @mlc-ai/web-tokenizers (Hugging Face tokenizers in WebAssembly).
 * The package is a UMD bundle in a "type": "module" package: bundlers see CommonJS and give
 * named exports, while Node runs it as an ES module, where the UMD wrapper leaves its exports
 * on `globalThis.tokenizers` instead. This finds the class in either case.
 */

import * as webTokenizers from '@mlc-ai/web-tokenizers';

type TokenizerClass = typeof webTokenizers.Tokenizer;

export function wasmTokenizerClass(): TokenizerClass {
  const module = webTokenizers as unknown as { Tokenizer?: TokenizerClass; default?: { Tokenizer?: TokenizerClass } };
  const global = globalThis as { tokenizers?: { Tokenizer?: TokenizerClass } };
  const found = module.Tokenizer ?? module.default?.Tokenizer ?? global.tokenizers?.Tokenizer;
  if (!found) throw new Error('@mlc-ai/web-tokenizers did not load: no Tokenizer class found');
  return found;
}

export type WasmTokenizer = Awaited<ReturnType<TokenizerClass['fromJSON']>>;

let queue: Promise<unknown> = Promise.resolve();

/**
 * A tokenizer from tokenizer.json's bytes. Loads run one at a time: the library initializes its
 * WebAssembly module on the first load, and two first loads at once make two modules whose
 * objects the other refuses ("Expected null or instance of VectorInt").
 */
export function loadWasmTokenizer(json: ArrayBuffer): Promise<WasmTokenizer> {
  const load = queue.then(() => wasmTokenizerClass().fromJSON(json));
  queue = load.catch(() => undefined);
  return load;
}
