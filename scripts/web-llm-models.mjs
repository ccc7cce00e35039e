#!/usr/bin/env node
// Writes src/loader/web-llm-models.json: the model list of the installed @mlc-ai/web-llm's
// prebuiltAppConfig, reduced to what Tandem reads (repo, id, VRAM, model type). The app reads
// this snapshot instead of importing web-llm's 7 MB bundle into the page and the worker; a unit
// test keeps it equal to the installed package. Run after upgrading @mlc-ai/web-llm:
//   node scripts/web-llm-models.mjs

import { writeFileSync } from 'node:fs';
import { prebuiltAppConfig } from '@mlc-ai/web-llm';

const models = prebuiltAppConfig.model_list.map((record) => ({
  model: record.model,
  model_id: record.model_id,
  ...(record.vram_required_MB === undefined ? {} : { vram_required_MB: record.vram_required_MB }),
  ...(record.model_type === undefined ? {} : { model_type: record.model_type }),
}));
const file = new URL('../src/loader/web-llm-models.json', import.meta.url);
writeFileSync(file, `${JSON.stringify(models, null, 1)}\n`);
console.log(`${models.length} models written to src/loader/web-llm-models.json`);
