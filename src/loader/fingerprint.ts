/**
 * A model's fingerprint: a SHA-256 that changes when its weights or its config do, for keys that
 * outlive the page (the prefix store keeps KV rows under it).
 *
 * Hashing every byte of an 8B model's weights would take seconds at each load, so each tensor
 * contributes its name, type, shape, byte length and 16 slices of up to 256 bytes spread evenly
 * over its data and scales (the first and the last included). Training or fine-tuning changes
 * every value of a tensor, and a conversion changes its type or its bytes throughout, so two
 * checkpoints that differ also differ in what is hashed.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { ModelConfig } from './config';
import type { ModelWeights } from './weights';

const SLICES = 16;
const SLICE_BYTES = 256;

export function modelFingerprint(config: ModelConfig, weights: ModelWeights): string {
  const hash = sha256.create();
  const text = (value: unknown) => hash.update(new TextEncoder().encode(`${JSON.stringify(value)}\n`));
  text(config);
  for (const name of [...weights.keys()].sort()) {
    const tensor = weights.get(name);
    if (!tensor) continue;
    text([name, tensor.dtype, tensor.shape, tensor.data.byteLength, tensor.scales?.byteLength ?? 0]);
    for (const array of [tensor.data, tensor.scales]) {
      if (!array) continue;
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      const step = Math.max(0, bytes.byteLength - SLICE_BYTES) / (SLICES - 1);
      for (let i = 0; i < SLICES; i++) {
        const start = Math.floor(i * step);
        hash.update(bytes.subarray(start, start + SLICE_BYTES));
      }
    }
  }
  return bytesToHex(hash.digest());
}
