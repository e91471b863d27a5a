/** Declaration-side helpers shared by the block definitions (shapes, weight specs, messages). */
import type { BlockIssue, ShapeResult, TensorShape, WeightSpec } from './types';

export const feature = (c: number, h: number, w: number): TensorShape => ({ kind: 'feature', dims: [c, h, w] });
export const vector = (d: number): TensorShape => ({ kind: 'temb', dims: [d] });

export const ok = (out: TensorShape, warnings?: readonly BlockIssue[]): ShapeResult =>
  warnings && warnings.length > 0 ? { ok: true, out, warnings } : { ok: true, out };
export const fail = (...issues: BlockIssue[]): ShapeResult => ({ ok: false, issues });
/** A failure that still knows its output shape (see `ShapeResult`). */
export const failWith = (out: TensorShape, issues: readonly BlockIssue[]): ShapeResult => ({ ok: false, issues, out });
export const issue = (message: string, fix: string, param?: string): BlockIssue =>
  param === undefined ? { message, fix } : { message, fix, param };

/** Values in a tensor of these dimensions. */
export const numel = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** `[C, H, W]` of a feature shape. */
export function chw(s: TensorShape): [number, number, number] {
  const [c, h, w] = s.dims;
  return [c, h, w];
}

/** `C×H×W` or `D`, as PyTorch people read shapes. */
export function formatShape(s: TensorShape): string {
  if (s.kind === 'label') return s.numClasses === undefined ? 'label' : `label<${s.numClasses}>`;
  if (s.kind === 'timesteps') return 't';
  return s.dims.join('×');
}

/** GroupNorm's rule: the channels must split evenly into the groups. */
export function groupsIssue(channels: number, groups: number, what = 'channels'): BlockIssue | null {
  if (channels % groups === 0) return null;
  const lower = Math.floor(channels / groups) * groups;
  const upper = lower + groups;
  return issue(
    `${channels} ${what} are not divisible by ${groups} groups`,
    `use a multiple of ${groups} (${lower > 0 ? `${lower} or ` : ''}${upper})`,
  );
}

const uniformFan = (fanIn: number) => ({ kind: 'uniform', bound: fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0 }) as const;
const zeros = { kind: 'const', value: 0 } as const;
const ones = { kind: 'const', value: 1 } as const;

/**
 * A Conv2d's weight (`[out, in, k, k]`) and bias, PyTorch-initialised
 * (kaiming-uniform with a = √5 → U(±1/√fan_in), bias likewise), or zeros for a zero convolution.
 */
export function convWeights(prefix: string, out: number, inC: number, k: number, bias: boolean, zeroInit = false): WeightSpec[] {
  const fanIn = inC * k * k;
  const p = prefix === '' ? '' : `${prefix}.`;
  const specs: WeightSpec[] = [
    { key: `${p}weight`, shape: [out, inC, k, k], layout: 'conv2d', init: zeroInit ? zeros : uniformFan(fanIn), role: 'param', dtype: 'float32' },
  ];
  if (bias) specs.push({ key: `${p}bias`, shape: [out], layout: 'same', init: zeroInit ? zeros : uniformFan(fanIn), role: 'param', dtype: 'float32' });
  return specs;
}

/** A 1×1 Conv1d (attention's `qkv` and `proj_out`): weight `[out, in, 1]`. */
export function conv1dWeights(prefix: string, out: number, inC: number, zeroInit = false): WeightSpec[] {
  return [
    { key: `${prefix}.weight`, shape: [out, inC, 1], layout: 'conv1d', init: zeroInit ? zeros : uniformFan(inC), role: 'param', dtype: 'float32' },
    { key: `${prefix}.bias`, shape: [out], layout: 'same', init: zeroInit ? zeros : uniformFan(inC), role: 'param', dtype: 'float32' },
  ];
}

/** nn.Linear: weight `[out, in]`, bias `[out]`. */
export function linearWeights(prefix: string, out: number, inF: number): WeightSpec[] {
  return [
    { key: `${prefix}.weight`, shape: [out, inF], layout: 'linear', init: uniformFan(inF), role: 'param', dtype: 'float32' },
    { key: `${prefix}.bias`, shape: [out], layout: 'same', init: uniformFan(inF), role: 'param', dtype: 'float32' },
  ];
}

/** GroupNorm / BatchNorm affine: weight 1, bias 0. */
export function normWeights(prefix: string, c: number): WeightSpec[] {
  const p = prefix === '' ? '' : `${prefix}.`;
  return [
    { key: `${p}weight`, shape: [c], layout: 'same', init: ones, role: 'param', dtype: 'float32' },
    { key: `${p}bias`, shape: [c], layout: 'same', init: zeros, role: 'param', dtype: 'float32' },
  ];
}

/** BatchNorm2d: affine plus running statistics (buffers) and PyTorch's int64 counter. */
export function batchNormWeights(prefix: string, c: number): WeightSpec[] {
  const p = prefix === '' ? '' : `${prefix}.`;
  return [
    ...normWeights(prefix, c),
    { key: `${p}running_mean`, shape: [c], layout: 'same', init: zeros, role: 'buffer', dtype: 'float32' },
    { key: `${p}running_var`, shape: [c], layout: 'same', init: ones, role: 'buffer', dtype: 'float32' },
    { key: `${p}num_batches_tracked`, shape: [], layout: 'same', init: zeros, role: 'buffer', dtype: 'int64' },
  ];
}

/** Multiply-adds ×2 of a k×k conv producing `outC×h×w`. */
export const convFlops = (inC: number, outC: number, k: number, h: number, w: number): number => 2 * inC * outC * k * k * h * w;

/** Output size of a conv / pool along one axis (PyTorch's floor rule). */
export const convOut = (size: number, k: number, stride: number, pad: number): number => Math.floor((size + 2 * pad - k) / stride) + 1;
