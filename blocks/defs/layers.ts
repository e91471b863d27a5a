/** Plain layers shared by both UNet families. */
import * as tf from '@tensorflow/tfjs-core';
import type { BlockIssue, KernelInputs, NoParams, WeightGetter } from '../types';
import { bool, choice, defineBlock, float, int } from '../types';
import { pyBool, pyFloat, pyInt } from '../pytorch';
import { batchNormWeights, chw, convFlops, convOut, convWeights, fail, failWith, feature, groupsIssue, issue, normWeights, numel, ok } from '../common';
import { conv2dPt, groupNorm, silu } from '../ops';

export interface Conv2dParams {
  readonly out_channels: number;
  readonly kernel_size: number;
  readonly stride: number;
  readonly padding: number;
  readonly bias: boolean;
  readonly zero_init: boolean;
}

export function conv2dForward(inputs: KernelInputs, w: WeightGetter, p: Conv2dParams): tf.Tensor {
  return conv2dPt(inputs.x as tf.Tensor4D, w('weight'), p.bias ? w('bias') : null, p.stride, p.padding);
}

export const Conv2d = defineBlock({
  type: 'Conv2d',
  displayName: 'Conv2d',
  category: 'Layers',
  description: 'A 2-D convolution with symmetric padding. "Zero init" makes it a zero convolution (ControlNet): it starts as 0 and still learns.',
  nameHint: 'conv',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    out_channels: int('Out channels', 64, 1, 16384),
    kernel_size: int('Kernel', 3, 1, 11),
    stride: int('Stride', 1, 1, 8),
    padding: int('Padding', 1, 0, 10),
    bias: bool('Bias', true),
    zero_init: bool('Zero init', false, 'initialise weight and bias to 0 (zero convolution)'),
  },
  view: {
    color: '#0ea5e9',
    summary: (p) => `→${String(p.out_channels)} · ${String(p.kernel_size)}×${String(p.kernel_size)}${p.stride !== 1 ? ` /${String(p.stride)}` : ''}${p.zero_init ? ' · zero' : ''}`,
  },
  shape: (inputs, p) => {
    const [, h, w] = chw(inputs.x);
    const oh = convOut(h, p.kernel_size, p.stride, p.padding);
    const ow = convOut(w, p.kernel_size, p.stride, p.padding);
    if (oh < 1 || ow < 1) {
      return fail(issue(`a ${p.kernel_size}×${p.kernel_size} kernel does not fit a ${h}×${w} input with padding ${p.padding}`, 'use a smaller kernel or more padding', 'kernel_size'));
    }
    return ok(feature(p.out_channels, oh, ow));
  },
  weights: (inputs, p) => convWeights('', p.out_channels, inputs.x.dims[0], p.kernel_size, p.bias, p.zero_init),
  flops: (inputs, out, p) => convFlops(inputs.x.dims[0], p.out_channels, p.kernel_size, out.dims[1], out.dims[2]),
  pytorch: {
    className: 'Conv2d',
    helpers: ['zero_module'],
    ctorArgs: (inputs, p) => [
        ['in_channels', pyInt(inputs.x.dims[0])],
        ['out_channels', pyInt(p.out_channels)],
        ['kernel_size', pyInt(p.kernel_size)],
        ['stride', pyInt(p.stride)],
        ['padding', pyInt(p.padding)],
        ['bias', pyBool(p.bias)],
        ['zero_init', pyBool(p.zero_init)],
      ],
    forwardInputs: ['x'],
    source: `class Conv2d(nn.Conv2d):
    """A 2-D convolution with symmetric padding; zero_init makes it a zero convolution (ControlNet)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, bias: bool, zero_init: bool
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        if zero_init:
            zero_module(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)`,
  },
  forward: conv2dForward,
});

export interface GroupNormParams {
  readonly groups: number;
  readonly eps: number;
}

