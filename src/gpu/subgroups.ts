/**
 * How far values can travel between lanes by subgroup shuffles on this device.
 *
 * Kernels that end with a tree reduction (linear.wgsl) can do its last strides by
 * `subgroupShuffleXor` instead of through workgroup memory, with no barrier between them. That
 * is only right if the lanes that exchange values share a subgroup. WGSL leaves the layout of
 * subgroups within a workgroup open, so we rely on what GPUs do, and check it once per device:
 * subgroups are aligned runs of consecutive invocations (local_invocation_index). Then any
 * aligned block of `subgroupMinSize` lanes lies within one subgroup, whatever size the
 * compiler picks for a given pipeline (Intel chooses 8, 16 or 32 per shader).
 *
 * The answer is a power of two: 1 when the device has no subgroups or the check fails, so
 * callers fall back to workgroup memory.
 */

// The largest workgroup of a kernel that shuffles (linear_prefill.wgsl), where the device allows it.
const PROBE_WORKGROUP = 512;
const PROBE_GROUPS = 4;
const MAX_SHUFFLE = 64;

const probe = (workgroup: number) => /* wgsl */ `
enable subgroups;
@group(0) @binding(0) var<storage, read_write> out: array<vec2u>;
@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) id: vec3u,
        @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_size) size: u32) {
  out[id.x] = vec2u(lane, size);
}`;

/** The width of an aligned block of lanes that always shares a subgroup (1: no shuffles). */
export async function subgroupShuffleWidth(device: GPUDevice, adapterInfo: GPUAdapterInfo): Promise<number> {
  if (!device.features.has('subgroups')) return 1;
  const workgroup = Math.min(PROBE_WORKGROUP, device.limits.maxComputeInvocationsPerWorkgroup);
  const invocations = workgroup * PROBE_GROUPS;
  const bytes = invocations * 8;
  device.pushErrorScope('validation');
  const out = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const pipeline = device.createComputePipeline({
      label: 'subgroup probe',
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: probe(workgroup) }), entryPoint: 'main' },
    });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: out } }],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(PROBE_GROUPS);
    pass.end();
    encoder.copyBufferToBuffer(out, 0, readback, 0, bytes);
    device.queue.submit([encoder.finish()]);
    if (await device.popErrorScope()) return 1;
    await readback.mapAsync(GPUMapMode.READ);
    const words = new Uint32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    return shuffleWidth(words, workgroup, adapterInfo.subgroupMinSize);
  } finally {
    out.destroy();
    readback.destroy();
  }
}

/**
 * From the probe's (lane, size) pairs: the block width if every invocation's subgroup lane is
 * its index modulo one power-of-two size, else 1. `minSize` (the adapter's guarantee, when it
 * reports one) bounds it, since other pipelines may get smaller subgroups than the probe did.
 */
export function shuffleWidth(pairs: Uint32Array, workgroup: number, minSize?: number): number {
  const size = pairs[1];
  if (size < 2 || (size & (size - 1)) !== 0) return 1;
  for (let i = 0; i < pairs.length / 2; i++) {
    if (pairs[2 * i + 1] !== size || pairs[2 * i] !== (i % workgroup) % size) return 1;
  }
  let width = Math.min(size, MAX_SHUFFLE, workgroup);
  if (minSize !== undefined && minSize > 0) width = Math.min(width, 2 ** Math.floor(Math.log2(minSize)));
  return Math.max(width, 1);
}
