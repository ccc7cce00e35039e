/**
 * Tree verification: a draft is a chain of k tokens and, at its first depths, a second
 * candidate there as a leaf beside the chain (SpecInfer's and EAGLE's token trees, in the shape
 * of a chain with one alternative a depth): greedy, the draft's runner-up; sampling, a second
 * draw, which speculative.ts verifies with SpecInfer's rule (acceptance.ts). Greedy below. The
 * target verifies the whole tree in one pass (`CausalLM.greedyTree`): the newest token and the
 * chain as usual, then each leaf at the position of the chain token it stands beside, seeing
 * the chain before it and itself.
 *
 *   tokens: [newest, c1, ..., ck, a1, ..., aw]      rows: the target's argmax after each
 *
 * Walking down: at depth d the target's choice (after the newest token, or after c(d-1)) is
 * c(d), accepted, and the walk goes on; or a(d), accepted, and the target's choice after a(d)
 * (its own row) is the next token; or neither, and it is the next token. When a leaf is taken,
 * its keys and values move from their slot to its position (`moveSlot`). Each accepted token is
 * the target's own choice after the ones before it, so the output is plain greedy decoding's.
 * An EAGLE head on the GPU drafts and walks a greedy tree there (model/gpu-eagle-step.ts,
 * accept_greedy.wgsl), with one readback a step.
 */

export interface TreeDraft {
  chain: number[];
  /** leaves[i]: the alternative beside chain[i] (depth i + 1); at most chain.length. */
  leaves: number[];
}

/** The tokens of a tree pass after the newest token `last`; the first chain.length + 1 are the chain. */
export function treeTokens(last: number, draft: TreeDraft): number[] {
  return [last, ...draft.chain, ...draft.leaves];
}

export interface TreeVerdict {
  /** The accepted tokens, in order: a prefix of the chain, and perhaps a leaf after it. */
  accepted: number[];
  /** The accepted leaf's depth index (leaves[i]), if one was taken. */
  leaf?: number;
  /** The target's next token: its choice after the last accepted one. */
  next: number;
}

/** Greedy acceptance over the target's argmax after each token of a tree pass. */
export function acceptTree(draft: TreeDraft, choices: ArrayLike<number>): TreeVerdict {
  const { chain, leaves } = draft;
  const accepted: number[] = [];
  for (let d = 0; d < chain.length; d++) {
    const choice = choices[d]; // after the newest token (d = 0) or after chain[d - 1]
    if (choice === chain[d]) {
      accepted.push(choice);
      continue;
    }
    if (d < leaves.length && choice === leaves[d]) {
      accepted.push(choice);
      return { accepted, leaf: d, next: choices[chain.length + 1 + d] };
    }
    return { accepted, next: choice };
  }
  return { accepted, next: choices[chain.length] };
}
