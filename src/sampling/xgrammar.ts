/**
 * @mlc-ai/web-xgrammar (xgrammar in WebAssembly, the grammar engine web-llm uses), loaded the
 * first time a request asks for a response format: 1 MB that plain chat never fetches. Like
 * @mlc-ai/web-tokenizers it is a UMD bundle in a "type": "module" package: bundlers give its
 * named exports, while Node runs it as an ES module and the wrapper leaves them on
 * `globalThis.xgrammar` (Node needs src/node/require-shim.ts imported first).
 */

export type XGrammar = typeof import('@mlc-ai/web-xgrammar');

let loading: Promise<XGrammar> | undefined;

export function loadXGrammar(): Promise<XGrammar> {
  loading ??= import('@mlc-ai/web-xgrammar').then((module) => {
    const candidates = [
      module,
      (module as unknown as { default?: XGrammar }).default,
      (globalThis as { xgrammar?: XGrammar }).xgrammar,
    ];
    const found = candidates.find((candidate) => candidate?.GrammarCompiler !== undefined);
    if (!found) throw new Error('@mlc-ai/web-xgrammar did not load: no GrammarCompiler found');
    return found;
  });
  loading.catch(() => {
    loading = undefined; // a failed load (a network error in a page) is tried again next time
  });
  return loading;
}
