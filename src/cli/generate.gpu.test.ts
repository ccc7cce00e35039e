/**
 * `tandem generate` on the real adapter, through the same `main` the `npx tandem` command runs:
 * its greedy continuation of the golden prompts is PyTorch's, token for token (plain text, and
 * a chat with a system prompt through the model's template); `--json` gives every documented
 * field, usage as the engine reports it; streamed text is the JSON's text; a draft model
 * changes no token (an MLC folder and a GGUF file too); a reply holds to a schema or a grammar
 * from a file; bad arguments and bad model folders end with a usage message or a named error.
 */

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generate } from '../model/generate';
import { ReferenceModel } from '../ref/model';
import { GREEDY } from '../sampling/sampling';
import { FIXTURES, fixturePath, GGUF_FIXTURE, loadFixture, loadGolden } from '../testing/fixtures';
import { serveModelHub } from '../testing/model-hub';
import { main } from './main';

const target = fixturePath(FIXTURES.target);
const golden = loadGolden(FIXTURES.target); // their 64-token greedy continuations hold no stop token

/** Runs the CLI and returns what it wrote to stdout (console.log and streamed text) and stderr. */
async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  vi.spyOn(console, 'log').mockImplementation((...parts) => {
    stdout += `${parts.join(' ')}\n`;
  });
  vi.spyOn(console, 'error').mockImplementation((...parts) => {
    stderr += `${parts.join(' ')}\n`;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const code = await main(args);
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}

afterEach(() => vi.restoreAllMocks());

describe('tandem generate', () => {
  it('continues a prompt as PyTorch does, and --json has every field', { timeout: 300_000 }, async () => {
    const prompt = golden[0];
    const { code, stdout } = await run([
      'generate',
      '--target',
      target,
      '--prompt',
      prompt.text,
      '--max-tokens',
      '64',
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.tokens).toEqual(prompt.greedyIds.slice(0, 64));
    expect(result.text).toBe(prompt.greedyText.slice(0, result.text.length));
    expect(result.text.length).toBeGreaterThan(100);
    expect(result.usage).toMatchObject({
      prompt_tokens: prompt.ids.length,
      completion_tokens: result.tokens.length,
      total_tokens: prompt.ids.length + result.tokens.length,
      cache_read_input_tokens: 0,
    });
    for (const field of ['time_to_first_token_s', 'prefill_tokens_per_s', 'decode_tokens_per_s']) {
      expect(result.usage.extra[field]).toBeGreaterThan(0);
    }
    expect(result.adapter.vendor).toBeTypeOf('string');
    expect(result.finish_reason).toBe('length');
  });

  it('runs an MLC folder (q4f16_1) with its draft, continuing as PyTorch does on its weights', {
    timeout: 300_000,
  }, async () => {
    const prompt = loadGolden(FIXTURES.targetQ4)[0];
    const args = ['generate', '--target', fixturePath(FIXTURES.targetQ4), '--draft', fixturePath(FIXTURES.draftQ4)];
    const { code, stdout } = await run([...args, '--prompt', prompt.text, '--max-tokens', '48', '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.tokens).toEqual(prompt.greedyIds.slice(0, 48));
    expect(result.usage.spec.acceptance_rate).toBeGreaterThan(0.3);
  });

  it('runs a GGUF file with a draft, continuing as the reference model does on its weights', {
    timeout: 300_000,
  }, async () => {
    const prompt = golden[0];
    const gguf = await loadFixture(GGUF_FIXTURE);
    const reference = new ReferenceModel(gguf.config, gguf.weights);
    const options = { maxTokens: 40, sampling: GREEDY };
    const expected = await generate(
      reference,
      reference.createSequence(256),
      gguf.tokenizer.encodePrompt(prompt.text),
      options,
    );
    gguf.tokenizer.dispose();
    const args = ['generate', '--target', fixturePath(GGUF_FIXTURE), '--draft', fixturePath(FIXTURES.draft)];
    const { code, stdout } = await run([...args, '--prompt', prompt.text, '--max-tokens', '40', '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.tokens).toEqual(expected);
    expect(result.usage.spec.acceptance_rate).toBeGreaterThan(0.3);
  });

  it('runs a model named by its catalogue id, with the draft it names, from a model hub', {
    timeout: 300_000,
  }, async () => {
    const hub = await serveModelHub({
      'tandem/Tandem-Target-q4f16_1-MLC': fixturePath(FIXTURES.targetQ4),
      'tandem/Tandem-Draft-q4f16_1-MLC': fixturePath(FIXTURES.draftQ4),
    });
    const appConfig = join(mkdtempSync(join(tmpdir(), 'tandem-cli-')), 'app-config.json');
    const record = (id: string) => ({ model: `${hub.url}/tandem/${id}`, model_id: id, model_lib: '' });
    writeFileSync(
      appConfig,
      JSON.stringify({ model_list: [record('Tandem-Target-q4f16_1-MLC'), record('Tandem-Draft-q4f16_1-MLC')] }),
    );
    try {
      const prompt = loadGolden(FIXTURES.targetQ4)[0];
      const { code, stdout } = await run([
        'generate',
        '--target',
        'Tandem-Target-q4f16_1-MLC',
        '--draft',
        'Tandem-Draft-q4f16_1-MLC',
        '--app-config',
        appConfig,
        '--prompt',
        prompt.text,
        '--max-tokens',
        '32',
        '--json',
      ]);
      expect(code).toBe(0);
      const result = JSON.parse(stdout);
      expect(result.tokens).toEqual(prompt.greedyIds.slice(0, 32));
      expect(result.usage.spec.acceptance_rate).toBeGreaterThan(0.3);
    } finally {
      await hub.close();
    }
  });

  it('streams the same text, then a summary on stderr', { timeout: 300_000 }, async () => {
    const prompt = golden[2];
    const args = ['generate', '--target', target, '--prompt', prompt.text, '--max-tokens', '24'];
    const streamed = await run(args);
    const json = await run([...args, '--json']);
    expect(streamed.code).toBe(0);
    expect(streamed.stdout).toBe(`${JSON.parse(json.stdout).text}\n`);
    expect(streamed.stderr).toMatch(
      /prompt tokens .* generated; TTFT [\d.]+ ms, prefill [\d.]+ tok\/s, decode [\d.]+ tok\/s/,
    );
  });

  it('builds a chat with --system through the template, and a draft changes no token', {
    timeout: 300_000,
  }, async () => {
    const prompt = golden[1]; // "You are a friendly storyteller." / "Tell me a story about a shy owl named Nora."
    const system = 'You are a friendly storyteller.';
    const user = 'Tell me a story about a shy owl named Nora.';
    const args = ['generate', '--target', target, '--system', system, '--prompt', user, '--max-tokens', '40', '--json'];
    const plain = JSON.parse((await run(args)).stdout);
    expect(plain.usage.prompt_tokens).toBe(prompt.ids.length);
    expect(plain.tokens).toEqual(prompt.greedyIds.slice(0, 40));

    const draft = JSON.parse((await run([...args, '--draft', fixturePath(FIXTURES.draft)])).stdout);
    expect(draft.tokens).toEqual(plain.tokens);
    expect(draft.usage.spec.draft).toBe('model');
    expect(draft.usage.spec.drafted).toBeGreaterThan(0);
  });

  it('holds a reply to a JSON schema or a grammar from a file (--reply-schema, --reply-grammar)', {
    timeout: 300_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-cli-'));
    const schema = join(dir, 'owl.schema.json');
    writeFileSync(
      schema,
      JSON.stringify({ type: 'object', properties: { name: { type: 'string', maxLength: 12 } }, required: ['name'] }),
    );
    const grammar = join(dir, 'answer.ebnf');
    writeFileSync(grammar, 'root ::= "The owl is " ("shy" | "wise") "."');
    const args = ['generate', '--target', target, '--system', 'You are a friendly storyteller.', '--max-tokens', '40'];
    const ask = [...args, '--prompt', 'Tell me a story about a shy owl named Nora.', '--json'];
    const json = JSON.parse(
      (await run([...ask, '--reply-schema', schema, '--draft', fixturePath(FIXTURES.draft)])).stdout,
    );
    expect(json.finish_reason).toBe('stop');
    expect(Object.keys(JSON.parse(json.text))).toEqual(['name']);
    expect(json.usage.spec.forced_tokens).toBeGreaterThan(0); // '{"name": "' needs no draft
    const chosen = JSON.parse((await run([...ask, '--reply-grammar', grammar])).stdout);
    expect(chosen.text).toMatch(/^The owl is (shy|wise)\.$/);
    const both = await run([...ask, '--reply-json', '--reply-grammar', grammar]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^tandem: --reply-json and --reply-grammar: give one format for the reply\n/);
  });

  it("drafts with Qwen3.5's own MTP layer (--draft mtp), changing no token; names a model without one", {
    timeout: 300_000,
  }, async () => {
    const qwen35 = fixturePath(FIXTURES.qwen35);
    const args = ['generate', '--target', qwen35, '--prompt', 'Once upon a time', '--max-tokens', '32', '--json'];
    const plain = JSON.parse((await run(args)).stdout);
    const mtp = JSON.parse((await run([...args, '--draft', 'mtp'])).stdout);
    expect(mtp.tokens).toEqual(plain.tokens);
    expect(mtp.usage.spec.draft).toBe('eagle'); // a head that reads the target's states
    expect(mtp.usage.spec.drafted).toBeGreaterThan(0);
    const { code, stderr } = await run(['generate', '--target', target, '--prompt', 'Hello', '--draft', 'mtp']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^NoMtpLayerError: .*no multi-token prediction layer/);
  });

  it('prints its usage for missing arguments or an unknown command', async () => {
    const missing = await run(['generate', '--prompt', 'Hello']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^tandem: --target is missing.*\n\nUsage: npx tandem generate --target/);
    expect((await run(['translate'])).code).toBe(2);
    expect((await run(['help'])).code).toBe(0);
  });

  it('says what is wrong with an option in one line, with its usage', async () => {
    const mistakes: [string[], RegExp][] = [
      [['--bogus'], /^tandem: Unknown option '--bogus'/],
      [['--max-tokens', 'many'], /^tandem: --max-tokens: "many" is not a whole number\n/],
      [['--temperature', ''], /^tandem: --temperature: "" is not a number\n/],
      [['--draft-len', '0'], /^tandem: draft length "0": "auto" or a whole number from 1\n/],
      [['--system-file', '/no/such/file'], /^tandem: --system-file: cannot read \/no\/such\/file \(ENOENT/],
      [['--app-config', join(target, 'golden.safetensors')], /^tandem: --app-config: .* is not JSON \(/],
      [['--draft', join(target, 'golden.safetensors')], /^tandem: --draft: .* is a file, not a model folder/],
    ];
    for (const [options, said] of mistakes) {
      const { code, stderr } = await run(['generate', '--target', target, '--prompt', 'Hello', ...options]);
      expect(code).toBe(2);
      expect(stderr).toMatch(said);
      expect(stderr).toContain('Usage: npx tandem generate');
      expect(stderr).not.toMatch(/\n\s+at /); // no stack
    }
  });

  it('names the error for a folder that is not a model, in one line', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tandem-cli-'));
    const { code, stderr } = await run(['generate', '--target', empty, '--prompt', 'Hello']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^ModelFileMissingError: .*config\.json/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a draft whose vocabulary differs from the target', { timeout: 120_000 }, async () => {
    // The draft fixture with two tokens' ids swapped in its tokenizer.
    const draft = join(mkdtempSync(join(tmpdir(), 'tandem-cli-')), 'draft');
    cpSync(fixturePath(FIXTURES.draft), draft, { recursive: true });
    const tokenizer = JSON.parse(readFileSync(join(draft, 'tokenizer.json'), 'utf8'));
    const vocab: Record<string, number> = tokenizer.model.vocab;
    const [a, b] = Object.keys(vocab).filter((token) => vocab[token] >= 100);
    [vocab[a], vocab[b]] = [vocab[b], vocab[a]];
    writeFileSync(join(draft, 'tokenizer.json'), JSON.stringify(tokenizer));
    const { code, stderr } = await run(['generate', '--target', target, '--prompt', 'Hello', '--draft', draft]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^VocabularyMismatchError: /);
  });
});
