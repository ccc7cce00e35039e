/**
 * Compute pipelines, built once per (shader, constants) and shared: creating a pipeline
 * compiles the shader, which is far too slow to do per call. Kernels specialise one WGSL
 * source with `override` constants (shapes, workgroup sizes) instead of generating code.
 *
 * Each pipeline's layout is read from its shader's bindings rather than left to 'auto', so a
 * kernel's bind groups can be made before its pipeline exists. That lets a pipeline be
 * compiled when it is first dispatched (`Pipeline.get`), or all of a model's at once when it
 * loads (`collectPipelines`, then `compilePipelines`: createComputePipelineAsync, which an
 * implementation may compile side by side). A model's kernel profile builds a variant for every
 * step shape it may run; a model that runs a few of them (a test, a tool checking bits) need
 * not compile the rest.
 */

interface DevicePipelines {
  /** Compiled pipelines by shader code and constants (`Pipeline.key`). */
  compiled: Map<string, GPUComputePipeline>;
  /** Pipelines being compiled asynchronously, by key, so that two requests share one compilation. */
  compiling: Map<string, Promise<GPUComputePipeline>>;
  /** Bind-group and pipeline layouts by shader code. */
  layouts: Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>;
}

const perDevice = new WeakMap<GPUDevice, DevicePipelines>();

function devicePipelines(device: GPUDevice): DevicePipelines {
  let state = perDevice.get(device);
  if (!state) {
    state = { compiled: new Map(), compiling: new Map(), layouts: new Map() };
    perDevice.set(device, state);
  }
  return state;
}

/** Every `@group(0) @binding(n) var<...>` of a shader: its address space and access. */
const BINDING = /@group\(0\)\s*@binding\((\d+)\)\s*var<\s*(uniform|storage)\s*(?:,\s*(read|read_write)\s*)?>/g;
/** GPUShaderStage.COMPUTE, spelled out so that this module loads before WebGPU's globals exist. */
const COMPUTE_STAGE = 4;

/** The bind group layout entries of a shader's buffers, in binding order. */
export function bindingEntries(code: string): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (const [, binding, space, access] of code.matchAll(BINDING)) {
    const type: GPUBufferBindingType =
      space === 'uniform' ? 'uniform' : access === 'read_write' ? 'storage' : 'read-only-storage';
    entries.push({ binding: Number(binding), visibility: COMPUTE_STAGE, buffer: { type } });
  }
  const declared = code.match(/@binding\(/g)?.length ?? 0;
  if (declared !== entries.length) {
    throw new Error(
      `a shader declares ${declared} bindings, ${entries.length} of them buffers of group 0 with a literal index`,
    );
  }
  return entries.sort((a, b) => a.binding - b.binding);
}

function layouts(device: GPUDevice, label: string, code: string) {
  const { layouts } = devicePipelines(device);
  let layout = layouts.get(code);
  if (!layout) {
    const group = device.createBindGroupLayout({ label, entries: bindingEntries(code) });
    layout = { group, pipeline: device.createPipelineLayout({ label, bindGroupLayouts: [group] }) };
    layouts.set(code, layout);
  }
  return layout;
}

/**
 * A kernel's pipeline: its layout now, its compilation when first asked for (`get`) or ahead of
 * time (`compile`), from the device's cache either way.
 */
export class Pipeline {
  readonly layout: GPUBindGroupLayout;
  private readonly pipelineLayout: GPUPipelineLayout;
  private readonly key: string;
  private compiled: GPUComputePipeline | undefined;

  constructor(
    private readonly device: GPUDevice,
    readonly label: string,
    private readonly code: string,
    private readonly constants: Record<string, number | boolean> = {},
  ) {
    const { group, pipeline } = layouts(device, label, code);
    this.layout = group;
    this.pipelineLayout = pipeline;
    this.key = `${code}\u0000${JSON.stringify(constants, Object.keys(constants).sort())}`;
    for (const collector of collectors) collector.push(this);
  }

  private descriptor(): GPUComputePipelineDescriptor {
    const { device, label, code } = this;
    const constants: Record<string, number> = {};
    for (const [name, value] of Object.entries(this.constants)) constants[name] = Number(value);
    const module = device.createShaderModule({ label, code });
    return { label, layout: this.pipelineLayout, compute: { module, entryPoint: 'main', constants } };
  }

  /** The compiled pipeline, compiling it now if nothing has yet. */
  get(): GPUComputePipeline {
    if (this.compiled) return this.compiled;
    const { compiled } = devicePipelines(this.device);
    let pipeline = compiled.get(this.key);
    if (!pipeline) {
      pipeline = this.device.createComputePipeline(this.descriptor());
      compiled.set(this.key, pipeline);
    }
    this.compiled = pipeline;
    return pipeline;
  }

  /** Compiles the pipeline without blocking, unless the cache has it. */
  async compile(): Promise<void> {
    if (this.compiled) return;
    const { compiled, compiling } = devicePipelines(this.device);
    const cached = compiled.get(this.key);
    if (cached) {
      this.compiled = cached;
      return;
    }
    let pending = compiling.get(this.key);
    if (!pending) {
      // An invalid shader is left to the synchronous call, which reports it as every other
      // validation error is reported (to the device's error handling), not as a rejection.
      const descriptor = this.descriptor();
      pending = this.device
        .createComputePipelineAsync(descriptor)
        .catch(() => this.device.createComputePipeline(descriptor));
      compiling.set(this.key, pending);
    }
    const pipeline = await pending;
    compiling.delete(this.key);
    compiled.set(this.key, pipeline);
    this.compiled = pipeline;
  }
}

/** The pipelines being collected by `collectPipelines` calls in progress (nested ones too). */
const collectors: Pipeline[][] = [];

/** Runs `build` and returns what it made with every pipeline its kernels asked for. */
export function collectPipelines<T>(build: () => T): { value: T; pipelines: Pipeline[] } {
  const pipelines: Pipeline[] = [];
  collectors.push(pipelines);
  try {
    return { value: build(), pipelines };
  } finally {
    collectors.splice(collectors.indexOf(pipelines), 1);
  }
}

/** Compiles `pipelines` side by side (where the implementation can) and waits for all of them. */
export async function compilePipelines(pipelines: Pipeline[]): Promise<void> {
  await Promise.all(pipelines.map((pipeline) => pipeline.compile()));
}

/** A pipeline compiled now, from the device's cache if it has one. */
export function computePipeline(
  device: GPUDevice,
  label: string,
  code: string,
  constants: Record<string, number | boolean> = {},
): GPUComputePipeline {
  return new Pipeline(device, label, code, constants).get();
}

/** A bind group for `layout` (a pipeline's, or its bind group layout) with `buffers` at bindings 0, 1, 2, ... in order. */
export function bindBuffers(
  device: GPUDevice,
  layout: GPUComputePipeline | GPUBindGroupLayout,
  label: string,
  buffers: GPUBuffer[],
) {
  return device.createBindGroup({
    label,
    layout: 'getBindGroupLayout' in layout ? layout.getBindGroupLayout(0) : layout,
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}
