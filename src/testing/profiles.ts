/**
 * Kernel profiles for model-level GPU tests, which run on a software adapter in CI.
 */

import { GPU_PROFILE, type KernelProfile } from '../kernels/profile';

/**
 * The GPU profile's kernels (lanes with subgroup shuffles, verify tiles, the prefill kernel,
 * tiled and split attention) with no more lanes a row than its words per lane ask for. The
 * profile's minWorkgroups adds lanes until a layer fills a hundred multiprocessors; on
 * SwiftShader, which runs a workgroup's threads in turn, that only multiplies the work (a
 * 64-token prefill of the fixture target takes 3.6 times as long). The code paths are the
 * same: the kernel tests cover every lane count, and the golden-logits test of the fixture
 * target runs GPU_PROFILE itself.
 */
export const LEAN_GPU_PROFILE: KernelProfile = { ...GPU_PROFILE, minWorkgroups: 0 };
