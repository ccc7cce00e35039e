/**
 * Causal grouped-query attention over a sequence's KV cache, the kernel wrapper of
 * attention.wgsl and its companions: split segments merged in order (attention_combine.wgsl,
 * attention_segments.wgsl), tiles of rows that read each key once (attention_tiled.wgsl), and
 * a thread per row for CPU adapters (attention_serial.wgsl). Which walk a step takes depends on
 * its shape; every walk gives a token the same bits (ARCHITECTURE.md, batch invariance).
 */

import { createStorage } from '../gpu/buffers';
import attentionCode from './attention.wgsl?raw';
import attentionCombineCode from './attention_combine.wgsl?raw';
import attentionSegmentsCode from './attention_segments.wgsl?raw';
import attentionSerialCode from './attention_serial.wgsl?raw';
import attentionTiledCode from './attention_tiled.wgsl?raw';
import { ComputeKernel } from './kernel';
import { type KvFormat, kvReadCode } from './kv-cache';
import { TREE_POSITION_CODE } from './step';

export interface HeadShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/** How a layer attends (see AttentionOptions of src/ref/ops.ts). */
export interface AttentionShape {
  scale: number;
  softcap: number | null;
  window: number | null;
}

const SERIAL_WORKGROUP = 4; // threads: one SIMD register's lanes on SwiftShader
/** Steps this long run tiled attention where it is on: more tokens than a verify pass's largest tile. */
export const TILED_ATTENTION_MIN_TOKENS = 17;
/** Workgroup memory every WebGPU device offers (maxComputeWorkgroupStorageSize's default). */
const WORKGROUP_BYTES = 16384;
/**
 * Query floats a thread of attention_serial.wgsl holds: 4 rows (token, head) of 32 dimensions.
 * More rows share each key's load and loop, but outgrow the registers and take the compiler
 * long: on SwiftShader, 8 rows prefill no faster and take 5x as long to compile (3.5 s).
 * Loads of keys and values are most of its time there: a 256-token chunk of the fixture
 * target's attention at 4,096 positions took 287 ms a layer, 75 ms with those loads replaced by
 * constants, 238 ms with its exps replaced by a sum (timings only: neither gives attention). So
 * a thread serves as many rows as its registers allow with each key and value it loads.
 */
const SERIAL_QUERY_FLOATS = 128;
/** Tokens a thread of attention_serial.wgsl at most: SwiftShader compiled 8 of 16 dimensions in 10 s, 4 in 0.5 s. */
const SERIAL_MAX_TOKENS = 4;
const SERIAL_MAX_HEAD_DIM = 256; // attention_serial.wgsl: a row holds 2 HD floats in registers

/**
 * Threads of attention.wgsl's workgroup for a head dimension: a thread per output dimension,
 * at least 64, a power of two for its reductions. Its smallest split of a context.
 */
export function attentionWorkgroup(headDim: number): number {
  return Math.max(64, 2 ** Math.ceil(Math.log2(headDim)));
}

/**
 * The rows of a thread of attention_serial.wgsl: `heads` of the heads that read one KV head (a
 * divisor of their number) for `tokens` tokens, as many as SERIAL_QUERY_FLOATS allows, one at least
 * and SERIAL_MAX_TOKENS at most.
 */
export function serialRows({ numHeads, numKvHeads, headDim }: HeadShape): { heads: number; tokens: number } {
  const group = numHeads / numKvHeads;
  let heads = group;
  while (heads > 1 && (group % heads !== 0 || heads * headDim > SERIAL_QUERY_FLOATS)) heads--;
  const tokens = Math.floor(SERIAL_QUERY_FLOATS / (heads * headDim));
  return { heads, tokens: Math.max(1, Math.min(SERIAL_MAX_TOKENS, tokens)) };
}

/** attention_serial.wgsl written out for `shape`'s rows a thread. */
function serialCode(shape: HeadShape): string {
  const { heads, tokens } = serialRows(shape);
  const code = attentionSerialCode
    .replace('const T = 1u;', `const T = ${tokens}u;`)
    .replace('const H = 1u;', `const H = ${heads}u;`);
  return writeEach(code, { t: tokens, h: heads, d: shape.headDim / 4 });
}

/**
 * Writes each `// EACH line` of `code` once for every value of the placeholders it holds,
 * {t} < counts.t, {h} < counts.h, {d} < counts.d, nested in that order (attention_serial.wgsl).
 */
function writeEach(code: string, counts: { t: number; h: number; d: number }): string {
  return code.replace(/^(\s*)\/\/ EACH (.*)$/gm, (_, indent: string, line: string) => {
    let lines = [line];
    for (const name of ['t', 'h', 'd'] as const) {
      const placeholder = `{${name}}`;
      if (!line.includes(placeholder)) continue;
      lines = lines.flatMap((l) =>
        Array.from({ length: counts[name] }, (_, i) => l.replaceAll(placeholder, String(i))),
      );
    }
    return lines.map((l) => `${indent}${l}`).join('\n');
  });
}

