/**
 * Named errors. Every failure a user can act on has its own class with a stable `name`,
 * because only `name`, `message` and `stack` survive the trip across a worker boundary
 * (structured clone / comlink): callers branch on `err.name`, never on `instanceof`.
 */

export class TandemError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TandemError';
  }
}

/** No WebGPU at all (no `navigator.gpu`) or no adapter behind it. */
export class WebGPUUnavailableError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WebGPUUnavailableError';
  }
}

/** The GPU device was lost (driver reset, tab in background too long, out of memory). */
export class GPUDeviceLostError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GPUDeviceLostError';
  }
}

/** The GPU ran out of memory while allocating buffers. */
export class GPUOutOfMemoryError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GPUOutOfMemoryError';
  }
}

/** A WebGPU validation or internal error: a bug in Tandem, reported with the driver's text. */
export class GPUValidationError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GPUValidationError';
  }
}

/** A model needs more than the adapter allows (buffer size, binding size, workgroup storage). */
export class ModelTooLargeError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelTooLargeError';
  }
}
