#!/usr/bin/env node
/**
 * The system packages the tests need, found or installed:
 *   - a Chromium for the end-to-end tests (CHROMIUM_PATH, /usr/bin/chromium, or a browser
 *     Playwright downloaded earlier);
 *   - the Vulkan loader (libvulkan.so.1), through which Dawn reaches a GPU driver, or Chromium's
 *     SwiftShader (a CPU Vulkan driver) on a machine with no GPU.
 * Where something is missing and we may install system packages (root with apt-get), Debian's
 * `chromium` and `libvulkan1` are installed; otherwise the error says what to install.
 *
 * Run directly (`node scripts/system-deps.mjs`) it checks or installs both.
 */

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SYSTEM_CHROMIUMS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const VULKAN_LOADERS = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
];

export function findChromium() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist.`);
    return fromEnv;
  }
  return SYSTEM_CHROMIUMS.find((path) => existsSync(path)) ?? playwrightChromium();
}

function playwrightChromium() {
  try {
    // Only if the user ran `npx playwright install chromium` before; nothing is downloaded here.
    const path = execFileSync(
      process.execPath,
      ['-e', "process.stdout.write(require('playwright-core').chromium.executablePath())"],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    return path && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

export function hasVulkanLoader() {
  if (process.platform !== 'linux') return true; // Dawn uses Metal / D3D12 there
  return VULKAN_LOADERS.some((path) => existsSync(path));
}

function canInstall() {
  return process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
}

function aptInstall(packages) {
  console.info(`Installing Debian packages: ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
}

/** Makes sure a Chromium and the Vulkan loader are there; returns the Chromium path. */
export function ensureSystemDeps() {
  const missing = [];
  if (!findChromium()) missing.push('chromium');
  if (!hasVulkanLoader()) missing.push('libvulkan1');
  if (missing.length > 0 && canInstall()) aptInstall(missing);
  const chromium = findChromium();
  if (!chromium) {
    throw new Error(
      'The end-to-end tests need Chromium: install it (Debian/Ubuntu: sudo apt-get install chromium), ' +
        'point CHROMIUM_PATH at a Chrome or Chromium binary, or run `npx playwright install chromium`.',
    );
  }
  if (!hasVulkanLoader()) {
    throw new Error(
      'The GPU tests need the Vulkan loader: install it (Debian/Ubuntu: sudo apt-get install libvulkan1).',
    );
  }
  return chromium;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.info(`System dependencies: Chromium at ${ensureSystemDeps()}, Vulkan loader present.`);
}
