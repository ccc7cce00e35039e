// An EAGLE head's draft id as the target's id, on the GPU: drafts[index] = map[ids[rank]], where
// ids[rank] is the head's choice (over its draft vocabulary: the argmax or draw at 0, a tree's
// leaf of rank `from` after it) and map its d2t table. One thread.
// An id past the map (NaN logits) is clamped by WGSL's bounds; the verify pass still decides.

struct Params { index: u32, rank: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;            // the head's chosen ids, by rank
@group(0) @binding(2) var<storage, read> map: array<u32>;            // (draft vocabulary): target ids
@group(0) @binding(3) var<storage, read_write> drafts: array<u32>;   // the step's drafts, target ids

@compute @workgroup_size(1)
fn main() {
  drafts[params.index] = map[min(ids[params.rank], arrayLength(&map) - 1u)];
}
