/**
 * Kernel suite: the copy kernel's bandwidth (the device's practical memory speed), and the
 * linear kernel's weight-read bandwidth next to it, per weight type, in the same run; then
 * attention at long contexts (suites/attention.ts).
 *
 * Bandwidth = bytes moved / time: a copy moves 2 x size (read + write); a linear layer reads
 * its weights once (x and y are small and cached). A dispatch's time is the difference between
 * passes of many and of few dispatches, over their difference in count, so what a pass costs
 * besides its dispatches (recording, submitting, waiting: tens of microseconds, as long as a
 * large matrix's read on a fast GPU) cancels out. A full run cycles through copies of a small
 * matrix, 128 MiB of them, so that the GPU's cache (50 MB on an H100) does not hold them all.
 */

import { createStorage, STORAGE, uploadBuffer } from '../../src/gpu/buffers';
import type { Gpu } from '../../src/gpu/device';
import { runComputePass } from '../../src/gpu/passes';
import { bindBuffers, computePipeline } from '../../src/gpu/pipelines';
import { LinearKernel, linearLanes } from '../../src/kernels/linear';
import { layerVariants } from '../../src/kernels/linear-layer';
import { kernelProfile } from '../../src/kernels/profile';
import { StepUniform } from '../../src/kernels/step';
import { isLevelDType, SCALES_PER_16 } from '../../src/loader/iq4';
import { isQuantized, type WeightDType, type WeightTensor } from '../../src/loader/weights';
import { matrixBuffer } from '../../src/model/gpu-weights';
import copyCode from '../copy.wgsl?raw';
import { time } from '../stats';
import { type AttentionResult, runAttentionTimings } from './attention';

export interface LinearResult {
  dtype: WeightDType;
  rows: number;
  k: number;
  ms: number;
  gb_s: number;
  /** gb_s / copy_gb_s: the share of the device's copy bandwidth the kernel reaches. */
  fraction_of_copy: number;
  /** Threads of the dispatch: rows x lanes a row, or a thread for every 4 rows (blocked) */
  threads: number;
  /**
   * How the lanes of a q4 row were counted: 'f16 words' (the profile's rule: eight values a
   * word) or 'q4 words' (32 values a word, the rule before, timed beside it); 'profile' for the
   * other types.
   */
  lanes_by: string;
  /** Two rows a thread or more (linear.wgsl's TWO_ROWS), timed the profile's way and the other for the q4 types on GPUs. */
  two_rows: boolean;
  /** Rows a thread sums: 1, 2, or 4 (FOUR_ROWS, timed beside the profile's for the q4 types on GPUs); 4 in blocks of rows. */
  rows_a_thread: number;
  /**
   * Units of each row a lane loaded before adding the first (linear.wgsl's UNITS_IN_FLIGHT: the
   * profile's, and for the q4 types on GPUs one at a time or four beside it); 1 for the float
   * types and on CPU adapters.
   */
  units_in_flight: number;
  /**
   * Whether a lane took a quantized word's u32s (quantized.wgsl's SPLIT_GROUPS, the GPU
   * profile's way) or whole words (timed beside it for the q4 types on GPUs); false for the
   * float types and on CPU adapters, whose one lane a row sums the same either way.
   */
  split_groups: boolean;
  /**
   * 'profile' for the kernel the device's profile runs, else how the kernel timed beside it
   * differs: 'lanes by q4 words', 'two rows a thread' or 'one row a thread', 'whole words' or
   * 'split units', 'one unit at a time' or '4 units in flight'.
   */
  variant: string;
}

export interface KernelResults {
  copy_gb_s: number;
  copy_bytes: number;
  linear: LinearResult[];
  /** Attention at long contexts, the profile's way and each choice the other (suites/attention.ts) */
  attention: AttentionResult[];
}

/** Bytes of copies of a matrix a full run cycles through: more than a GPU's cache holds. */
const CYCLED_BYTES = 128 << 20;

/**
 * The GPU time of one dispatch, ms: the median time of passes of `few` and of `many`
 * dispatches (`dispatch(pass, i)` records the i-th), their difference over many - few. Where
 * noise makes that difference no larger than zero, the many's time over their count.
 */
