/** Loading the committed fixture folders, and the named error for each way a folder can be wrong. */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixturePath, loadFixture } from '../testing/fixtures';
import { loadModelFolder } from './model-folder';
import { parseSafetensors, tensorData } from './safetensors';
import { encodeSafetensors, type TensorToWrite } from './safetensors-writer';
import { memorySource } from './source';

const folder = fixturePath(FIXTURES.target);
const files = () =>
  Object.fromEntries(
    ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].map(
      (f) => [f, readFileSync(join(folder, f)) as Uint8Array],
    ),
  );

/** The fixture's weights rewritten with `edit` applied to the tensor list. */
function editedWeights(edit: (tensors: Record<string, TensorToWrite>) => void): Uint8Array {
  const file = parseSafetensors(files()['model.safetensors']);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, info] of file.tensors) {
    tensors[name] = { dtype: info.dtype, shape: info.shape, data: tensorData(file, info) };
  }
  edit(tensors);
  return encodeSafetensors(tensors);
}

async function loadError(overrides: Record<string, Uint8Array | string>): Promise<Error> {
  const error = await loadModelFolder(memorySource('edited', { ...files(), ...overrides })).catch((e: Error) => e);
  if (!(error instanceof Error)) throw new Error('expected the load to fail');
  return error;
}

describe('loadModelFolder', () => {
  it('loads every fixture with the dtype it was saved in', async () => {
    for (const [name, dtype] of [
      [FIXTURES.target, 'F32'],
      [FIXTURES.targetF16, 'F16'],
      [FIXTURES.targetBF16, 'BF16'],
      [FIXTURES.draft, 'F32'],
      [FIXTURES.qwen2, 'F32'],
    ] as const) {
      const model = await loadFixture(name);
      expect(model.weights.get('model.embed_tokens.weight')?.dtype).toBe(dtype);
      expect(model.weights.get('model.norm.weight')?.shape).toEqual([model.config.hiddenSize]);
      model.tokenizer.dispose();
    }
  });

  it('raises TensorMissingError naming the tensor', async () => {
    const error = await loadError({
      'model.safetensors': editedWeights((t) => {
        delete t['model.layers.1.mlp.up_proj.weight'];
      }),
    });
    expect(error.name).toBe('TensorMissingError');
    expect(error.message).toMatch(/model\.layers\.1\.mlp\.up_proj\.weight/);
  });

  it('raises TensorShapeError when a tensor disagrees with config.json', async () => {
    const config = JSON.parse(files()['config.json'].toString());
    const error = await loadError({ 'config.json': JSON.stringify({ ...config, intermediate_size: 400 }) });
    expect(error.name).toBe('TensorShapeError');
    expect(error.message).toMatch(/gate_proj\.weight" has shape \[\d+,\d+\] but config\.json implies \[400,/);
  });

  it('raises TokenizerError for a tokenizer with more tokens than the model has rows', async () => {
    const tokenizer = JSON.parse(files()['tokenizer.json'].toString());
    const vocab = tokenizer.model.vocab as Record<string, number>;
    const count = Object.keys(vocab).length;
    for (let i = 0; i < 600; i++) vocab[`extra${i}`] = count + i;
    const error = await loadError({ 'tokenizer.json': JSON.stringify(tokenizer) });
    expect(error.name).toBe('TokenizerError');
    expect(error.message).toMatch(/has \d+ tokens but the model's vocab_size is 1024/);
  });

  it('raises ModelConfigError for stop tokens past the vocabulary and a do_sample that is not a flag', async () => {
    const generation = JSON.parse(files()['generation_config.json'].toString());
    const eos = await loadError({
      'generation_config.json': JSON.stringify({ ...generation, eos_token_id: [2, 5000] }),
    });
    expect(eos.name).toBe('ModelConfigError');
    expect(eos.message).toMatch(/stop token id 5000 \(eos_token_id\) is past the model's vocab_size 1024/);
    const doSample = await loadError({ 'generation_config.json': JSON.stringify({ ...generation, do_sample: 1.5 }) });
    expect(doSample.message).toMatch(/"do_sample" is 1.5, not true or false/);
  });

  it('raises UnsupportedArchitectureError for an architecture we do not run', async () => {
    const config = JSON.parse(files()['config.json'].toString());
    const error = await loadError({
      'config.json': JSON.stringify({ ...config, architectures: ['MambaForCausalLM'] }),
    });
    expect(error.name).toBe('UnsupportedArchitectureError');
  });

  it('raises SafetensorsFormatError for truncated weights and ModelFileMissingError for missing ones', async () => {
    const weights = files()['model.safetensors'];
    const truncated = await loadError({ 'model.safetensors': weights.subarray(0, weights.byteLength - 100) });
    expect(truncated.name).toBe('SafetensorsFormatError');
    const { 'model.safetensors': _, ...rest } = files();
    const missing = await loadModelFolder(memorySource('no-weights', rest)).catch((e: Error) => e);
    expect((missing as Error).name).toBe('ModelFileMissingError');
  });

  it('refuses weights for more layers than config.json has', async () => {
    const config = JSON.parse(files()['config.json'].toString());
    const error = await loadError({
      'config.json': JSON.stringify({ ...config, num_hidden_layers: config.num_hidden_layers - 1 }),
    });
    expect(error.name).toBe('TensorShapeError');
    expect(error.message).toMatch(/holds "model\.layers\.\d+\..*", but config\.json says the model has \d+ layers/);
  });

  it('refuses an index whose shard lies outside the model folder, before reading it', async () => {
    const index = { weight_map: { 'model.embed_tokens.weight': '../../../../../etc/passwd' } };
    const { 'model.safetensors': _, ...rest } = files();
    const error = await loadError({ ...rest, 'model.safetensors.index.json': JSON.stringify(index) });
    expect(error.name).toBe('UnsafeFilePathError');
    expect(error.message).not.toMatch(/bytes|size/);
  });

  it('raises ModelConfigError for a config.json that is not JSON', async () => {
    const error = await loadError({ 'config.json': '{"architectures": [' });
    expect(error.name).toBe('ModelConfigError');
  });
});
