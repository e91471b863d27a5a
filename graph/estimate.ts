/**
 * What a forward pass will cost before it runs: weight bytes, the peak of live activations (with
 * the same free-after-last-use liveness the interpreter and the generated module follow), FLOPs and
 * the largest single tensor. Pure: no tfjs. The run panel and the CLI turn it into an expected time
 * with a backend's measured rate (`runtime/rate.ts`) and refuse runs a backend cannot hold.
 */
import { numel } from '../blocks/common';
import { inputShapes, nodeFlops, nodeWeights, shapesKnown, type Analysis } from './analyze';

const F32 = 4;

export interface LargestTensor {
  /** The node that makes it (its PyTorch module path). */
  readonly node: string;
  /** Its dimensions with the batch first; feature maps as PyTorch reads them, `[B, C, H, W]`. */
  readonly dims: readonly number[];
  readonly elements: number;
  /** True when it lives inside the block's kernel (attention scores), not as the block's output. */
  readonly internal: boolean;
}

export interface CostEstimate {
  readonly batch: number;
  /** Trainable parameters (buffers excluded), as `countParameters`. */
  readonly parameters: number;
  /** Bytes of every weight and buffer as the runtime holds them (float32; int64 buffers as 8). */
  readonly weightBytes: number;
  /** FLOPs of one forward pass of the whole batch (2 per multiply-add). */
  readonly flops: number;
  /**
   * The most bytes of activations alive at once: block outputs not yet consumed, plus the running
   * block's own temporaries (`scratch` in its declaration); inputs included, weights not.
   */
  readonly peakActivationBytes: number;
  readonly largest: LargestTensor | null;
  /** Blocks with a known output shape (the ones that will run). */
  readonly blocks: number;
}

/** Estimates one forward pass of an analysed graph at the given batch size. */
export function estimateCost(a: Analysis, batch = 1): CostEstimate {
  let parameters = 0;
  let weightBytes = 0;
  let flops = 0;
  let blocks = 0;
  let largest: LargestTensor | null = null;
  const consider = (node: string, perSample: readonly number[], internal: boolean) => {
    const elements = batch * numel(perSample);
    if (!largest || elements > largest.elements) largest = { node, dims: [batch, ...perSample], elements, internal };
  };

  // Liveness: a tensor is freed after the last node that reads it, except the inputs: they are the
  // caller's, alive for the whole pass (the generated module never frees its arguments, `mayFree`
  // in codegen/targets/tfjs/generate.ts; the interpreter never frees its `external` tensors).
  const lastUse = new Map<string, number>();
  a.order.forEach((id, i) => {
    const inf = a.info.get(id);
    if (inf) for (const v of Object.values(inf.inputs)) lastUse.set(v.from, i);
  });
  const liveBytes = new Map<string, number>();
  let live = 0;
  let peak = 0;

  a.order.forEach((id, i) => {
    const inf = a.info.get(id);
    if (!inf || !inf.out) return;
    blocks++;
    const shapes = inputShapes(inf);
    for (const w of nodeWeights(inf)) {
      const n = numel(w.shape);
      if (w.role === 'param') parameters += n;
      weightBytes += n * (w.dtype === 'int64' ? 8 : F32);
    }
    flops += batch * nodeFlops(inf);

    const isOutput = inf.def.io === 'output';
    const outBytes = isOutput ? 0 : batch * numel(inf.out.dims) * F32;
    const known = shapesKnown(inf);
    const scratchBytes = known && inf.def.scratch ? batch * inf.def.scratch(shapes, inf.out, inf.params) * F32 : 0;
    peak = Math.max(peak, live + outBytes + scratchBytes);
    if (!isOutput) consider(inf.node.name, inf.out.dims, false);
    if (known && inf.def.workspace) consider(inf.node.name, inf.def.workspace(shapes, inf.params), true);

    const isInput = inf.def.io !== undefined && !isOutput;
    if (isInput) live += outBytes;
    else if (!isOutput && lastUse.has(id)) {
      liveBytes.set(id, outBytes);
      live += outBytes;
    }
    for (const v of Object.values(inf.inputs)) {
      if (lastUse.get(v.from) === i && liveBytes.has(v.from)) {
        live -= liveBytes.get(v.from)!;
        liveBytes.delete(v.from);
      }
    }
  });

  return { batch, parameters, weightBytes, flops, peakActivationBytes: peak, largest, blocks };
}

