/** Recording and running one compute pass outside the decode loop (tests, benchmarks, tools). */

/** Records one compute pass with `record`, submits it and waits until the GPU has finished it. */
export async function runComputePass(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void) {
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  record(pass);
  pass.end();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
}
