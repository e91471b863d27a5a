/** iDDPM Downsample / Upsample. */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelInputs, WeightGetter } from '../types';
import { bool, defineBlock } from '../types';
import { pyBool, pyInt } from '../pytorch';
import { chw, convFlops, convWeights, fail, feature, issue, numel, ok } from '../common';
import { avgPool2, conv2dPt, upsampleNearest2 } from '../ops';

export interface ResampleParams {
  readonly use_conv: boolean;
}

/** A 3×3 stride-2 conv with symmetric padding 1 (key `op`), or 2×2 average pooling. */
export function downsampleForward(inputs: KernelInputs, w: WeightGetter, p: ResampleParams): tf.Tensor {
  const x = inputs.x as tf.Tensor4D;
  return p.use_conv ? conv2dPt(x, w('op.weight'), w('op.bias'), 2, 1) : avgPool2(x);
}

export const Downsample = defineBlock({
  type: 'Downsample',
  displayName: 'Downsample',
  category: 'Diffusion',
  description: 'Halves the resolution: 3×3 stride-2 conv (padding 1 on every side) or 2×2 average pool.',
  nameHint: 'down',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: { use_conv: bool('Conv', true, 'conv_resample: learned 3×3 stride-2 conv instead of average pooling') },
  view: { color: '#0891b2', summary: (p) => (p.use_conv ? 'conv /2' : 'avgpool /2') },
  shape: (inputs) => {
    const [c, h, w] = chw(inputs.x);
    if (h % 2 !== 0 || w % 2 !== 0) {
      return fail(issue(`odd resolution ${h}×${w} before a stride-2 downsample`, 'use an input whose size is divisible by 2 at every level (e.g. 2^levels)'));
    }
    return ok(feature(c, h / 2, w / 2));
  },
  weights: (inputs, p) => (p.use_conv ? convWeights('op', inputs.x.dims[0], inputs.x.dims[0], 3, true) : []),
  flops: (inputs, out, p) => (p.use_conv ? convFlops(inputs.x.dims[0], inputs.x.dims[0], 3, out.dims[1], out.dims[2]) : 0),
  pytorch: {
    className: 'Downsample',
    ctorArgs: (inputs, p) => [['channels', pyInt(inputs.x.dims[0])], ['use_conv', pyBool(p.use_conv)]],
    forwardInputs: ['x'],
    source: `class Downsample(nn.Module):
    """Halves the resolution: a 3x3 stride-2 conv with padding 1 ("op"), or 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_conv:
            return self.op(x)
        return F.avg_pool2d(x, kernel_size=2, stride=2)`,
  },
  forward: downsampleForward,
});

/** Nearest ×2, then an optional 3×3 conv (key `conv`). */
export function upsampleForward(inputs: KernelInputs, w: WeightGetter, p: ResampleParams): tf.Tensor {
  const up = upsampleNearest2(inputs.x as tf.Tensor4D);
  return p.use_conv ? conv2dPt(up, w('conv.weight'), w('conv.bias'), 1, 1) : up;
}

export const Upsample = defineBlock({
  type: 'Upsample',
  displayName: 'Upsample',
  category: 'Diffusion',
  description: 'Doubles the resolution: nearest-neighbour ×2, then an optional 3×3 conv.',
  nameHint: 'up',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: { use_conv: bool('Conv', true, 'conv_resample: 3×3 conv after the nearest ×2') },
  view: { color: '#0891b2', summary: (p) => (p.use_conv ? 'nearest ×2 + conv' : 'nearest ×2') },
  shape: (inputs) => {
    const [c, h, w] = chw(inputs.x);
    return ok(feature(c, h * 2, w * 2));
  },
  weights: (inputs, p) => (p.use_conv ? convWeights('conv', inputs.x.dims[0], inputs.x.dims[0], 3, true) : []),
  flops: (inputs, out, p) => (p.use_conv ? convFlops(inputs.x.dims[0], inputs.x.dims[0], 3, out.dims[1], out.dims[2]) : 0),
  scratch: (_inputs, out, p) => (p.use_conv ? numel(out.dims) : 0), // the nearest ×2 before the conv
  pytorch: {
    className: 'Upsample',
    ctorArgs: (inputs, p) => [['channels', pyInt(inputs.x.dims[0])], ['use_conv', pyBool(p.use_conv)]],
    forwardInputs: ['x'],
    source: `class Upsample(nn.Module):
    """Doubles the resolution: nearest-neighbour x2, then an optional 3x3 conv ("conv")."""

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.use_conv:
            x = self.conv(x)
        return x`,
  },
  forward: upsampleForward,
});
