/** The page's entry point: finds the GPU and shows what it found. */

import { requestGpu } from '../gpu/device';
import { showGpu, showNoGpu } from './gpu-panel';
import './style.css';

const panel = document.getElementById('gpu') as HTMLElement;

requestGpu(navigator.gpu).then(
  (gpu) => showGpu(panel, gpu.info),
  (error: Error) => showNoGpu(panel, error),
);
