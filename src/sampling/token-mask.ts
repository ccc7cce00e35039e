/**
 * Token masks: which tokens a row of logits may choose, as a grammar says (grammar.ts). A mask
 * is xgrammar's bitmask, bit t of word t >> 5 set where token t is allowed; several rows' masks
 * lie one after another, `maskWords(vocab)` words each. A masked logit is -Infinity, so greedy
 * decoding never picks it and sampling gives it probability 0, the rest renormalised.
 *
 * The GPU masks rows where they are (token_mask.wgsl) with the lowest float instead of
 * -Infinity, which WGSL lets a compiler assume never occurs: every allowed logit is above it,
 * so the argmax and the draw are the same, and rows read back are masked again here, to
 * -Infinity, as the CPU would have masked them.
 */

/** The lowest finite float32: a masked logit on the GPU. */
export const GPU_MASKED_LOGIT = -3.4028234663852886e38;

/** u32 words of a mask over `vocab` tokens. */
export function maskWords(vocab: number): number {
  return Math.ceil(vocab / 32);
}

/** A mask for `rows` rows over `vocab` tokens that allows every token. */
export function allowAll(rows: number, vocab: number): Uint32Array<ArrayBuffer> {
  return new Uint32Array(rows * maskWords(vocab)).fill(0xffffffff);
}

/** Whether `mask` (one row's) allows `token`. */
export function isAllowed(mask: Uint32Array, token: number): boolean {
  return ((mask[token >>> 5] >>> (token & 31)) & 1) === 1;
}

/** Whether `mask` (one row's) allows any of the first `vocab` tokens. */
export function allowsAny(mask: Uint32Array, vocab: number): boolean {
  for (let word = 0; word < maskWords(vocab); word++) {
    const bits = word === maskWords(vocab) - 1 && vocab % 32 !== 0 ? mask[word] & (2 ** (vocab % 32) - 1) : mask[word];
    if (bits !== 0) return true;
  }
  return false;
}

/** The one token of the first `vocab` that `mask` (one row's) allows, if it allows exactly one. */
export function onlyToken(mask: Uint32Array, vocab: number): number | undefined {
  let only: number | undefined;
  for (let word = 0; word < maskWords(vocab); word++) {
    const bits = mask[word] | 0;
    if (bits === 0) continue;
    if (only !== undefined || (bits & (bits - 1)) !== 0) return undefined; // a second token
    only = word * 32 + (31 - Math.clz32(bits));
  }
  return only !== undefined && only < vocab ? only : undefined;
}

/**
 * Sets every logit of `rows` ((rows, vocab), in place) whose token its row's mask does not allow
 * to `value` (-Infinity; the GPU kernel's reference takes GPU_MASKED_LOGIT): the rows `masks`
 * has masks for, from the first. Returns `rows`.
 */
export function maskRows(
  rows: Float32Array,
  masks: Uint32Array,
  vocab: number,
  value = Number.NEGATIVE_INFINITY,
): Float32Array {
  const words = maskWords(vocab);
  for (let r = 0; r * vocab < rows.length && r * words < masks.length; r++) {
    for (let word = 0; word < words; word++) {
      const allowed = masks[r * words + word] | 0;
      if (allowed === -1) continue; // all 32 allowed
      const begin = r * vocab + word * 32;
      const end = r * vocab + Math.min(vocab, (word + 1) * 32);
      if (allowed === 0) {
        rows.fill(value, begin, end); // none: most words where JSON wants punctuation
        continue;
      }
      for (let i = begin; i < end; i++) if (((allowed >>> (i - begin)) & 1) === 0) rows[i] = value;
    }
  }
  return rows;
}
