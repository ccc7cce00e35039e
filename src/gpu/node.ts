/**
 * WebGPU in Node through Dawn (the `webgpu` package): the CLI, the CLI benchmark and the
 * GPU tests use this; the browser never imports it.
 *
 * On a machine with no Vulkan driver of its own, Dawn finds no adapter. If the user has not
 * chosen a driver (VK_ICD_FILENAMES unset) and Chromium's SwiftShader, a CPU Vulkan driver,
 * is installed, we point the Vulkan loader at it and try again: slow, but real WebGPU.
 */

import { existsSync } from 'node:fs';
import { WebGPUUnavailableError } from '../errors';
import { paceDawnPolling } from './dawn-polling';
import { type Gpu, isCpuAdapter, requestGpu } from './device';

const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

const NODE_HELP =
  'No WebGPU adapter was found by Dawn. Install a Vulkan driver for your GPU and the Vulkan ' +
  'loader (Debian/Ubuntu: apt-get install libvulkan1 mesa-vulkan-drivers), or, for a software ' +
  "adapter, Chromium's SwiftShader (apt-get install chromium libvulkan1) and set " +
  'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.';

/**
 * Every Dawn instance we create stays referenced for the life of the process: if the
 * garbage collector frees a `GPU` instance while a device made from it is alive, Dawn's
 * Node binding aborts the process ("std::system_error: Invalid argument").
 */
const instances: GPU[] = [];

function createInstance(create: (options: string[]) => GPU): GPU {
  // Timestamp queries are rounded to ~65 us by default (a browser's guard against timing
  // attacks); Node runs our own benchmarks, which need them exact (bench --profile).
  const gpu = create(['disable-dawn-features=timestamp_quantization']);
  instances.push(gpu);
  return gpu;
}

/** A `navigator.gpu` equivalent for Node, with WebGPU's globals (GPUBufferUsage, ...) installed. */
export async function nodeNavigatorGpu(): Promise<GPU> {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = createInstance(create);
  if (await gpu.requestAdapter()) return gpu;

  const swiftshader = SWIFTSHADER_ICDS.find((path) => existsSync(path));
  if (process.env.VK_ICD_FILENAMES || !swiftshader) throw new WebGPUUnavailableError(NODE_HELP);
  process.env.VK_ICD_FILENAMES = swiftshader;
  const software = createInstance(create);
  if (await software.requestAdapter()) return software;
  throw new WebGPUUnavailableError(NODE_HELP);
}

/** A device through Dawn; on a CPU adapter, Dawn's polling paced so that it leaves the adapter its cores. */
export async function requestNodeGpu(): Promise<Gpu> {
  const gpu = await requestGpu(await nodeNavigatorGpu());
  if (isCpuAdapter(gpu.info)) paceDawnPolling();
  return gpu;
}