export function groupNormForward(inputs: KernelInputs, w: WeightGetter, p: GroupNormParams): tf.Tensor {
  return groupNorm(inputs.x as tf.Tensor4D, w('weight'), w('bias'), p.groups, p.eps);
}

export const GroupNorm = defineBlock({
  type: 'GroupNorm',
  displayName: 'GroupNorm',
  category: 'Layers',
  description: 'Group normalisation in float32 (iDDPM uses 32 groups, eps 1e-5).',
  nameHint: 'norm',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    groups: int('Groups', 32, 1, 1024),
    eps: float('Epsilon', 1e-5, 1e-12, 1),
  },
  view: { color: '#14b8a6', summary: (p) => `${String(p.groups)} groups` },
  shape: (inputs, p) => {
    const bad = groupsIssue(inputs.x.dims[0], p.groups);
    return bad ? failWith(inputs.x, [{ ...bad, param: 'groups' }]) : ok(inputs.x);
  },
  weights: (inputs) => normWeights('', inputs.x.dims[0]),
  flops: () => 0,
  // The deviations, their squares and the scaled deviations.
  scratch: (inputs) => 3 * numel(inputs.x.dims),
  pytorch: {
    className: 'GroupNorm',
    helpers: ['GroupNorm32'],
    ctorArgs: (inputs, p) => [['num_groups', pyInt(p.groups)], ['num_channels', pyInt(inputs.x.dims[0])], ['eps', pyFloat(p.eps)]],
    forwardInputs: ['x'],
    source: `class GroupNorm(GroupNorm32):
    """Group normalisation in float32."""

    def __init__(self, num_groups: int, num_channels: int, eps: float) -> None:
        super().__init__(num_groups, num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)`,
  },
  forward: groupNormForward,
});

export function siluForward(inputs: KernelInputs, _w: WeightGetter, _p: NoParams): tf.Tensor {
  return silu(inputs.x);
}

export const SiLU = defineBlock({
  type: 'SiLU',
  displayName: 'SiLU',
  category: 'Layers',
  description: 'x · sigmoid(x).',
  nameHint: 'silu',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {},
  view: { color: '#14b8a6', summary: () => '' },
  shape: (inputs) => ok(inputs.x),
  weights: () => [],
  flops: () => 0,
  scratch: (inputs) => numel(inputs.x.dims), // the sigmoid
  pytorch: {
    className: 'SiLU',
    ctorArgs: () => [],
    forwardInputs: ['x'],
    source: `class SiLU(nn.Module):
    """x * sigmoid(x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x)`,
  },
  forward: siluForward,
});

export function reluForward(inputs: KernelInputs, _w: WeightGetter, _p: NoParams): tf.Tensor {
  return tf.relu(inputs.x);
}

export const ReLU = defineBlock({
  type: 'ReLU',
  displayName: 'ReLU',
  category: 'Layers',
  description: 'max(x, 0).',
  nameHint: 'relu',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {},
  view: { color: '#14b8a6', summary: () => '' },
  shape: (inputs) => ok(inputs.x),
  weights: () => [],
  flops: () => 0,
  pytorch: {
    className: 'ReLU',
    ctorArgs: () => [],
    forwardInputs: ['x'],
    source: `class ReLU(nn.Module):
    """max(x, 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)`,
  },
  forward: reluForward,
});

export function addForward(inputs: KernelInputs, _w: WeightGetter, _p: NoParams): tf.Tensor {
  return tf.add(inputs.a, inputs.b);
}