export async function dispatchMs(
  device: GPUDevice,
  dispatch: (pass: GPUComputePassEncoder, i: number) => void,
  few: number,
  many: number,
  runs: number,
): Promise<number> {
  const pass = (count: number) =>
    time(
      () =>
        runComputePass(device, (p) => {
          for (let i = 0; i < count; i++) dispatch(p, i);
        }),
      runs,
    );
  const fewMs = (await pass(few)).median;
  const manyMs = (await pass(many)).median;
  const difference = (manyMs - fewMs) / (many - few);
  return difference > 0 ? difference : manyMs / many;
}

export async function copyBandwidth(gpu: Gpu, bytes: number, runs: number) {
  const { device } = gpu;
  const src = createStorage(device, bytes, 'copy src');
  const dst = createStorage(device, bytes, 'copy dst');
  const pipeline = computePipeline(device, 'copy', copyCode);
  const bindGroup = bindBuffers(device, pipeline, 'copy', [src, dst]);
  const groups = Math.ceil(bytes / 16 / 64);
  const x = Math.min(groups, 65535);
  const ms = await dispatchMs(
    device,
    (pass) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    },
    2,
    6,
    runs,
  );
  src.destroy();
  dst.destroy();
  return (2 * bytes) / (ms / 1000) / 1e9;
}

/**
 * The decode pipeline a model of the device's profile runs for a (rows, k) matrix (the layer's
 * one-token variant), unless the caller asks for other lanes or two rows a thread; its time a
 * dispatch and the bandwidth of its weight reads. `cycle`: go through copies of the matrix,
 * CYCLED_BYTES of them, rather than read one again and again.
 */
export async function linearBandwidth(
  gpu: Gpu,
  shape: { rows: number; k: number; dtype: WeightDType },
  runs: number,
  options: LinearOptions & { cycle?: boolean } = {},
) {
  const { device } = gpu;
  const { rows, k, dtype } = shape;
  // The bytes a step reads: the matrix as its buffer holds it (q4: packed values and scales).
  const weightData = matrixBuffer(constantWeights(rows, k, dtype));
  const copies = options.cycle ? Math.min(32, Math.ceil(CYCLED_BYTES / weightData.byteLength)) : 1;
  const weights = Array.from({ length: copies }, () => uploadBuffer(device, weightData, STORAGE, 'weight'));
  const step = new StepUniform(device);
  step.write(1);
  const [profileDecode] = layerVariants(shape, kernelProfile(gpu.info), gpu.subgroupShuffle);
  const decode =
    profileDecode.kind === 'lanes'
      ? {
          ...profileDecode,
          lanes: options.lanes ?? profileDecode.lanes,
          twoRows: options.fourRows || (options.twoRows ?? profileDecode.twoRows),
          fourRows: options.fourRows ?? profileDecode.fourRows,
          splitGroups: options.splitGroups ?? profileDecode.splitGroups,
          unitsInFlight: options.unitsInFlight ?? profileDecode.unitsInFlight,
        }
      : profileDecode;
  const kernel = new LinearKernel(device, shape, { kind: 'store' }, decode);
  const buffers = {
    step: step.buffer,
    bias: createStorage(device, rows * 4, 'bias'),
    x: createStorage(device, k * 4, 'x'),
    y: createStorage(device, rows * 4, 'y'),
  };
  const binds = weights.map((weight) => kernel.bind({ ...buffers, weight }));
  const ms = await dispatchMs(
    device,
    (pass, i) => kernel.encode(pass, binds[i % copies], 1),
    2 * copies,
    6 * copies,
    runs,
  );
  for (const buffer of [...Object.values(buffers), ...weights]) buffer.destroy();
  const rowsAThread = decode.kind !== 'lanes' ? 4 : decode.fourRows ? 4 : decode.twoRows ? 2 : 1;
  const threads = decode.kind === 'lanes' ? (rows * decode.lanes) / rowsAThread : Math.ceil(rows / 4);
  const splitGroups = decode.kind === 'lanes' && (decode.splitGroups ?? false);
  const twoRows = decode.kind === 'lanes' && (decode.twoRows ?? false);
  const unitsInFlight = decode.kind === 'lanes' && isQuantized(dtype) ? (decode.unitsInFlight ?? 1) : 1;
  const gbPerS = weightData.byteLength / (ms / 1000) / 1e9;
  return { ms, gbPerS, threads, splitGroups, twoRows, rowsAThread, unitsInFlight };
}

