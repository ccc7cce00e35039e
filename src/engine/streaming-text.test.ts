/** Streaming a reply's ids into text: whole characters, no special tokens, stop strings held back, short windows. */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, loadFixture, loadGolden } from '../testing/fixtures';
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { StreamingText } from './streaming-text';

let tokenizer: TextTokenizer;
beforeAll(async () => {
  ({ tokenizer } = await loadFixture(FIXTURES.target));
});
afterAll(() => tokenizer.dispose());

/** Streams `ids` and returns every piece handed out, then the held-back rest. */
function stream(ids: number[], stops: string[] = []) {
  const text = new StreamingText(tokenizer, stops);
  const pieces = ids.map((id) => text.push(id));
  pieces.push(text.end());
  return { pieces, text };
}

describe('StreamingText', () => {
  it('gives, piece by piece, exactly the text of decoding the whole reply', () => {
    for (const golden of loadGolden(FIXTURES.target)) {
      const { pieces, text } = stream(golden.greedyIds);
      const whole = tokenizer.decode(golden.greedyIds, { skipSpecial: true });
      expect(pieces.join('')).toBe(whole);
      expect(text.final).toBe(whole);
      expect(pieces.filter((p) => p.length > 0).length).toBeGreaterThan(20); // it streams, not all at the end
    }
  });

  it('never shows a special token', () => {
    const ids = tokenizer.encode('<|im_start|>assistant\nOnce upon a time<|im_end|>');
    expect(ids.some((id) => tokenizer.specialIds.has(id))).toBe(true);
    expect(stream(ids).pieces.join('')).toBe('assistant\nOnce upon a time');
  });

  it('releases a character split across tokens only once it is whole', () => {
    const ids = tokenizer.encode('A fox 🦊 ran.');
    const { pieces } = stream(ids);
    expect(pieces.join('')).toBe('A fox 🦊 ran.');
    for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
  });

  it('decodes a short window for each token, not the whole reply', () => {
    const golden = loadGolden(FIXTURES.target)[0];
    const lengths: number[] = [];
    const counting = Object.create(tokenizer) as TextTokenizer;
    counting.decode = (ids, options) => {
      lengths.push(ids.length);
      return tokenizer.decode(ids, options);
    };
    const text = new StreamingText(counting);
    for (const id of golden.greedyIds) text.push(id);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(4);
  });

  it('ends before a stop string and never sends any part of it', () => {
    const ids = tokenizer.encode('Tom went to the park. Then he ran in the grass. The end.');
    const { pieces, text } = stream(ids, ['grass.']);
    expect(text.stopped).toBe(true);
    expect(text.final).toBe('Tom went to the park. Then he ran in the ');
    expect(pieces.join('')).toBe(text.final);
    expect(pieces.some((p) => /gra/.test(p))).toBe(false);
  });

  it('holds back what could begin a stop string, and hands it out when it does not', () => {
    const ids = tokenizer.encode('Tom ran in the grass and the park.');
    const seen: string[] = [];
    const text = new StreamingText(tokenizer, ['grass.']);
    let sent = '';
    for (const id of ids) {
      sent += text.push(id);
      seen.push(sent);
    }
    expect(seen.some((s) => s.endsWith('the '))).toBe(true);
    expect(seen.some((s) => s.endsWith('grass'))).toBe(false); // held until " and" showed it was no stop
    sent += text.end();
    expect(sent).toBe('Tom ran in the grass and the park.');
    expect(text.stopped).toBe(false);
  });
});
