/**
 * What a forward pass records for EAGLE (model/eagle.ts) besides a model's own layers.
 *
 * A target built with `features` exports, for every token of a pass, the row its head reads:
 *   EAGLE-3  [a; b; c] (B, 3d), the inputs of three of its layers side by side, gathered as the
 *            pass reaches each, then projected by the head's fc into (B, d);
 *   EAGLE-1  its last state after the final norm, x normed as its LM head reads it.
 * A head with EAGLE-1's input projection starts its pass from fc([embedding; hidden]) + b; an
 * MTP head from fc([rmsnorm(embedding) w_e; rmsnorm(hidden) w_h]).
 * Both are made at load; a model without a head records none of it.
 */

import type { Gpu } from '../gpu/device';
import type { LinearLayer } from '../kernels/linear-layer';
import { ColumnsKernel, type NormKernel } from '../kernels/ops';
import type { FeatureExport } from '../ref/model';
import type { LayerKernels } from './gpu-layer';
import { type GpuMatrix, type GpuWeights, uploadMatrix } from './gpu-weights';

/** The buffers of a pass the EAGLE parts read and write. */
interface EagleBuffers {
  step: GPUBuffer; // the pass's step uniform
  x: GPUBuffer; // (B, d) the residual stream
  normed: GPUBuffer; // (B, 2d) for a head with an input projection
  embedded?: GPUBuffer; // (B, d) a head's embedded tokens
  captured?: GPUBuffer; // (B, 3d) EAGLE-3's gathered layer inputs
  features?: GPUBuffer; // (B, d) the exported rows
}

/** A target's export of its head's features: the captures between layers, and the projection or norm after them. */
export class FeatureExporter {
  private constructor(
    private readonly capture: { layer: number; kernel: ColumnsKernel; bind: GPUBindGroup }[],
    private readonly after: { layer: LinearLayer; binds: GPUBindGroup[][] } | { norm: GPUBindGroup },
    private readonly kernels: LayerKernels,
    /** The head's fc, uploaded for this model (EAGLE-3). */
    private readonly fc?: GpuMatrix,
  ) {}

  /** The exporter `features` asks for, or undefined for a model that exports none. */
  static create(
    gpu: Gpu,
    kernels: LayerKernels,
    d: number,
    features: FeatureExport | undefined,
    act: EagleBuffers,
    weights: GpuWeights,
  ): FeatureExporter | undefined {
    const { step, x, captured, features: out } = act;
    const { finalNorm, zeros } = weights;
    if (features && 'fc' in features && captured && out) {
      const capture = features.layers.map((layer, i) => {
        const kernel = new ColumnsKernel(gpu.device, d, { stride: 3 * d, offset: i * d });
        return { layer, kernel, bind: kernel.bind({ step, x, out: captured }) };
      });
      const matrix = uploadMatrix(gpu, 'fc.weight (EAGLE)', features.fc);
      const layer = kernels.linear(matrix, { kind: 'store' });
      const binds = layer.bind({ step, weight: matrix.parts, bias: zeros, x: captured, y: out });
      return new FeatureExporter(capture, { layer, binds }, kernels, matrix);
    }
    if (features && out && finalNorm) {
      const norm = kernels.norm.bind({ step, weight: finalNorm, x, out });
      return new FeatureExporter([], { norm }, kernels);
    }
    return undefined;
  }

  /** Records what is taken before layer `l` runs: EAGLE-3's copy of that layer's input. */
  encodeBefore(pass: GPUComputePassEncoder, l: number, n: number): void {
    for (const { layer, kernel, bind } of this.capture) if (layer === l) kernel.encode(pass, bind, n);
  }

  /** Records the features of the pass's `n` rows, after its last layer. */
  encodeAfter(pass: GPUComputePassEncoder, n: number): void {
    if ('norm' in this.after) this.kernels.norm.encode(pass, this.after.norm, n);
    else this.after.layer.encode(pass, this.after.binds, n);
  }

  destroy(): void {
    for (const buffer of this.fc?.parts ?? []) buffer.destroy();
  }
}

/**
 * A head's first projection: [embedding; hidden] side by side in `normed` (an MTP head: the norm
 * of each), then fc into x. An EAGLE-1 head's embedding kernel has filled the first d columns
 * already (GpuModel), so only the hidden state is copied beside it.
 */
export class InputProjection {
  private constructor(
    private readonly columns: { kernel: ColumnsKernel | NormKernel; bind: GPUBindGroup },
    private readonly layer: LinearLayer,
    private readonly binds: GPUBindGroup[][],
  ) {}

  /** The projection of a head whose weights have one, else undefined. */
  static create(
    device: GPUDevice,
    kernels: LayerKernels,
    d: number,
    weights: GpuWeights,
    act: EagleBuffers,
  ): InputProjection | undefined {
    if (!weights.inputFc) return undefined;
    const { step, x, normed, embedded } = act;
    const { matrix, bias, norms } = weights.inputFc;
    const pair = kernels.hiddenInputNorms;
    let columns: { kernel: ColumnsKernel | NormKernel; bind: GPUBindGroup };
    if (norms) {
      if (!pair || !embedded) throw new Error("an MTP head's input norms need their kernels and the embedding's rows");
      const bind = pair.bind({ step, weight: norms[0], x: embedded, out: normed, weight_b: norms[1], x_b: x });
      columns = { kernel: pair, bind };
    } else {
      const kernel = new ColumnsKernel(device, d, { stride: 2 * d, offset: d });
      columns = { kernel, bind: kernel.bind({ step, x, out: normed }) };
    }
    const layer = kernels.linear(matrix, { kind: 'store' });
    const binds = layer.bind({ step, weight: matrix.parts, bias: bias ?? weights.zeros, x: normed, y: x });
    return new InputProjection(columns, layer, binds);
  }

  /** Records x = fc([embedding; hidden]) + b (an MTP head: over their norms) for `n` tokens. */
  encode(pass: GPUComputePassEncoder, n: number): void {
    this.columns.kernel.encode(pass, this.columns.bind, n);
    this.layer.encode(pass, this.binds, n);
  }
}
