/** iDDPM / guided-diffusion ResBlock with timestep injection. */
import * as tf from '@tensorflow/tfjs-core';
import type { BlockIssue, KernelInputs, Trace, WeightGetter, WeightSpec } from '../types';
import { bool, choice, defineBlock, float, int } from '../types';
import { pyBool, pyFloat, pyInt, pyStr } from '../pytorch';
import { chw, convFlops, convWeights, failWith, feature, groupsIssue, issue, linearWeights, normWeights, numel, ok } from '../common';
import { avgPool2, conv2dPt, groupNormAct, linear, silu, toNCHW, upsampleNearest2 } from '../ops';

export interface ResBlockParams {
  readonly out_channels: number;
  readonly use_scale_shift_norm: boolean;
  readonly skip_conv: '1x1' | '3x3';
  readonly resample: 'none' | 'up' | 'down';
  readonly dropout: number;
}

/**
 * guided-diffusion `ResBlock._forward` (eval mode, dropout inactive):
 * `in_layers` = GN–SiLU–conv3×3 (with `resblock_updown`, h and x are resampled after GN–SiLU and
 * before the conv); `emb_layers` = SiLU–Linear; scale-shift norm `GN(h)·(1+scale)+shift` or `h + emb`;
 * `out_layers` = GN–SiLU–(Dropout)–conv3×3; skip = identity, or a 1×1 (3×3) conv when channels change.
 */
export function resBlockForward(inputs: KernelInputs, w: WeightGetter, p: ResBlockParams, trace?: Trace): tf.Tensor {
  let x = inputs.x as tf.Tensor4D;
  const emb = inputs.emb as tf.Tensor2D;
  const inC = x.shape[3];
  let h = groupNormAct(x, w('in_layers.0.weight'), w('in_layers.0.bias'), 32, 1e-5, { silu: true });
  if (p.resample === 'down') {
    h = avgPool2(h);
    x = avgPool2(x);
  } else if (p.resample === 'up') {
    h = upsampleNearest2(h);
    x = upsampleNearest2(x);
  }
  h = conv2dPt(h, w('in_layers.2.weight'), w('in_layers.2.bias'), 1, 1);
  if (trace) trace('in_layers', toNCHW(h));
  const embOut = linear(silu(emb), w('emb_layers.1.weight'), w('emb_layers.1.bias'));
  if (trace) trace('emb_layers', embOut);
  const bn = embOut.shape[0];
  const oc = h.shape[3];
  // Scale, shift and the plain embedding are per-channel vectors: groupNormAct folds them into the norm.
  const vec = (from: number): tf.Tensor4D => tf.reshape(tf.slice(embOut, [0, from], [bn, oc]), [bn, 1, 1, oc]);
  const film = p.use_scale_shift_norm ? { scale: vec(0), shift: vec(oc) } : { add: vec(0) };
  h = groupNormAct(h, w('out_layers.0.weight'), w('out_layers.0.bias'), 32, 1e-5, { ...film, silu: true });
  h = conv2dPt(h, w('out_layers.3.weight'), w('out_layers.3.bias'), 1, 1);
  if (inC === p.out_channels) return tf.add(x, h);
  const k = p.skip_conv === '3x3' ? 3 : 1;
  const skip = conv2dPt(x, w('skip_connection.weight'), w('skip_connection.bias'), 1, k === 3 ? 1 : 0);
  return tf.add(skip, h);
}

