/** Ronneberger's double convolution as in milesial/Pytorch-UNet. */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelInputs, WeightGetter } from '../types';
import { defineBlock, int } from '../types';
import { pyInt } from '../pytorch';
import { batchNormWeights, chw, convFlops, convWeights, feature, ok } from '../common';
import { conv2dPt } from '../ops';

export interface DoubleConvParams {
  readonly out_channels: number;
  readonly mid_channels: number;
}

/** (conv3×3 no bias – BatchNorm (eval) – ReLU) × 2; keys `double_conv.{0,1,3,4}`. */
export function doubleConvForward(inputs: KernelInputs, w: WeightGetter, _p: DoubleConvParams): tf.Tensor {
  let h = inputs.x as tf.Tensor4D;
  for (const [conv, bn] of [['0', '1'], ['3', '4']] as const) {
    h = conv2dPt(h, w(`double_conv.${conv}.weight`), null, 1, 1);
    h = tf.relu(
      tf.batchNorm(
        h,
        w(`double_conv.${bn}.running_mean`) as tf.Tensor1D,
        w(`double_conv.${bn}.running_var`) as tf.Tensor1D,
        w(`double_conv.${bn}.bias`) as tf.Tensor1D,
        w(`double_conv.${bn}.weight`) as tf.Tensor1D,
        1e-5,
      ),
    );
  }
  return h;
}

const mid = (p: DoubleConvParams) => (p.mid_channels > 0 ? p.mid_channels : p.out_channels);

export const DoubleConv = defineBlock({
  type: 'DoubleConv',
  displayName: 'DoubleConv',
  category: 'Classic UNet',
  description: '(Conv3×3 – BatchNorm – ReLU) twice: the classic UNet stage.',
  nameHint: 'double_conv',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    out_channels: int('Out channels', 64, 1, 16384),
    mid_channels: int('Mid channels', 0, 0, 16384, '0: same as out'),
  },
  view: { color: '#22c55e', summary: (p) => `→${String(p.out_channels)}` },
  shape: (inputs, p) => {
    const [, h, w] = chw(inputs.x);
    return ok(feature(p.out_channels, h, w));
  },
  weights: (inputs, p) => {
    const m = mid(p);
    return [
      ...convWeights('double_conv.0', m, inputs.x.dims[0], 3, false),
      ...batchNormWeights('double_conv.1', m),
      ...convWeights('double_conv.3', p.out_channels, m, 3, false),
      ...batchNormWeights('double_conv.4', p.out_channels),
    ];
  },
  flops: (inputs, out, p) => {
    const [, h, w] = chw(out);
    return convFlops(inputs.x.dims[0], mid(p), 3, h, w) + convFlops(mid(p), p.out_channels, 3, h, w);
  },
  // conv, BatchNorm and ReLU at the middle width, then conv and BatchNorm at the output width.
  scratch: (_inputs, out, p) => {
    const [, h, w] = chw(out);
    return (3 * mid(p) + 2 * p.out_channels) * h * w;
  },
  pytorch: {
    className: 'DoubleConv',
    ctorArgs: (inputs, p) => [['in_channels', pyInt(inputs.x.dims[0])], ['out_channels', pyInt(p.out_channels)], ['mid_channels', pyInt(mid(p))]],
    forwardInputs: ['x'],
    source: `class DoubleConv(nn.Module):
    """(Conv3x3 without bias - BatchNorm - ReLU) twice: milesial Pytorch-UNet's DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)`,
  },
  forward: doubleConvForward,
});
