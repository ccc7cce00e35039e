/**
 * Draft/target compatibility: the draft's token ids must mean what the target's mean. We
 * compare the tokenizers' actual token tables, id by id, not just their sizes. Embedding
 * tables padded with unused ids (vocab_size above the tokenizer's size) are fine: only real
 * tokens are compared.
 */

import { VocabularyMismatchError } from '../errors';
import type { TextTokenizer } from './tokenizer';

export function checkVocabularies(target: TextTokenizer, draft: TextTokenizer): void {
  const size = Math.max(target.vocabSize, draft.vocabSize);
  for (let id = 0; id < size; id++) {
    const t = id < target.vocabSize ? target.idToToken(id) : undefined;
    const d = id < draft.vocabSize ? draft.idToToken(id) : undefined;
    if (t !== d) {
      throw new VocabularyMismatchError(
        `The draft model's vocabulary differs from the target's at token id ${id}: ` +
          `target ${describe(t)}, draft ${describe(d)}. Use a draft model with the same tokenizer ` +
          '(the same model family), or prompt lookup, which needs no draft model.',
      );
    }
  }
}

const describe = (token: string | undefined) => (token === undefined ? 'has no such token' : JSON.stringify(token));