/** How a timed linear kernel may differ from the profile's decode kernel for its shape. */
interface LinearOptions {
  lanes?: number;
  twoRows?: boolean;
  fourRows?: boolean;
  splitGroups?: boolean;
  unitsInFlight?: number;
}

/** A (rows, k) matrix of one small value in `dtype`: a kernel's speed does not depend on the values. */
function constantWeights(rows: number, k: number, dtype: WeightDType): WeightTensor {
  const tensor = { name: 'weight', dtype, shape: [rows, k] };
  if (dtype === 'F32') return { ...tensor, data: new Float32Array(rows * k).fill(0.01) };
  if (dtype === 'F16' || dtype === 'BF16') return { ...tensor, data: new Uint16Array(rows * k).fill(0x2000) };
  if (dtype === 'Q8_0') {
    // One f16 scale a block of 32.
    const scales = new Uint16Array((rows * k) / 32).fill(0x2000);
    return { ...tensor, data: new Uint32Array((rows * k) / 4).fill(0x7f01c3e5), scales };
  }
  if (dtype === 'Q8' || dtype === 'Q8A') {
    // One f32 scale a group of 16; Q8A: a (scale, min) pair.
    const scales = new Float32Array(((rows * k) / 16) * (dtype === 'Q8A' ? 2 : 1)).fill(0.01);
    return { ...tensor, data: new Uint32Array((rows * k) / 4).fill(0x7f01c3e5), scales };
  }
  if (dtype === 'Q5_K' || dtype === 'Q6A' || dtype === 'Q6_K') {
    // Per group of 32: its fifth bits, then an f16 (scale, min) pair; Q6A: two u32s of high
    // bits, then two pairs; Q6_K: the high bits, then d and two int8 scales (here 0 and 32).
    const perGroup = { Q5_K: 2, Q6A: 4, Q6_K: 3 }[dtype];
    const scales = new Uint32Array(((rows * k) / 32) * perGroup).fill(0x20002000);
    return { ...tensor, data: new Uint32Array((rows * k) / 8).fill(0x89abcdef), scales };
  }
  // One scale a group of 32 (f16, or f32 for Q4F32 and level groups, two for those with a scale
  // a 16); Q4_K: an f16 (scale, min) pair.
  const scales = isLevelDType(dtype)
    ? new Float32Array((rows * k) / (SCALES_PER_16.includes(dtype) ? 16 : 32)).fill(0.01)
    : dtype === 'Q4F32'
      ? new Float32Array((rows * k) / 32).fill(0.01)
      : new Uint16Array(((rows * k) / 32) * (dtype === 'Q4_K' ? 2 : 1)).fill(0x2000);
  return { ...tensor, data: new Uint32Array((rows * k) / 8).fill(0x89abcdef), scales };
}

/**
 * The copy, then each matrix in each of its types; `keep` gets the results so far after each
 * matrix, so that a run stopped part way keeps them.
 */
