/**
 * Every GPU test file: a test that leaves the shared device failed (a validation error, an
 * out-of-memory its code did not catch) fails itself, and the tests after it get a fresh device.
 */

import { afterEach } from 'vitest';
import { takeSharedGpuFailure } from './gpu';

afterEach(async () => {
  const failure = await takeSharedGpuFailure();
  if (failure) throw new Error(`This test left the shared GPU device failed: ${failure.message}`, { cause: failure });
});
