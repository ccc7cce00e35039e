/**
 * Buffer helpers: upload at load time, read back for tests and for the few bytes the
 * decode loop needs (token ids). Nothing here is meant to be called per token except
 * `readBuffer` on a preallocated staging buffer.
 */

export const STORAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC, without needing globals at import
export const UNIFORM = 0x40 | 0x08; // UNIFORM | COPY_DST

/**
 * A buffer filled from `data`, padded with zeros to a multiple of 16 bytes, so that kernels
 * may read it as vec4 words whatever its element type.
 */
export function uploadBuffer(device: GPUDevice, data: ArrayBufferView, usage: number, label: string): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buffer = device.createBuffer({ label, size, usage, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

export function createStorage(device: GPUDevice, byteLength: number, label: string): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(4, Math.ceil(byteLength / 4) * 4), usage: STORAGE });
}

export function createUniform(device: GPUDevice, byteLength: number, label: string): GPUBuffer {
  return device.createBuffer({ label, size: Math.ceil(byteLength / 16) * 16, usage: UNIFORM });
}

/** Copies `byteLength` bytes of `source` to a fresh staging buffer and returns them. For tests and tools. */
export async function readBuffer(device: GPUDevice, source: GPUBuffer, byteLength = source.size): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size: Math.ceil(byteLength / 4) * 4, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(source, 0, staging, 0, staging.size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(0x0001); // GPUMapMode.READ
  const bytes = staging.getMappedRange(0, staging.size).slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return bytes;
}