export async function runKernelSuite(
  gpu: Gpu,
  quick: boolean,
  keep: (soFar: KernelResults) => void = () => {},
): Promise<KernelResults> {
  const copyBytes = quick ? 8 << 20 : 32 << 20;
  const runs = quick ? 3 : 7;
  const copy = await copyBandwidth(gpu, copyBytes, runs);
  const all = ['F32', 'F16', 'Q4F16', 'Q4F32'] as const;
  // GGUF's Q4_K, Q5_K (Q5_K_M files), Q6_K (Q4_K_M files' Q6_K matrices), Q6A (their q|k|v
  // beside a Q6_K v), IQ4 (IQ4_XS files, and the 1- to 3-bit i-quants with a scale a 32 at its speed),
  // IQ2_S (level groups with a scale a 16: IQ2_M, IQ2_S and IQ2_XS files), Q8_0 and 8-bit
  // groups of 16 (Q8: an i-quant beside Q8_0; Q8A: beside a K-quant) beside MLC's q4f16_1 at
  // the 8B shapes.
  const halfAndQ4 = ['F16', 'Q4F16', 'Q4_K', 'Q5_K', 'Q6_K', 'Q6A', 'IQ4', 'IQ2_S', 'Q8_0', 'Q8', 'Q8A'] as const;
  const shapes: { rows: number; k: number; dtypes: readonly WeightDType[] }[] = quick
    ? [{ rows: 2048, k: 1024, dtypes: all }]
    : [
        // Llama-3.1-8B's matrices (q|k|v, o, gate|up and down) first: what the q4 goal asks.
        { rows: 6144, k: 4096, dtypes: halfAndQ4 },
        { rows: 4096, k: 4096, dtypes: halfAndQ4 },
        { rows: 28672, k: 4096, dtypes: halfAndQ4 },
        { rows: 4096, k: 14336, dtypes: halfAndQ4 },
        { rows: 2048, k: 1024, dtypes: all },
        { rows: 4096, k: 2048, dtypes: all },
        { rows: 576, k: 1536, dtypes: all },
      ];
  const linear: LinearResult[] = [];
  let attention: AttentionResult[] = [];
  const soFar = (): KernelResults => ({ copy_gb_s: round(copy), copy_bytes: copyBytes, linear, attention });
  const profile = kernelProfile(gpu.info);
  const result = (
    dtype: WeightDType,
    shape: { rows: number; k: number },
    lanesBy: string,
    variant = 'profile',
    options: LinearOptions = {},
  ) =>
    linearBandwidth(gpu, { ...shape, dtype }, runs, { ...options, cycle: !quick }).then(
      ({ ms, gbPerS, threads, splitGroups, twoRows, rowsAThread, unitsInFlight }): LinearResult => ({
        dtype,
        ...shape,
        ms: round(ms, 4),
        gb_s: round(gbPerS),
        fraction_of_copy: round(gbPerS / copy),
        threads,
        lanes_by: lanesBy,
        two_rows: twoRows,
        rows_a_thread: rowsAThread,
        units_in_flight: unitsInFlight,
        split_groups: splitGroups,
        variant,
      }),
    );
  for (const { dtypes, ...shape } of shapes) {
    for (const dtype of dtypes) {
      const lanesKernel = profile.rowBlock === 1; // blocks of 4 rows (CPU adapters) have no lanes
      const own = await result(dtype, shape, isQuantized(dtype) && lanesKernel ? 'f16 words' : 'profile');
      linear.push(own);
      if (dtype.startsWith('Q4') && lanesKernel) {
        // Side by side: the lanes a row that counting q4 words (32 values each) would give, the
        // other number of rows a thread (two: each input chunk serving both; and four), and the
        // other unit (whole words, or their u32s), and units loaded one at a time or four before
        // the first is added, the other way from the profile.
        const lanes = linearLanes(shape.k / 32, profile.wordsPerLane, shape.rows, profile.minWorkgroups);
        const wordsNote = profile.splitGroups ? 'whole words' : 'split units';
        linear.push(await result(dtype, shape, 'q4 words', 'lanes by q4 words', { lanes }));
        for (const rows of ROWS_A_THREAD.filter((r) => r !== own.rows_a_thread)) {
          const options = { twoRows: rows >= 2, fourRows: rows === 4 };
          linear.push(await result(dtype, shape, 'f16 words', ROWS_NOTES[rows], options));
        }
        linear.push(await result(dtype, shape, 'f16 words', wordsNote, { splitGroups: !profile.splitGroups }));
        const inFlight = profile.unitsInFlight > 1 ? 1 : 4;
        const inFlightNote = inFlight === 1 ? 'one unit at a time' : '4 units in flight';
        linear.push(await result(dtype, shape, 'f16 words', inFlightNote, { unitsInFlight: inFlight }));
      }
    }
    keep(soFar());
  }
  attention = await runAttentionTimings(gpu, quick, (timed) => {
    attention = timed;
    keep(soFar());
  });
  return soFar();
}

/** The rows a lanes kernel's thread may sum, each timed beside the profile's for the q4 types. */
const ROWS_A_THREAD = [1, 2, 4] as const;
const ROWS_NOTES: Record<(typeof ROWS_A_THREAD)[number], string> = {
  1: 'one row a thread',
  2: 'two rows a thread',
  4: 'four rows a thread',
};

export const round = (x: number, digits = 3) => Number(x.toFixed(digits));
/** A small ratio to three significant digits: a 32k-token prefix typed ahead is 0.0005 of its cold time, not 0. */
export const share = (x: number) => Number(x.toPrecision(3));
