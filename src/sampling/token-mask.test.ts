/** Token masks: a row's allowed tokens read from xgrammar's bitmask words. */

import { describe, expect, it } from 'vitest';
import { allowAll, allowsAny, GPU_MASKED_LOGIT, maskRows, maskWords } from './token-mask';

/** A mask over `vocab` tokens allowing `allowed`. */
function maskOf(vocab: number, allowed: number[]): Uint32Array {
  const mask = new Uint32Array(maskWords(vocab));
  for (const t of allowed) mask[t >> 5] |= 1 << (t & 31);
  return mask;
}

describe('token masks', () => {
  it('masks each row by its own words, bit t % 32 of word t / 32, the last word partial', () => {
    const vocab = 70; // three words, the last holding 6 tokens
    const masks = new Uint32Array([...maskOf(vocab, [0, 31, 32, 69]), ...maskOf(vocab, [5, 63, 64])]);
    const rows = Float32Array.from({ length: 2 * vocab }, (_, i) => i);
    maskRows(rows, masks, vocab);
    const kept = (r: number) => [...rows.subarray(r * vocab, (r + 1) * vocab)].flatMap((l, t) => (l > -1 ? [t] : []));
    expect(kept(0)).toEqual([0, 31, 32, 69]);
    expect(kept(1)).toEqual([5, 63, 64]);
    expect(rows[1]).toBe(Number.NEGATIVE_INFINITY);
    expect(rows[vocab + 5]).toBe(vocab + 5); // kept logits untouched
    maskRows(rows, maskOf(vocab, []), vocab, GPU_MASKED_LOGIT); // one row's mask: the first row only
    expect(rows[0]).toBe(GPU_MASKED_LOGIT);
    expect(rows[vocab + 5]).toBe(vocab + 5);
    expect(Math.fround(GPU_MASKED_LOGIT)).toBe(GPU_MASKED_LOGIT); // a float32: the lowest finite one
    expect(Number.isFinite(Math.fround(GPU_MASKED_LOGIT * 2))).toBe(false);
  });

  it('says whether a mask allows any token of the vocabulary, bits past its end not counted', () => {
    expect(allowsAny(maskOf(70, [69]), 70)).toBe(true);
    expect(allowsAny(maskOf(70, []), 70)).toBe(false);
    expect(allowsAny(Uint32Array.of(0, 0, 1 << 6), 70)).toBe(false); // token 70 is past the vocabulary
    expect(allowsAny(allowAll(1, 64), 64)).toBe(true);
    expect(allowAll(3, 64)).toEqual(new Uint32Array(6).fill(0xffffffff));
  });
});