/** An attention kernel's bind groups for one KV cache: the walk, and the merge of split segments. */
export interface AttentionBinds {
  main: GPUBindGroup;
  combine?: GPUBindGroup;
  tiled?: GPUBindGroup;
  grouped?: GPUBindGroup;
}

/**
 * The (token, head) rows of attention_tiled.wgsl's workgroup: the largest divisor of `rows`
 * whose queries, probabilities and reduction fit the workgroup's memory.
 */
function tiledRows(rows: number, headDim: number, workgroup: number): number {
  let fitting = rows;
  while (fitting > 1 && (rows % fitting !== 0 || fitting * (headDim + 2 * workgroup) * 4 > WORKGROUP_BYTES)) fitting--;
  return fitting;
}

/**
 * Segments of split attention in a context of `length` positions: the first `fine` in segments
 * of `width` (a workgroup's), the rest in segments of `split` (attention_segments.wgsl).
 */
export function attentionSegments(length: number, split: number, fine: number, width: number): number {
  if (length <= fine) return Math.ceil(length / width);
  return fine / width + Math.ceil((length - fine) / split);
}

/**
 * Causal grouped-query attention of each new token over the cache (attention.wgsl): a workgroup
 * per head, token and segment (one workgroup's width each for the first `limits.fine` positions,
 * then `limits.split`: attention_segments.wgsl), the segments of a longer context then merged
 * in order (attention_combine.wgsl); or with `serial` a thread per head and token
 * (attention_serial.wgsl, for CPU adapters). Scaled, soft-capped and windowed as `shape` says.
 * `limits` size the segments' scratch: the most tokens of a step and the longest context.
 * With `limits.tiled`, steps of TILED_ATTENTION_MIN_TOKENS or more (prefill) run
 * attention_tiled.wgsl instead, the same bits for each token with the keys read once for several.
 * Shorter steps whose context reaches `limits.groupedFrom` positions run it with a workgroup
 * for each token's heads of a KV head (grouped-query attention's group, G = NH / NKV heads):
 * each cached key and value is read once for the group, not G times, which at 32k positions
 * is most of a decode step's bytes. Never for a tree pass, whose leaves read their own slots.
 */
export class AttentionKernel extends ComputeKernel {
  /** attention_serial.wgsl's rows a thread, for a serial kernel. */
  private readonly serialRows?: { heads: number; tokens: number };
  private readonly combine?: ComputeKernel;
  /** (tokens, NH, segments, HD + 2) floats, shared by every use of this kernel (steps run in order). */
  private readonly partials?: GPUBuffer;
  private readonly segments: number;
  private readonly segmentCount: (length: number) => number;
  /** attention_tiled.wgsl for long steps, and the (token, head) rows of its workgroups. */
  private readonly tiled?: { kernel: ComputeKernel; rows: number };
  /** attention_tiled.wgsl with a token's heads of a KV head a workgroup, for shorter steps from `from` positions. */
  private readonly grouped?: { kernel: ComputeKernel; rows: number; from: number };