export const Add = defineBlock({
  type: 'Add',
  displayName: 'Add',
  category: 'Layers',
  description: 'Element-wise sum of two feature maps of the same shape (a residual connection).',
  nameHint: 'add',
  inputs: [
    { name: 'a', kind: 'feature', label: 'a' },
    { name: 'b', kind: 'feature', label: 'b' },
  ],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {},
  view: { color: '#f59e0b', summary: () => 'a + b' },
  shape: (inputs) => {
    const [ca, ha, wa] = chw(inputs.a);
    const [cb, hb, wb] = chw(inputs.b);
    const issues: BlockIssue[] = [];
    if (ca !== cb) issues.push(issue(`channel mismatch: input a has ${ca} channels, input b has ${cb}`, 'make both inputs carry the same number of channels'));
    if (ha !== hb || wa !== wb) issues.push(issue(`resolution mismatch: input a is ${ha}×${wa}, input b is ${hb}×${wb}`, 'add feature maps of the same resolution'));
    return issues.length > 0 ? fail(...issues) : ok(inputs.a);
  },
  weights: () => [],
  flops: () => 0,
  pytorch: {
    className: 'Add',
    ctorArgs: () => [],
    forwardInputs: ['a', 'b'],
    source: `class Add(nn.Module):
    """a + b (a residual connection)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b`,
  },
  forward: addForward,
});

export interface ConcatParams {
  readonly order: 'x_first' | 'skip_first';
  readonly pad_to_match: boolean;
}

/**
 * Skip concatenation on channels. iDDPM does `cat([h, skip])` (`x_first`); milesial's UNet does
 * `cat([skip, upsampled])` (`skip_first`) after padding the upsampled map to the skip's size
 * (`F.pad(x, [dx//2, dx-dx//2, dy//2, dy-dy//2])`).
 */
export function concatForward(inputs: KernelInputs, _w: WeightGetter, p: ConcatParams): tf.Tensor {
  let x = inputs.x as tf.Tensor4D;
  const skip = inputs.skip as tf.Tensor4D;
  const dy = skip.shape[1] - x.shape[1];
  const dx = skip.shape[2] - x.shape[2];
  if (p.pad_to_match && (dy > 0 || dx > 0)) {
    const top = Math.floor(dy / 2);
    const left = Math.floor(dx / 2);
    x = tf.pad(x, [[0, 0], [top, dy - top], [left, dx - left], [0, 0]]);
  }
  return p.order === 'x_first' ? tf.concat([x, skip], 3) : tf.concat([skip, x], 3);
}

export const Concat = defineBlock({
  type: 'Concat',
  displayName: 'Concat',
  category: 'Layers',
  description: 'Skip connection: concatenates the decoder map and the saved encoder map on channels.',
  nameHint: 'cat',
  inputs: [
    { name: 'x', kind: 'feature', label: 'x' },
    { name: 'skip', kind: 'feature', label: 'skip' },
  ],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    order: choice('Order', ['x_first', 'skip_first'], 'x_first', 'iDDPM: x first; Ronneberger/milesial: skip first'),
    pad_to_match: bool('Pad to match', false, "zero-pad x to the skip's size (for odd sizes)"),
  },
  view: { color: '#f59e0b', summary: (p) => (p.order === 'x_first' ? '[x | skip]' : '[skip | x]') + (p.pad_to_match ? ' · pad' : '') },
  shape: (inputs, p) => {
    const [cx, hx, wx] = chw(inputs.x);
    const [cs, hs, ws] = chw(inputs.skip);
    const fits = p.pad_to_match ? hx <= hs && wx <= ws : hx === hs && wx === ws;
    if (!fits) {
      return fail(
        issue(
          `resolution mismatch: x is ${hx}×${wx} but skip is ${hs}×${ws}`,
          p.pad_to_match
            ? 'x must not be larger than the skip; connect the skip from the matching encoder level'
            : 'connect the skip from the encoder level of the same resolution, or turn on "Pad to match"',
        ),
      );
    }
    return ok(feature(cx + cs, hs, ws));
  },
  weights: () => [],
  flops: () => 0,
  pytorch: {
    className: 'Concat',
    ctorArgs: (_inputs, p) => [['skip_first', pyBool(p.order === 'skip_first')], ['pad_to_match', pyBool(p.pad_to_match)]],
    forwardInputs: ['x', 'skip'],
    source: `class Concat(nn.Module):
    """Skip connection on channels: cat([x, skip]) as iDDPM, or cat([skip, x]) as milesial's UNet,
    which first zero-pads x to the skip's size (F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2]))."""

    def __init__(self, skip_first: bool, pad_to_match: bool) -> None:
        super().__init__()
        self.skip_first = skip_first
        self.pad_to_match = pad_to_match

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        dy = skip.shape[2] - x.shape[2]
        dx = skip.shape[3] - x.shape[3]
        if self.pad_to_match and (dy > 0 or dx > 0):
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return torch.cat([skip, x], dim=1) if self.skip_first else torch.cat([x, skip], dim=1)`,
  },
  forward: concatForward,
});

