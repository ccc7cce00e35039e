/**
 * The benchmark's Web Worker: it opens its own GPU device, reads the fixture pair and runs the
 * suites of bench/run.ts, so the page's main thread stays free to draw progress and answer the
 * user while minutes of GPU work run. The page talks to it through comlink (bench/page/main.ts).
 */

import { expose } from 'comlink';
import { requestGpu } from '../../src/gpu/device';
import { urlSource } from '../../src/loader/source';
import { disposeFolders, readHead, readPair } from '../../src/model/pair';
import { type BenchResults, runBench } from '../run';

export interface BenchWorker {
  /**
   * A run on this worker's GPU; `modelsUrl` is the absolute URL of the fixtures' folder.
   * `progress` and `log` are comlink proxies.
   */
  run(
    options: { quick: boolean; environment: string; modelsUrl: string },
    progress: (done: number, stage: string) => void,
    log: (line: string) => void,
  ): Promise<BenchResults>;
}

const worker: BenchWorker = {
  async run({ quick, environment, modelsUrl }, progress, log) {
    const gpu = await requestGpu(navigator.gpu);
    try {
      progress(0, 'loading the fixture models');
      const folders = await readPair({
        target: urlSource(`${modelsUrl}tandem-target/`),
        draft: urlSource(`${modelsUrl}tandem-draft/`),
      });
      const pair = { ...folders, head: await readHead(urlSource(`${modelsUrl}tandem-target-eagle3/`), folders.target) };
      const mtp = await readPair({ target: urlSource(`${modelsUrl}tandem-qwen35/`), draft: 'mtp' });
      try {
        return await runBench(gpu, { pair, mtp, quick, environment, progress }, log);
      } finally {
        disposeFolders(pair);
        disposeFolders(mtp);
      }
    } finally {
      gpu.destroy();
    }
  },
};

expose(worker);
