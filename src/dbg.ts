import './node/require-shim';
import { requestNodeGpu } from './gpu/node';
import { loadModelFolder } from './loader/model-folder';
import { directorySource } from './loader/node-source';
import { GpuModel } from './model/gpu-model';
import { ReferenceModel } from './ref/model';
import { maxError } from './testing/compare';
export async function main(args: string[]) {
  const gpu = await requestNodeGpu();
  const folder = await loadModelFolder(directorySource(args[0]));
  const ref = new ReferenceModel(folder.config, folder.weights);
  const model = await GpuModel.create(gpu, folder.config, folder.weights, { maxBatch: 8 });
  const ids = [0, 418, 415, 260, 416, 47, 417, 287, 260, 669, 617, 308];
  const r = await ref.forward(ref.createSequence(64), ids);
  const s = model.createSequence(64);
  const g = await model.forward(s, ids);
  let worst = 0;
  for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(r[i] - g[i]));
  console.log('max abs diff', worst, maxError(g, r, { atol: 1e-3, rtol: 1e-3 }));
  const s2 = model.createSequence(64);
  const t0 = performance.now();
  const gi = await model.greedy(s2, ids);
  console.log('greedy ids', Array.from(gi).slice(-4), 'ms', performance.now() - t0);
  let tok = gi[gi.length - 1];
  const t1 = performance.now();
  for (let i = 0; i < 20; i++) tok = (await model.greedy(s2, [tok]))[0];
  console.log('20 decode steps ms', performance.now() - t1, gpu.failure);
  return 0;
}
