/**
 * A pair's next speculative step recorded while the GPU runs this one (`NextStep`,
 * gpu-step-buffers.ts), of the length the draft-length policy fixed for it a step ahead
 * (`StepLengths`): whether a step recorded ahead serves the one at hand, and its submission,
 * the lengths and newest tokens written as uniforms then. Shared by a draft model's steps
 * (gpu-speculation.ts) and an EAGLE head's (gpu-eagle-step.ts).
 */

import { writeAcceptGreedyParams } from './gpu-greedy-verify';
import type { GpuModel } from './gpu-model';
import type { GpuSequence } from './gpu-sequence';
import type { AheadKind, NextStep, StepBuffers } from './gpu-step-buffers';

/** Takes the step a pair recorded ahead, if any (to be checked with `serves`). */
export function takeAhead(buffers: StepBuffers): NextStep | undefined {
  const ahead = buffers.next;
  buffers.next = undefined;
  return ahead;
}

/**
 * Whether a step recorded ahead serves this one: the same kind, sequences, k and tree (`ranks`
 * leaves beside each of the first `leaves` drafts), still in their buffers, a context within
 * its reach, and a draft that holds what its first pass follows.
 */
export function serves(
  ahead: NextStep | undefined,
  kind: AheadKind,
  target: GpuSequence,
  draft: GpuSequence,
  k: number,
  contextLength: number,
  draftFrom: number,
  leaves = 0,
  ranks = 1,
): ahead is NextStep {
  return (
    ahead !== undefined &&
    ahead.kind === kind &&
    ahead.k === k &&
    ahead.leaves === leaves &&
    (leaves === 0 || ahead.ranks === ranks) &&
    ahead.target === target &&
    ahead.draft === draft &&
    contextLength <= ahead.maxContext &&
    draftFrom >= 0 &&
    draft.length >= draftFrom &&
    ahead.verify.current() &&
    ahead.drafts.every((pass) => pass.current())
  );
}

/**
 * Submits a step recorded ahead, in one submission: the draft cut back to `draftFrom`, its
 * first pass given the tokens `first`; then the verify pass over the newest token `last`,
 * after `beforeVerify` (which writes the acceptance rule's uniform; by default the greedy
 * kernel's). Each pass's uniforms and tokens are staged in its own slot (ahead-inputs.ts).
 */
export function submitAhead(
  t: GpuModel,
  buffers: StepBuffers,
  ahead: NextStep,
  draftFrom: number,
  first: readonly number[],
  last: number,
  beforeVerify = () => writeAcceptGreedyParams(t, buffers, ahead.k, ahead.leaves, ahead.ranks),
): void {
  ahead.draft.truncate(draftFrom);
  for (const [i, pass] of ahead.drafts.entries()) pass.stage(i === 0 ? first : []);
  beforeVerify();
  ahead.verify.stage([last]);
  t.submitStaged(ahead.commands);
  buffers.stepsAhead++;
}

/** Whether both models' profiles record ahead and neither has Gated DeltaNet layers. */
export function bothRecordAhead(t: GpuModel, d: GpuModel): boolean {
  return t.profile.recordAhead && d.profile.recordAhead && t.recurrentWindow === 0 && d.recurrentWindow === 0;
}

/** Keeps a step recorded ahead for the pair's next step. */
export function keepAhead(buffers: StepBuffers, next: NextStep): void {
  buffers.next = next;
  buffers.recordedAhead++;
}
