import { describe, expect, it } from 'vitest';
import { requestGpu } from './device';

describe('requestGpu without WebGPU', () => {
  it('raises WebGPUUnavailableError with a message that says what to do', async () => {
    const error = await requestGpu(undefined).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('WebGPUUnavailableError');
    expect((error as Error).message).toMatch(/Chrome/);
  });

  it('raises WebGPUUnavailableError when the browser offers no adapter', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const error = (await requestGpu(noAdapter).catch((e: Error) => e)) as Error;
    expect(error.name).toBe('WebGPUUnavailableError');
    expect(error.message).toMatch(/no GPU adapter/);
  });
});