export interface BatchNorm2dParams {
  readonly eps: number;
}

/** BatchNorm2d in eval mode: running statistics. */
export function batchNormForward(inputs: KernelInputs, w: WeightGetter, p: BatchNorm2dParams): tf.Tensor {
  return tf.batchNorm(inputs.x as tf.Tensor4D, w('running_mean') as tf.Tensor1D, w('running_var') as tf.Tensor1D, w('bias') as tf.Tensor1D, w('weight') as tf.Tensor1D, p.eps);
}

export const BatchNorm2d = defineBlock({
  type: 'BatchNorm2d',
  displayName: 'BatchNorm2d',
  category: 'Classic UNet',
  description: 'Batch normalisation with running statistics (inference).',
  nameHint: 'bn',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: { eps: float('Epsilon', 1e-5, 1e-12, 1) },
  view: { color: '#22c55e', summary: () => '' },
  shape: (inputs) => ok(inputs.x),
  weights: (inputs) => batchNormWeights('', inputs.x.dims[0]),
  flops: () => 0,
  scratch: (inputs) => numel(inputs.x.dims),
  pytorch: {
    className: 'BatchNorm2d',
    ctorArgs: (inputs, p) => [['num_features', pyInt(inputs.x.dims[0])], ['eps', pyFloat(p.eps)]],
    forwardInputs: ['x'],
    source: `class BatchNorm2d(nn.BatchNorm2d):
    """Batch normalisation (running statistics in eval mode)."""

    def __init__(self, num_features: int, eps: float) -> None:
        super().__init__(num_features, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)`,
  },
  forward: batchNormForward,
});

export interface MaxPool2dParams {
  readonly kernel_size: number;
}

export function maxPoolForward(inputs: KernelInputs, _w: WeightGetter, p: MaxPool2dParams): tf.Tensor {
  return tf.maxPool(inputs.x as tf.Tensor4D, p.kernel_size, p.kernel_size, 'valid');
}

export const MaxPool2d = defineBlock({
  type: 'MaxPool2d',
  displayName: 'MaxPool2d',
  category: 'Classic UNet',
  description: 'Max pooling with stride = kernel (floor on odd sizes, as PyTorch).',
  nameHint: 'pool',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: { kernel_size: int('Kernel', 2, 1, 8) },
  view: { color: '#22c55e', summary: (p) => `${String(p.kernel_size)}×${String(p.kernel_size)}` },
  shape: (inputs, p) => {
    const [c, h, w] = chw(inputs.x);
    const k = p.kernel_size;
    if (h < k || w < k) return fail(issue(`a ${h}×${w} input is smaller than the ${k}×${k} pool`, 'remove a downsampling level or use a larger input', 'kernel_size'));
    const out = feature(c, Math.floor(h / k), Math.floor(w / k));
    if (h % k !== 0 || w % k !== 0) {
      return ok(out, [
        {
          severity: 'warning',
          message: `${h}×${w} is not divisible by ${k}: the last row/column is dropped`,
          fix: 'pad to match before concatenating on the way up (Concat "Pad to match")',
        },
      ]);
    }
    return ok(out);
  },
  weights: () => [],
  flops: () => 0,
  pytorch: {
    className: 'MaxPool2d',
    ctorArgs: (_inputs, p) => [['kernel_size', pyInt(p.kernel_size)]],
    forwardInputs: ['x'],
    source: `class MaxPool2d(nn.Module):
    """Max pooling with stride = kernel (floor on odd sizes)."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, self.kernel_size)`,
  },
  forward: maxPoolForward,
});

