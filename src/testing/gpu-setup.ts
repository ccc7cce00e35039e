/**
 * Global setup of the GPU project: Dawn needs the Vulkan loader, and on a machine with no GPU,
 * Chromium's SwiftShader as its driver. Both are found or installed before any test runs.
 */

import { ensureSystemDeps } from '../../scripts/system-deps.mjs';

export default function setup() {
  ensureSystemDeps();
}