export const ResBlock = defineBlock({
  type: 'ResBlock',
  displayName: 'ResBlock',
  category: 'Diffusion',
  description: 'Residual block with timestep injection (iDDPM), optional scale-shift norm and built-in up/down resampling.',
  nameHint: 'resblock',
  inputs: [
    { name: 'x', kind: 'feature', label: 'x' },
    { name: 'emb', kind: 'temb', label: 'emb' },
  ],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    out_channels: int('Out channels', 128, 1, 16384),
    use_scale_shift_norm: bool('Scale-shift norm', false, 'FiLM-style GN(h)·(1+scale)+shift instead of h + emb'),
    skip_conv: choice('Skip conv', ['1x1', '3x3'], '1x1', 'used only when the channel count changes'),
    resample: choice('Resample', ['none', 'up', 'down'], 'none', "guided-diffusion's resblock_updown"),
    dropout: float('Dropout', 0, 0, 1, 'inactive at inference'),
  },
  view: {
    color: '#6366f1',
    summary: (p) =>
      `→${String(p.out_channels)}${p.use_scale_shift_norm ? ' · scale-shift' : ''}${p.resample !== 'none' ? ` · ${String(p.resample)}` : ''}`,
  },
  shape: (inputs, p) => {
    const [c, h, w] = chw(inputs.x);
    const issues: BlockIssue[] = [];
    const inIssue = groupsIssue(c, 32, 'input channels');
    if (inIssue) issues.push(inIssue);
    const outIssue = groupsIssue(p.out_channels, 32, 'output channels');
    if (outIssue) issues.push({ ...outIssue, param: 'out_channels' });
    if (p.resample === 'down' && (h % 2 !== 0 || w % 2 !== 0)) {
      issues.push(issue(`odd resolution ${h}×${w} before a stride-2 downsample`, 'use an input whose size is divisible by 2 at every level (e.g. 2^levels)', 'resample'));
    }
    const f = p.resample === 'down' ? 0.5 : p.resample === 'up' ? 2 : 1;
    const out = feature(p.out_channels, Math.floor(h * f), Math.floor(w * f));
    return issues.length > 0 ? failWith(out, issues) : ok(out);
  },
  weights: (inputs, p): WeightSpec[] => {
    const c = inputs.x.dims[0];
    const out = p.out_channels;
    const specs: WeightSpec[] = [
      ...normWeights('in_layers.0', c),
      ...convWeights('in_layers.2', out, c, 3, true),
      ...linearWeights('emb_layers.1', p.use_scale_shift_norm ? 2 * out : out, inputs.emb.dims[0]),
      ...normWeights('out_layers.0', out),
      // zero_module in iDDPM: the last conv starts at zero, so a fresh block is the identity.
      ...convWeights('out_layers.3', out, out, 3, true, true),
    ];
    if (c !== out) specs.push(...convWeights('skip_connection', out, c, p.skip_conv === '3x3' ? 3 : 1, true));
    return specs;
  },
  // GroupNorm (3 temporaries + result) and SiLU (2) at the input size; resampling h and x; then the
  // first conv, the embedding add (scale-shift: a mul and an add), GroupNorm (4), SiLU (2), the
  // second conv and the skip conv.
  scratch: (inputs, out, p) => {
    const c = inputs.x.dims[0];
    const i = numel(inputs.x.dims);
    const o = numel(out.dims);
    const resampled = p.resample === 'none' ? 0 : 2 * c * out.dims[1] * out.dims[2];
    const skip = c === p.out_channels ? 0 : o;
    return 6 * i + resampled + o + (p.use_scale_shift_norm ? 2 * o : o) + 4 * o + 2 * o + o + skip;
  },
  flops: (inputs, outShape, p) => {
    const c = inputs.x.dims[0];
    const [out, h, w] = chw(outShape);
    const k = p.skip_conv === '3x3' ? 3 : 1;
    return (
      convFlops(c, out, 3, h, w) +
      convFlops(out, out, 3, h, w) +
      (c !== out ? convFlops(c, out, k, h, w) : 0) +
      2 * inputs.emb.dims[0] * (p.use_scale_shift_norm ? 2 : 1) * out
    );
  },
  pytorch: {
    className: 'ResBlock',
    helpers: ['zero_module', 'GroupNorm32'],
    ctorArgs: (inputs, p) => [
        ['channels', pyInt(inputs.x.dims[0])],
        ['emb_channels', pyInt(inputs.emb.dims[0])],
        ['out_channels', pyInt(p.out_channels)],
        ['use_scale_shift_norm', pyBool(p.use_scale_shift_norm)],
        ['skip_kernel_size', pyInt(p.skip_conv === '3x3' ? 3 : 1)],
        ['resample', pyStr(p.resample)],
        ['dropout', pyFloat(p.dropout)],
      ],
    forwardInputs: ['x', 'emb'],
    source: `class ResBlock(nn.Module):
    """guided-diffusion's ResBlock: GN-SiLU-conv3x3; the timestep embedding added (or, with
    use_scale_shift_norm, GN(h) * (1 + scale) + shift); GN-SiLU-dropout-conv3x3 (zero-initialised);
    plus the input (through a 1x1 or 3x3 conv when the channels change). resample "up"/"down" is
    resblock_updown: h and x are resampled after the first GN-SiLU, before the first conv."""

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        out_channels: int,
        use_scale_shift_norm: bool,
        skip_kernel_size: int,
        resample: str,
        dropout: float,
    ) -> None:
        super().__init__()
        self.use_scale_shift_norm = use_scale_shift_norm
        self.resample = resample
        self.in_layers = nn.Sequential(
            GroupNorm32(32, channels),
            nn.SiLU(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels),
        )
        self.out_layers = nn.Sequential(
            GroupNorm32(32, out_channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        if out_channels == channels:
            self.skip_connection = None
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, skip_kernel_size, padding=skip_kernel_size // 2)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.resample == "none":
            h = self.in_layers(x)
        else:
            in_rest, in_conv = self.in_layers[:-1], self.in_layers[-1]
            h = in_rest(x)
            if self.resample == "up":
                h = F.interpolate(h, scale_factor=2, mode="nearest")
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            else:
                h = F.avg_pool2d(h, kernel_size=2, stride=2)
                x = F.avg_pool2d(x, kernel_size=2, stride=2)
            h = in_conv(h)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            out_norm, out_rest = self.out_layers[0], self.out_layers[1:]
            scale, shift = torch.chunk(emb_out, 2, dim=1)
            h = out_rest(out_norm(h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + emb_out)
        skip = x if self.skip_connection is None else self.skip_connection(x)
        return skip + h`,
  },
  forward: resBlockForward,
});
