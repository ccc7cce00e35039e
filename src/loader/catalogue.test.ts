/** web-llm's catalogue as Tandem reads it: what runs, why the rest does not, and each target's draft. */

import { describe, expect, it } from 'vitest';
import { catalogue, modelFolderUrl, resolveModel, WEB_LLM_CATALOGUE } from './catalogue';

const byId = new Map(catalogue().map((m) => [m.id, m]));

describe("web-llm's catalogue", () => {
  it('offers the Llama family, Phi-3, Phi-4-mini, Gemma 1, 2 and 3, OLMo 2, StableLM 2, Phi-1.5 and 2, RedPajama, Qwen3.5, each with the draft that shares its tokenizer', () => {
    for (const [target, draft] of [
      ['Llama-3.1-8B-Instruct-q4f16_1-MLC', 'Llama-3.2-1B-Instruct-q4f16_1-MLC'],
      ['Llama-3.2-3B-Instruct-q4f32_1-MLC', 'Llama-3.2-1B-Instruct-q4f32_1-MLC'],
      ['Qwen2.5-7B-Instruct-q4f16_1-MLC', 'Qwen2.5-0.5B-Instruct-q4f16_1-MLC'],
      ['Qwen3-8B-q4f16_1-MLC', 'Qwen3-0.6B-q4f16_1-MLC'],
      ['SmolLM2-1.7B-Instruct-q4f16_1-MLC', 'SmolLM2-360M-Instruct-q4f16_1-MLC'],
      ['gemma-2-9b-it-q4f32_1-MLC', 'gemma-2-2b-it-q4f32_1-MLC'],
      ['OLMo-2-1124-7B-Instruct-q4f16_1-MLC', 'OLMo-2-0425-1B-Instruct-q4f16_1-MLC'], // one tokenizer (dolma2)
      ['Qwen3.5-9B-q4f16_1-MLC', 'Qwen3.5-0.8B-q4f16_1-MLC'],
      ['Qwen3.5-2B-q4f32_1-MLC', 'Qwen3.5-0.8B-q4f32_1-MLC'],
    ]) {
      expect(byId.get(target)).toMatchObject({ supported: true, draft });
    }
    // The smallest of a family drafts for no one and gets no draft; other families get none.
    expect(byId.get('Llama-3.2-1B-Instruct-q4f16_1-MLC')?.draft).toBeUndefined();
    expect(byId.get('Mistral-7B-Instruct-v0.3-q4f16_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('gemma-2-2b-jpn-it-q4f16_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('Phi-3.5-mini-instruct-q4f16_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('Phi-3-mini-4k-instruct-q4f32_1-MLC')).toMatchObject({ supported: true });
    expect(byId.get('Phi-4-mini-instruct-q4f16_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('WizardMath-7B-V1.1-q4f16_1-MLC')).toMatchObject({ supported: true });
    expect(byId.get('gemma3-1b-it-q4f16_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('gemma-2b-it-q4f32_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('stablelm-2-zephyr-1_6b-q4f16_1-MLC-1k')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('phi-2-q4f16_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('phi-1_5-q4f32_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    expect(byId.get('RedPajama-INCITE-Chat-3B-v1-q4f16_1-MLC')).toMatchObject({ supported: true, draft: undefined });
    for (const id of ['Ministral-3-3B-Instruct-2512-BF16-q4f16_1-MLC', 'Ministral-3-3B-Reasoning-2512-q4f32_1-MLC']) {
      expect(byId.get(id)).toMatchObject({ supported: true, draft: undefined });
    }
  });

  it('lists the others as not run, saying why', () => {
    expect(byId.get('Phi-3.5-vision-instruct-q4f16_1-MLC')).toMatchObject({ supported: false, reason: /vision/ });
    expect(byId.get('gemma-4-E2B-it-q4f16_1-MLC')).toMatchObject({ supported: false, reason: /Gemma 4/ });
    expect(byId.get('Llama-3.1-70B-Instruct-q3f16_1-MLC')).toMatchObject({ supported: false, reason: /q3f16_1/ });
    expect(byId.get('snowflake-arctic-embed-m-q0f32-MLC-b32')).toMatchObject({ supported: false });
    const supported = catalogue().filter((m) => m.supported).length;
    expect(supported).toBeGreaterThan(40);
  });

  it("resolves an id to its repo's resolve/main/ folder, as web-llm fetches it", () => {
    expect(resolveModel('Llama-3.2-1B-Instruct-q4f16_1-MLC').url).toBe(
      'https://huggingface.co/mlc-ai/Llama-3.2-1B-Instruct-q4f16_1-MLC/resolve/main/',
    );
    expect(modelFolderUrl('https://example.com/me/model/resolve/v2/')).toBe('https://example.com/me/model/resolve/v2/');
  });

  it('refuses an unknown id and a model it does not run, by name', () => {
    expect(() => resolveModel('Llama-9-1T')).toThrow(expect.objectContaining({ name: 'ModelNotFoundError' }));
    expect(() => resolveModel('gemma-4-E2B-it-q4f16_1-MLC')).toThrow(
      expect.objectContaining({ name: 'UnsupportedArchitectureError' }),
    );
    expect(() => resolveModel('Llama-3.1-70B-Instruct-q3f16_1-MLC')).toThrow(
      expect.objectContaining({ name: 'UnsupportedQuantizationError' }),
    );
  });

  it("reads an app's own appConfig: its records are tried, drafts named explicitly", () => {
    const appConfig = {
      model_list: [
        { model: 'http://127.0.0.1:9/me/My-Model-q4f16_1-MLC', model_id: 'My-Model-q4f16_1-MLC', model_lib: '' },
      ],
    };
    expect(resolveModel('My-Model-q4f16_1-MLC', appConfig)).toMatchObject({
      url: 'http://127.0.0.1:9/me/My-Model-q4f16_1-MLC/resolve/main/',
      supported: true,
    });
  });
});

describe('the catalogue snapshot', () => {
  it("is the installed web-llm's prebuiltAppConfig model list (regenerate: node scripts/web-llm-models.mjs)", async () => {
    const { prebuiltAppConfig } = await import('@mlc-ai/web-llm');
    const installed = prebuiltAppConfig.model_list.map((r) => ({
      model: r.model,
      model_id: r.model_id,
      vram_required_MB: r.vram_required_MB,
      model_type: r.model_type,
    }));
    const snapshot = WEB_LLM_CATALOGUE.model_list.map((r) => ({
      model: r.model,
      model_id: r.model_id,
      vram_required_MB: r.vram_required_MB,
      model_type: r.model_type,
    }));
    expect(snapshot).toEqual(installed);
  });
});