// ---------------------------------------------------------------------------------------------
// Limits

/** What a backend can hold, as far as it can be known before running. */
export interface BackendLimits {
  readonly backend: string;
  /** WebGL's MAX_TEXTURE_SIZE: a tensor becomes one 2-D texture. */
  readonly maxTextureSize?: number;
  /** The largest single buffer (WebGPU's maxStorageBufferBindingSize / maxBufferSize), in bytes. */
  readonly maxBufferBytes?: number;
  /** Weights plus activations must fit in this many bytes (WASM's 4 GiB address space, device memory). */
  readonly memoryBytes?: number;
}

/**
 * Whether tfjs's WebGL backend can place a tensor of this many elements in one texture: for shapes
 * that do not fold into rows × columns under the limit it falls back to a near-square texture of
 * ⌈√n⌉ columns (`getTextureShapeFromLogicalShape`), so the bound is on the element count.
 */
export function fitsWebglTexture(elements: number, maxTextureSize: number): boolean {
  const width = Math.ceil(Math.sqrt(elements));
  return width <= maxTextureSize && Math.ceil(elements / width) <= maxTextureSize;
}

export const formatBytes = (b: number): string => {
  if (b < 1024) return `${b} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = b / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
};

const fmtDims = (d: readonly number[]) => d.join('×');

/** Why this backend cannot run the estimate's forward pass (empty: nothing known stops it). */
export function limitProblems(est: CostEstimate, limits: BackendLimits): string[] {
  const out: string[] = [];
  const big = est.largest;
  if (big && limits.maxTextureSize !== undefined && !fitsWebglTexture(big.elements, limits.maxTextureSize)) {
    out.push(
      `${big.internal ? 'an intermediate tensor' : 'the output'} of "${big.node}" (${fmtDims(big.dims)}, ${big.elements.toLocaleString('en-US')} values) ` +
        `does not fit in one ${limits.backend} texture (at most ${limits.maxTextureSize}×${limits.maxTextureSize})`,
    );
  }
  if (big && limits.maxBufferBytes !== undefined && big.elements * F32 > limits.maxBufferBytes) {
    out.push(`a tensor of "${big.node}" (${fmtDims(big.dims)}) needs ${formatBytes(big.elements * F32)}, more than ${limits.backend}'s largest buffer (${formatBytes(limits.maxBufferBytes)})`);
  }
  const total = est.weightBytes + est.peakActivationBytes;
  if (limits.memoryBytes !== undefined && total > limits.memoryBytes) {
    out.push(
      `weights (${formatBytes(est.weightBytes)}) and activations (${formatBytes(est.peakActivationBytes)}) need ${formatBytes(total)}, ` +
        `more than ${limits.backend} can hold here (${formatBytes(limits.memoryBytes)})`,
    );
  }
  return out;
}

/** Expected seconds at a measured rate (GFLOP/s); null when no rate is known. */
export function expectedSeconds(est: CostEstimate, gflopsPerSecond: number | null): number | null {
  if (gflopsPerSecond === null || !(gflopsPerSecond > 0)) return null;
  return est.flops / 1e9 / gflopsPerSecond;
}

export function formatSeconds(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** One line for people: `559M parameters · weights 2.08 GiB · activations 1.2 GiB · 1,234 GFLOP`. */
export function describeEstimate(est: CostEstimate, seconds: number | null = null): string {
  const parts = [
    `${est.parameters.toLocaleString('en-US')} parameters`,
    `weights ${formatBytes(est.weightBytes)}`,
    `peak activations ${formatBytes(est.peakActivationBytes)}`,
    `${(est.flops / 1e9).toFixed(2)} GFLOP`,
  ];
  if (seconds !== null) parts.push(`about ${formatSeconds(seconds)}`);
  return parts.join(' · ');
}
