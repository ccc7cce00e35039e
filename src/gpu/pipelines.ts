/**
 * Compute pipelines, built once per (shader, constants) and shared: creating a pipeline
 * compiles the shader, which is far too slow to do per call. Kernels specialise one WGSL
 * source with `override` constants (shapes, workgroup sizes) instead of generating code.
 */

const cache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

export function computePipeline(
  device: GPUDevice,
  label: string,
  code: string,
  constants: Record<string, number | boolean> = {},
): GPUComputePipeline {
  let pipelines = cache.get(device);
  if (!pipelines) {
    pipelines = new Map();
    cache.set(device, pipelines);
  }
  const key = `${code}\u0000${JSON.stringify(constants, Object.keys(constants).sort())}`;
  let pipeline = pipelines.get(key);
  if (!pipeline) {
    const numeric: Record<string, number> = {};
    for (const [name, value] of Object.entries(constants)) numeric[name] = Number(value);
    pipeline = device.createComputePipeline({
      label,
      layout: 'auto',
      compute: { module: device.createShaderModule({ label, code }), entryPoint: 'main', constants: numeric },
    });
    pipelines.set(key, pipeline);
  }
  return pipeline;
}

/** A bind group for `pipeline` with `buffers` at bindings 0, 1, 2, ... in order. */
export function bindBuffers(device: GPUDevice, pipeline: GPUComputePipeline, label: string, buffers: GPUBuffer[]) {
  return device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}