export interface ConvTranspose2dParams {
  readonly out_channels: number;
  readonly kernel_size: number;
  readonly stride: number;
  readonly bias: boolean;
}

/**
 * ConvTranspose2d without padding. PyTorch's weight `[in, out, kh, kw]` is loaded as
 * `[kh, kw, out, in]` (tfjs's conv2dTranspose filter), with no spatial flip.
 */
export function convTranspose2dForward(inputs: KernelInputs, w: WeightGetter, p: ConvTranspose2dParams): tf.Tensor {
  const x = inputs.x as tf.Tensor4D;
  const [b, h, wd] = x.shape;
  const filter = w('weight') as tf.Tensor4D;
  const oh = (h - 1) * p.stride + p.kernel_size;
  const ow = (wd - 1) * p.stride + p.kernel_size;
  const y = tf.conv2dTranspose(x, filter, [b, oh, ow, filter.shape[2]], p.stride, 'valid');
  return p.bias ? tf.add(y, w('bias')) : y;
}

export const ConvTranspose2d = defineBlock({
  type: 'ConvTranspose2d',
  displayName: 'ConvTranspose2d',
  category: 'Classic UNet',
  description: 'Transposed convolution (learned upsampling; k2 s2 doubles the resolution).',
  nameHint: 'up',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    out_channels: int('Out channels', 64, 1, 16384),
    kernel_size: int('Kernel', 2, 1, 8),
    stride: int('Stride', 2, 1, 8),
    bias: bool('Bias', true),
  },
  view: { color: '#22c55e', summary: (p) => `→${String(p.out_channels)} · ×${String(p.stride)}` },
  shape: (inputs, p) => {
    const [, h, w] = chw(inputs.x);
    return ok(feature(p.out_channels, (h - 1) * p.stride + p.kernel_size, (w - 1) * p.stride + p.kernel_size));
  },
  weights: (inputs, p) => {
    const inC = inputs.x.dims[0];
    const k = p.kernel_size;
    // torch computes fan_in from weight.size(1) × k × k, i.e. out_channels × k × k, for ConvTranspose.
    const bound = 1 / Math.sqrt(p.out_channels * k * k);
    const specs = [
      { key: 'weight', shape: [inC, p.out_channels, k, k], layout: 'convT', init: { kind: 'uniform', bound }, role: 'param', dtype: 'float32' },
    ] as const;
    return p.bias
      ? [...specs, { key: 'bias', shape: [p.out_channels], layout: 'same', init: { kind: 'uniform', bound }, role: 'param', dtype: 'float32' } as const]
      : specs;
  },
  flops: (inputs, _out, p) => 2 * inputs.x.dims[0] * p.out_channels * p.kernel_size * p.kernel_size * inputs.x.dims[1] * inputs.x.dims[2],
  scratch: (_inputs, out, p) => (p.bias ? numel(out.dims) : 0), // the product before the bias
  pytorch: {
    className: 'ConvTranspose2d',
    ctorArgs: (inputs, p) => [
        ['in_channels', pyInt(inputs.x.dims[0])],
        ['out_channels', pyInt(p.out_channels)],
        ['kernel_size', pyInt(p.kernel_size)],
        ['stride', pyInt(p.stride)],
        ['bias', pyBool(p.bias)],
      ],
    forwardInputs: ['x'],
    source: `class ConvTranspose2d(nn.ConvTranspose2d):
    """Transposed convolution without padding (learned upsampling)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, bias: bool) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)`,
  },
  forward: convTranspose2dForward,
});