  constructor(
    device: GPUDevice,
    private readonly heads: HeadShape,
    serial = false,
    shape: AttentionShape = { scale: 1 / Math.sqrt(heads.headDim), softcap: null, window: null },
    kv: KvFormat = 'f32',
    limits: {
      maxTokens: number;
      maxContext: number;
      split?: number;
      fine?: number;
      tiled?: boolean;
      groupedFrom?: number;
    } = {
      maxTokens: 64,
      maxContext: 512,
    },
  ) {
    const { numHeads: nh, numKvHeads: nkv, headDim: hd } = heads;
    if (hd % 4 !== 0) throw new RangeError(`attention: head dim ${hd} is not a multiple of 4`);
    if (serial && hd > SERIAL_MAX_HEAD_DIM) {
      throw new RangeError(`attention: head dim ${hd} exceeds ${SERIAL_MAX_HEAD_DIM}, the serial kernel's largest`);
    }
    const wg = serial ? SERIAL_WORKGROUP : attentionWorkgroup(hd);
    const split = limits.split ?? 512;
    const fine = limits.fine ?? 0;
    if (!serial && split % wg !== 0) throw new RangeError(`attention: a split of ${split} is not a multiple of ${wg}`);
    if (!serial && fine % wg !== 0)
      throw new RangeError(`attention: ${fine} fine positions are not a multiple of ${wg}`);
    const segmentCount = (length: number) => (serial ? 1 : attentionSegments(length, split, fine, wg));
    const segments = segmentCount(limits.maxContext);
    const label = `attention ${nh}/${nkv}x${hd}${serial ? ' serial' : ''}${shape.window ? ` window ${shape.window}` : ''} ${kv}`;
    const code = serial
      ? `${serialCode(heads)}${kvReadCode(kv, 'four')}${TREE_POSITION_CODE}`
      : `${attentionCode}${attentionSegmentsCode}${kvReadCode(kv, 'one')}${TREE_POSITION_CODE}`;
    const splitting: Record<string, number> = serial ? {} : { SPLIT: split, SEGMENTS: segments, FINE: fine };
    const constants = {
      NH: nh,
      NKV: nkv,
      HD: hd,
      WG: wg,
      SCALE: Math.fround(shape.scale),
      SOFTCAP: shape.softcap ?? 0,
      WINDOW: shape.window ?? 0,
      ...splitting,
    };
    super(device, label, code, constants);
    if (serial) this.serialRows = serialRows(heads);
    this.segments = segments;
    this.segmentCount = segmentCount;
    if (!serial) {
      // A context of one segment never writes partials: a word stands in for them.
      const floats = segments > 1 ? limits.maxTokens * nh * segments * (hd + 2) : 1;
      this.partials = createStorage(device, floats * 4, `${label} partials`);
      if (segments > 1) {
        const combineCode = `${attentionCombineCode}${attentionSegmentsCode}${TREE_POSITION_CODE}`;
        this.combine = new ComputeKernel(device, `${label} combine`, combineCode, {
          NH: nh,
          HD: hd,
          WG: wg,
          ...splitting,
        });
      }
      const tiledKernel = (rows: number, name: string) => {
        const code = attentionTiledCode.replace('const ROWS = 8u;', `const ROWS = ${rows}u;`);
        return new ComputeKernel(
          device,
          `${label} ${name}`,
          `${code}${attentionSegmentsCode}${kvReadCode(kv, 'one')}`,
          constants,
        );
      };
      if (limits.tiled) {
        // Eight rows where their queries, probabilities and reduction fit the workgroup's memory.
        const rows = tiledRows(8, hd, wg);
        this.tiled = { rows, kernel: tiledKernel(rows, 'tiled') };
      }
      // Only where a context can reach it: else its pipeline would be compiled for nothing.
      const grouped = tiledRows(nh / nkv, hd, wg);
      if (limits.groupedFrom !== undefined && limits.groupedFrom <= limits.maxContext && grouped > 1) {
        this.grouped = { rows: grouped, from: limits.groupedFrom, kernel: tiledKernel(grouped, 'grouped') };
      }
    }
  }

  /** GPU memory of the split segments' scratch. */
  get bytes(): number {
    return this.partials?.size ?? 0;
  }

  destroy(): void {
    this.partials?.destroy();
  }

  bind(b: { step: GPUBuffer; q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer }): AttentionBinds {
    if (!this.partials) return { main: this.bindAll([b.step, b.q, b.kCache, b.vCache, b.out]) };
    const buffers = [b.step, b.q, b.kCache, b.vCache, b.out, this.partials];
    return {
      main: this.bindAll(buffers),
      combine: this.combine?.bindAll([b.step, this.partials, b.out]),
      tiled: this.tiled?.kernel.bindAll(buffers),
      grouped: this.grouped?.kernel.bindAll(buffers),
    };
  }

  /** attention_tiled.wgsl's walk for a step, if it runs one: prefill-sized, or at a context long enough for the grouped rows. */
  private tiledWalk(binds: AttentionBinds, tokens: number, start: number, tree: boolean) {
    if (tree) return undefined; // leaves of a tree read their own slots, which only attention.wgsl does
    if (tokens >= TILED_ATTENTION_MIN_TOKENS) {
      return this.tiled && binds.tiled && { ...this.tiled, bindGroup: binds.tiled };
    }
    if (this.grouped && binds.grouped && start + tokens >= this.grouped.from) {
      return { ...this.grouped, bindGroup: binds.grouped };
    }
    return undefined;
  }

  /** Records attention for `tokens` tokens after `start` cached positions; `tree`: a tree verify pass. */
  encode(pass: GPUComputePassEncoder, binds: AttentionBinds, tokens: number, start: number, tree = false) {
    const { numHeads, numKvHeads } = this.heads;
    if (this.serialRows) {
      const rows = this.serialRows;
      const threads = (numHeads / rows.heads) * Math.ceil(tokens / rows.tokens);
      this.dispatch(pass, binds.main, Math.ceil(threads / SERIAL_WORKGROUP));
      return;
    }
    const segments = this.segmentCount(start + tokens);
    if (segments > this.segments) throw new RangeError(`attention: a context of ${start + tokens} exceeds its limit`);
    const tiled = this.tiledWalk(binds, tokens, start, tree);
    if (tiled) {
      const rows = Math.ceil((tokens * numHeads) / numKvHeads / tiled.rows);
      pass.setPipeline(tiled.kernel.pipeline);
      pass.setBindGroup(0, tiled.bindGroup);
      pass.dispatchWorkgroups(numKvHeads, rows, segments);
    } else this.dispatch(pass, binds.main, numHeads, tokens, segments);
    if (segments > 1 && this.combine && binds.combine) {
      pass.setPipeline(this.combine.pipeline);
      pass.setBindGroup(0, binds.combine);
      pass.dispatchWorkgroups(numHeads, tokens);
    }
  }
}
