/**
 * Tree verification: a draft is a chain of k tokens and, at its first depths, other candidates
 * there as leaves beside the chain (SpecInfer's and EAGLE's token trees, in the shape of a chain
 * with alternatives at its first depths): greedy, the draft's runners-up; sampling, further
 * draws without the ones before. Leaves come in ranks: rank r holds the (r + 2)-th candidate at
 * each of the first `depths` depths. The target verifies the whole tree in one pass
 * (`CausalLM.greedyTree`): the newest token and the chain as usual, then each leaf at the
 * position of the chain token it stands beside, seeing the chain before it and itself.
 *
 *   tokens: [newest, c1, ..., ck, rank 0: a1 .. aW, rank 1: b1 .. bW, ...]
 *   rows:   the target's argmax after each
 *
 * Walking down: at depth d the target's choice (after the newest token, or after c(d-1)) is
 * c(d), accepted, and the walk goes on; or one of the leaves there, accepted, and the target's
 * choice after it (its own row) is the next token; or none, and it is the next token. When a
 * leaf is taken, its keys and values move from their slot to its position (`moveSlot`). Each
 * accepted token is the target's own choice after the ones before it, so the output is plain
 * greedy decoding's.
 *
 * Sampling (`acceptSampledTree`): at each depth the chain's token and then the leaves, drawn from
 * the draft's q there without replacement, take turns under SpecInfer's rule (acceptance.ts:
 * `acceptAmong`); the chain goes on while its token is accepted, and an accepted leaf ends the
 * walk with a draw from the leaf's own row.
 *
 * An EAGLE head on the GPU drafts and walks a tree there (model/gpu-eagle-step.ts;
 * accept_greedy.wgsl, accept_sampled.wgsl), with one readback a step.
 */

import { distribution, type SamplingParams, sampleToken } from '../sampling/sampling';
import type { Rng } from '../util/rng';
import { acceptAmong } from './acceptance';

/** The most leaves beside a draft: its runner-up and the two after it. */
export const MAX_TREE_WIDTH = 3;

export interface TreeDraft {
  chain: number[];
  /**
   * The leaves, rank by rank: leaves[r][i] is a candidate beside chain[i] (depth i + 1). Every
   * rank is as long as the first, at most chain.length.
   */
  leaves: number[][];
}

/** Depths with leaves: the length of a rank. */
export const treeDepths = (draft: TreeDraft): number => draft.leaves[0]?.length ?? 0;

/** The tokens of a tree pass after the newest token `last`; the first chain.length + 1 are the chain. */
export function treeTokens(last: number, draft: TreeDraft): number[] {
  return [last, ...draft.chain, ...draft.leaves.flat()];
}

export interface TreeVerdict {
  /** The accepted tokens, in order: a prefix of the chain, and perhaps a leaf after it. */
  accepted: number[];
  /** The accepted leaf's slot among the leaves (rank * depths + depth index), if one was taken. */
  leaf?: number;
  /** The target's next token: its choice after the last accepted one. */
  next: number;
}

/** Greedy acceptance over the target's argmax after each token of a tree pass. */
export function acceptTree(draft: TreeDraft, choices: ArrayLike<number>): TreeVerdict {
  const { chain, leaves } = draft;
  const depths = treeDepths(draft);
  const accepted: number[] = [];
  for (let d = 0; d < chain.length; d++) {
    const choice = choices[d]; // after the newest token (d = 0) or after chain[d - 1]
    if (choice === chain[d]) {
      accepted.push(choice);
      continue;
    }
    const rank = d < depths ? leaves.findIndex((leavesOfRank) => leavesOfRank[d] === choice) : -1;
    if (rank >= 0) {
      accepted.push(choice);
      const leaf = rank * depths + d;
      return { accepted, leaf, next: choices[chain.length + 1 + leaf] };
    }
    return { accepted, next: choice };
  }
  return { accepted, next: choices[chain.length] };
}

/**
 * The sampled rule over a tree pass's rows (`row(i)`: the target's logits after token i of
 * `treeTokens`); `probsOf(d)`: the draft's distribution at depth d, which chain[d] and the
 * leaves beside it were drawn from (undefined: one-hot, a deterministic proposal). With no
 * leaves it is the chain rule of speculative sampling.
 */
export function acceptSampledTree(
  row: (i: number) => Float32Array,
  draft: TreeDraft,
  probsOf: (depth: number) => Float64Array | undefined,
  sampling: SamplingParams,
  rng: Rng,
): TreeVerdict {
  const { chain, leaves } = draft;
  const depths = treeDepths(draft);
  const accepted: number[] = [];
  for (let d = 0; d < chain.length; d++) {
    const candidates = [chain[d], ...(d < depths ? leaves.map((leavesOfRank) => leavesOfRank[d]) : [])];
    const verdict = acceptAmong(distribution(row(d), sampling), probsOf(d), candidates, rng);
    if (verdict.index === 0) {
      accepted.push(chain[d]);
      continue;
    }
    if (verdict.index > 0) {
      accepted.push(candidates[verdict.index]);
      const leaf = (verdict.index - 1) * depths + d;
      return { accepted, leaf, next: sampleToken(row(chain.length + 1 + leaf), sampling, rng) };
    }
    return { accepted, next: verdict.token };
  }
  return { accepted, next: sampleToken(row(chain.length), sampling, rng) };
}
