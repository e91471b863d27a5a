/**
 * Hugging Face diffusers' `UNet2DModel` modules (huggingface/diffusers `models/resnet.py`,
 * `attention_processor.py`, `downsampling.py`, `embeddings.py`), with diffusers' sub-module names so
 * that a node named by its module path (`down_blocks.0.resnets.0`) owns exactly diffusers' state_dict
 * keys. Upsample2D is the `Upsample` block (its `conv` key and nearest ×2 + 3×3 conv are the same);
 * conv_in/conv_out, conv_norm_out, conv_act and class_embedding are `Conv2d`, `GroupNorm`, `SiLU`
 * and `LabelEmbedding`. `center_input_sample` is `Rescale` (2·x − 1), the learned time embedding
 * (`nn.Embedding(num_train_timesteps, …)` as time_proj) is `LearnedTimesteps`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BlockIssue, KernelInputs, SavedParams, Trace, WeightGetter, WeightSpec } from '../types';
import { bool, choice, defineBlock, float, int } from '../types';
import { pyBool, pyFloat, pyInt, pyStr } from '../pytorch';
import { chw, convFlops, convOut, convWeights, fail, failWith, feature, groupsIssue, issue, linearWeights, normWeights, numel, ok, vector } from '../common';
import { avgPool2, conv2dPt, groupNorm, linear, silu, toNCHW, upsampleNearest2 } from '../ops';
import { attend } from './attention';

// ---------------------------------------------------------------------------------------------
// Timesteps (time_proj): get_timestep_embedding

export interface TimestepsParams {
  readonly num_channels: number;
  readonly flip_sin_to_cos: boolean;
  readonly downscale_freq_shift: number;
  readonly scale: number;
  readonly max_period: number;
}

/**
 * diffusers' `get_timestep_embedding` in its float32 op order: `exponent = -ln(max_period)·i`
 * (rounded), `/ (half − downscale_freq_shift)` (rounded), `exp`; `args = t·freqs`, then `scale·args`;
 * `[sin | cos]`, or `[cos | sin]` with `flip_sin_to_cos`; a zero column when `num_channels` is odd.
 */
export function diffusersTimestepsForward(inputs: KernelInputs, _w: WeightGetter, p: TimestepsParams): tf.Tensor {
  const half = Math.floor(p.num_channels / 2);
  const freqs = new Float32Array(half);
  const logP = Math.fround(-Math.log(p.max_period));
  const denom = Math.fround(half - p.downscale_freq_shift);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp(Math.fround(Math.fround(logP * i) / denom));
  const t = tf.cast(inputs.x, 'float32');
  let args = tf.mul(tf.reshape(t, [-1, 1]), tf.tensor2d(freqs, [1, half]));
  if (p.scale !== 1) args = tf.mul(args, p.scale);
  const emb = p.flip_sin_to_cos ? tf.concat([tf.cos(args), tf.sin(args)], 1) : tf.concat([tf.sin(args), tf.cos(args)], 1);
  return p.num_channels % 2 === 0 ? emb : tf.pad(emb, [[0, 0], [0, 1]]);
}

export const Timesteps = defineBlock({
  type: 'Timesteps',
  displayName: 'Timesteps (diffusers)',
  category: 'Diffusion',
  description: "diffusers' sinusoidal timestep embedding (time_proj): [sin | cos], or [cos | sin] with flip; no weights.",
  nameHint: 'time_proj',
  inputs: [{ name: 'x', kind: 'timesteps', label: 't' }],
  output: { name: 'out', kind: 'temb', label: 'emb' },
  params: {
    num_channels: int('Dimension', 32, 1, 65536, 'block_out_channels[0] in UNet2DModel'),
    flip_sin_to_cos: bool('Flip sin to cos', true, '[cos | sin] instead of [sin | cos] (OpenAI: true; the google/ddpm checkpoints: false)'),
    downscale_freq_shift: float('Frequency shift', 1, -1000, 1000, 'freq_shift: frequencies are exp(−ln(max_period)·i / (half − shift))'),
    scale: float('Scale', 1, -1e6, 1e6, 'multiplies t·freqs before sin and cos'),
    max_period: float('Max period', 10000, 1, 1e9),
  },
  view: { color: '#a855f7', summary: (p) => `dim ${String(p.num_channels)}${p.flip_sin_to_cos ? ' · cos|sin' : ' · sin|cos'} · shift ${String(p.downscale_freq_shift)}` },
  checkParams: (p) => {
    const half = Math.floor(p.num_channels / 2);
    return half > 0 && half - p.downscale_freq_shift === 0
      ? [issue(`half the dimension (${half}) minus the frequency shift is 0: the frequencies divide by zero`, 'use a larger dimension or another shift', 'downscale_freq_shift')]
      : [];
  },
  shape: (_in, p) => ok(vector(p.num_channels)),
  weights: () => [],
  flops: () => 0,
  pytorch: {
    className: 'Timesteps',
    ctorArgs: (_inputs, p) => [
      ['num_channels', pyInt(p.num_channels)],
      ['flip_sin_to_cos', pyBool(p.flip_sin_to_cos)],
      ['downscale_freq_shift', pyFloat(p.downscale_freq_shift)],
      ['scale', pyFloat(p.scale)],
      ['max_period', pyFloat(p.max_period)],
    ],
    forwardInputs: ['x'],
    source: `class Timesteps(nn.Module):
    """diffusers' Timesteps (get_timestep_embedding): [sin | cos] of scale * t * exp(-ln(max_period) * i / (half - shift)),
    flipped to [cos | sin] with flip_sin_to_cos, zero-padded by one column for an odd dimension; no weights."""

    def __init__(self, num_channels: int, flip_sin_to_cos: bool, downscale_freq_shift: float, scale: float, max_period: float) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.flip_sin_to_cos = flip_sin_to_cos
        self.downscale_freq_shift = downscale_freq_shift
        self.scale = scale
        self.max_period = max_period

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half_dim = self.num_channels // 2
        exponent = -math.log(self.max_period) * torch.arange(start=0, end=half_dim, dtype=torch.float32, device=x.device)
        exponent = exponent / (half_dim - self.downscale_freq_shift)
        emb = torch.exp(exponent)
        emb = x[:, None].float() * emb[None, :]
        emb = self.scale * emb
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
        if self.flip_sin_to_cos:
            emb = torch.cat([emb[:, half_dim:], emb[:, :half_dim]], dim=-1)
        if self.num_channels % 2 == 1:
            emb = F.pad(emb, (0, 1, 0, 0))
        return emb`,
  },
  forward: diffusersTimestepsForward,
});

// ---------------------------------------------------------------------------------------------
// LearnedTimesteps (time_proj with time_embedding_type "learned"): nn.Embedding(num_train_timesteps, dim)

export interface LearnedTimestepsParams {
  readonly num_embeddings: number;
  readonly num_channels: number;
}

/** diffusers' learned time embedding: row `t` of an `nn.Embedding(num_train_timesteps, dim)` (the timesteps are indices). */
export function learnedTimestepsForward(inputs: KernelInputs, w: WeightGetter, _p: LearnedTimestepsParams): tf.Tensor {
  // Timesteps travel as float32 (WebGPU in tfjs 4.22 cannot transpose int32); gather wants int32 indices.
  return tf.gather(w('weight'), tf.cast(tf.reshape(inputs.x, [-1]), 'int32'));
}

export const LearnedTimesteps = defineBlock({
  type: 'LearnedTimesteps',
  displayName: 'Learned timesteps (diffusers)',
  category: 'Diffusion',
  description: "diffusers' learned time embedding (time_proj with time_embedding_type \"learned\"): an nn.Embedding row per timestep.",
  nameHint: 'time_proj',
  inputs: [{ name: 'x', kind: 'timesteps', label: 't' }],
  output: { name: 'out', kind: 'temb', label: 'emb' },
  params: {
    num_embeddings: int('Timesteps', 1000, 1, 1_000_000, 'num_train_timesteps: one row per timestep 0 … n − 1'),
    num_channels: int('Dimension', 32, 1, 65536, 'block_out_channels[0] in UNet2DModel'),
  },
  view: { color: '#a855f7', summary: (p) => `${String(p.num_embeddings)} × ${String(p.num_channels)}` },
  shape: (_in, p) => ok(vector(p.num_channels)),
  weights: (_inputs, p): WeightSpec[] => [
    { key: 'weight', shape: [p.num_embeddings, p.num_channels], layout: 'same', init: { kind: 'normal', std: 1 }, role: 'param', dtype: 'float32' },
  ],
  flops: () => 0,
  pytorch: {
    className: 'LearnedTimesteps',
    ctorArgs: (_inputs, p) => [['num_embeddings', pyInt(p.num_embeddings)], ['num_channels', pyInt(p.num_channels)]],
    forwardInputs: ['x'],
    source: `class LearnedTimesteps(nn.Embedding):
    """diffusers' learned time embedding (time_proj = nn.Embedding(num_train_timesteps, dim)): the timesteps are row indices."""

    def __init__(self, num_embeddings: int, num_channels: int) -> None:
        super().__init__(num_embeddings, num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1).long())`,
  },
  forward: learnedTimestepsForward,
});

// ---------------------------------------------------------------------------------------------
// Rescale (center_input_sample: 2·x − 1)

export interface RescaleParams {
  readonly scale: number;
  readonly shift: number;
}

/** `scale·x + shift` (UNet2DModel's center_input_sample is `2 * sample - 1.0`: scale 2, shift −1). */
export function rescaleForward(inputs: KernelInputs, _w: WeightGetter, p: RescaleParams): tf.Tensor {
  return tf.add(tf.mul(inputs.x, p.scale), p.shift);
}

export const Rescale = defineBlock({
  type: 'Rescale',
  displayName: 'Rescale (x·a + b)',
  category: 'Layers',
  description: "scale·x + shift on a feature map, no weights (diffusers' center_input_sample: 2·x − 1 maps [0, 1] to [−1, 1]).",
  nameHint: 'rescale',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    scale: float('Scale', 2, -1e6, 1e6, 'multiplies the input'),
    shift: float('Shift', -1, -1e6, 1e6, 'added after the scale'),
  },
  view: { color: '#64748b', summary: (p) => `x·${String(p.scale)} ${p.shift < 0 ? '−' : '+'} ${String(Math.abs(p.shift))}` },
  shape: (inputs) => ok(inputs.x),
  weights: () => [],
  flops: (inputs) => 2 * numel(inputs.x.dims),
  // the product, then the sum
  scratch: (inputs) => numel(inputs.x.dims),
  pytorch: {
    className: 'Rescale',
    ctorArgs: (_inputs, p) => [['scale', pyFloat(p.scale)], ['shift', pyFloat(p.shift)]],
    forwardInputs: ['x'],
    source: `class Rescale(nn.Module):
    """scale * x + shift, no weights (diffusers' center_input_sample: 2 * sample - 1.0)."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale = scale
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.shift`,
  },
  forward: rescaleForward,
});

// ---------------------------------------------------------------------------------------------
// TimestepEmbedding (time_embedding): linear_1 – SiLU – linear_2

export interface DiffusersTimestepEmbeddingParams {
  readonly dim: number;
}

/** diffusers' `TimestepEmbedding` with act_fn "silu": `linear_2(silu(linear_1(x)))`. */
export function diffusersTimestepEmbeddingForward(inputs: KernelInputs, w: WeightGetter, _p: DiffusersTimestepEmbeddingParams): tf.Tensor {
  const h = silu(linear(inputs.x as tf.Tensor2D, w('linear_1.weight'), w('linear_1.bias')));
  return linear(h, w('linear_2.weight'), w('linear_2.bias'));
}

export const DiffusersTimestepEmbedding = defineBlock({
  type: 'DiffusersTimestepEmbedding',
  displayName: 'TimestepEmbedding (diffusers)',
  category: 'Diffusion',
  description: "diffusers' TimestepEmbedding (time_embedding): linear_1 – SiLU – linear_2.",
  nameHint: 'time_embedding',
  inputs: [{ name: 'x', kind: 'temb', label: 'emb' }],
  output: { name: 'out', kind: 'temb', label: 'emb' },
  params: {
    dim: int('Output dimension', 128, 1, 65536, 'time_embedding_dim, or 4 × block_out_channels[0]'),
  },
  view: { color: '#a855f7', summary: (p) => `→${String(p.dim)}` },
  shape: (_in, p) => ok(vector(p.dim)),
  weights: (inputs, p) => [...linearWeights('linear_1', p.dim, inputs.x.dims[0]), ...linearWeights('linear_2', p.dim, p.dim)],
  flops: (inputs, _out, p) => 2 * inputs.x.dims[0] * p.dim + 2 * p.dim * p.dim,
  pytorch: {
    className: 'DiffusersTimestepEmbedding',
    ctorArgs: (inputs, p) => [['in_channels', pyInt(inputs.x.dims[0])], ['time_embed_dim', pyInt(p.dim)]],
    forwardInputs: ['x'],
    source: `class DiffusersTimestepEmbedding(nn.Module):
    """diffusers' TimestepEmbedding with act_fn "silu": linear_1 - SiLU - linear_2."""

    def __init__(self, in_channels: int, time_embed_dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim)
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))`,
  },
  forward: diffusersTimestepEmbeddingForward,
});

// ---------------------------------------------------------------------------------------------
// ResnetBlock2D

export interface ResnetBlock2DParams {
  readonly out_channels: number;
  readonly groups: number;
  readonly eps: number;
  readonly time_embedding_norm: 'default' | 'scale_shift';
  readonly output_scale_factor: number;
  readonly resample: 'none' | 'up' | 'down';
  readonly skip_time_act: boolean;
  readonly dropout: number;
  readonly act_fn: 'silu' | 'mish';
}

/**
 * PyTorch's `Mish` as its CPU kernel computes it: `x · tanh(log1p(exp(x)))` (no softplus threshold;
 * a large x gives exp = ∞, tanh(∞) = 1, so x).
 */
export function mish<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.tanh(tf.log1p(tf.exp(x))));
}

/**
 * diffusers' `ResnetBlock2D.forward` (eval mode), act = SiLU or Mish (act_fn): `h = act(norm1(x))`;
 * with `up`/`down` both h and x are resampled (nearest ×2 / 2×2 average pool); `h = conv1(h)`;
 * `t = time_emb_proj(act(emb))` (no act with skip_time_act); default: `norm2(h + t)`, scale_shift:
 * `norm2(h)·(1 + scale) + shift`; `conv2(act(·))`; `(conv_shortcut(x) or x + h) / output_scale_factor`.
 */
export function resnetBlock2DForward(inputs: KernelInputs, w: WeightGetter, p: ResnetBlock2DParams, trace?: Trace): tf.Tensor {
  let x = inputs.x as tf.Tensor4D;
  const emb = inputs.emb as tf.Tensor2D;
  const inC = x.shape[3];
  const act = <T extends tf.Tensor>(v: T): T => (p.act_fn === 'mish' ? mish(v) : silu(v));
  let h = act(groupNorm(x, w('norm1.weight'), w('norm1.bias'), p.groups, p.eps));
  if (p.resample === 'up') {
    x = upsampleNearest2(x);
    h = upsampleNearest2(h);
  } else if (p.resample === 'down') {
    x = avgPool2(x);
    h = avgPool2(h);
  }
  h = conv2dPt(h, w('conv1.weight'), w('conv1.bias'), 1, 1);
  if (trace) trace('conv1', toNCHW(h));
  const t = linear(p.skip_time_act ? emb : act(emb), w('time_emb_proj.weight'), w('time_emb_proj.bias'));
  const e = tf.reshape(t, [t.shape[0], 1, 1, t.shape[1]]);
  if (p.time_embedding_norm === 'scale_shift') {
    const [scale, shift] = tf.split(e, 2, 3);
    h = tf.add(tf.mul(groupNorm(h, w('norm2.weight'), w('norm2.bias'), p.groups, p.eps), tf.add(scale, 1)), shift);
  } else {
    h = groupNorm(tf.add(h, e), w('norm2.weight'), w('norm2.bias'), p.groups, p.eps);
  }
  h = conv2dPt(act(h), w('conv2.weight'), w('conv2.bias'), 1, 1);
  const skip = inC === p.out_channels ? x : conv2dPt(x, w('conv_shortcut.weight'), w('conv_shortcut.bias'), 1, 0);
  const sum = tf.add(skip, h);
  return p.output_scale_factor === 1 ? sum : tf.div(sum, p.output_scale_factor);
}

export const ResnetBlock2D = defineBlock({
  type: 'ResnetBlock2D',
  displayName: 'ResnetBlock2D',
  category: 'Diffusion',
  description: "diffusers' residual block (norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut), with its own up/down variant.",
  nameHint: 'resnet',
  inputs: [
    { name: 'x', kind: 'feature', label: 'x' },
    { name: 'emb', kind: 'temb', label: 'temb' },
  ],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    out_channels: int('Out channels', 128, 1, 16384),
    groups: int('Groups', 32, 1, 1024, 'norm_num_groups'),
    eps: float('Epsilon', 1e-6, 1e-12, 1, 'norm_eps (UNet2DModel passes its norm_eps, default 1e-5)'),
    time_embedding_norm: choice('Time embedding', ['default', 'scale_shift'], 'default', 'resnet_time_scale_shift: add the embedding, or scale and shift the normalised h'),
    output_scale_factor: float('Output scale factor', 1, 1e-6, 1e6, 'the sum is divided by it (mid_block_scale_factor in the middle block)'),
    resample: choice('Resample', ['none', 'up', 'down'], 'none', 'ResnetDownsampleBlock2D / ResnetUpsampleBlock2D: the block itself resamples (down=True / up=True)'),
    skip_time_act: bool('Skip time act', false, 'no SiLU before time_emb_proj'),
    dropout: float('Dropout', 0, 0, 1, 'inactive at inference'),
    act_fn: choice('Activation', ['silu', 'mish'], 'silu', "act_fn: the resnets' nonlinearity (after norm1, on the embedding, after norm2)"),
  },
  migrations: [{ version: 2, description: 'add act_fn (silu before)', up: (p: SavedParams): SavedParams => ({ ...p, act_fn: 'silu' }) }],
  view: {
    color: '#6366f1',
    summary: (p) =>
      `→${String(p.out_channels)}${p.time_embedding_norm === 'scale_shift' ? ' · scale-shift' : ''}${p.resample !== 'none' ? ` · ${p.resample}` : ''}${p.output_scale_factor !== 1 ? ` · /${String(p.output_scale_factor)}` : ''}${p.act_fn === 'mish' ? ' · mish' : ''}`,
  },
  shape: (inputs, p) => {
    const [c, h, w] = chw(inputs.x);
    const issues: BlockIssue[] = [];
    const inIssue = groupsIssue(c, p.groups, 'input channels');
    if (inIssue) issues.push({ ...inIssue, param: 'groups' });
    const outIssue = groupsIssue(p.out_channels, p.groups, 'output channels');
    if (outIssue) issues.push({ ...outIssue, param: 'out_channels' });
    if (p.resample === 'down' && (h < 2 || w < 2)) {
      issues.push(issue(`a ${h}×${w} input is too small to downsample`, 'remove a downsampling level or use a larger input', 'resample'));
    }
    const out =
      p.resample === 'down' ? feature(p.out_channels, Math.floor(h / 2), Math.floor(w / 2)) : p.resample === 'up' ? feature(p.out_channels, 2 * h, 2 * w) : feature(p.out_channels, h, w);
    return issues.length > 0 ? failWith(out, issues) : ok(out);
  },
  weights: (inputs, p): WeightSpec[] => {
    const c = inputs.x.dims[0];
    const out = p.out_channels;
    const specs: WeightSpec[] = [
      ...normWeights('norm1', c),
      ...convWeights('conv1', out, c, 3, true),
      ...linearWeights('time_emb_proj', p.time_embedding_norm === 'scale_shift' ? 2 * out : out, inputs.emb.dims[0]),
      ...normWeights('norm2', out),
      ...convWeights('conv2', out, out, 3, true),
    ];
    if (c !== out) specs.push(...convWeights('conv_shortcut', out, c, 1, true));
    return specs;
  },
  // GroupNorm (3 temporaries + result) and SiLU (2) at the input size; resampling x and h; conv1,
  // the embedding (add, or scale-shift's mul and add), GroupNorm (4), SiLU (2), conv2, the
  // shortcut and the division.
  scratch: (inputs, out, p) => {
    const c = inputs.x.dims[0];
    const i = numel(inputs.x.dims);
    const o = numel(out.dims);
    const resampled = p.resample === 'none' ? 0 : 2 * c * out.dims[1] * out.dims[2];
    const skip = c === p.out_channels ? 0 : o;
    return 6 * i + resampled + o + (p.time_embedding_norm === 'scale_shift' ? 2 * o : o) + 4 * o + 2 * o + o + skip + (p.output_scale_factor === 1 ? 0 : o);
  },
  flops: (inputs, outShape, p) => {
    const c = inputs.x.dims[0];
    const [out, h, w] = chw(outShape);
    return (
      convFlops(c, out, 3, h, w) +
      convFlops(out, out, 3, h, w) +
      (c !== out ? convFlops(c, out, 1, h, w) : 0) +
      2 * inputs.emb.dims[0] * (p.time_embedding_norm === 'scale_shift' ? 2 : 1) * out
    );
  },
  pytorch: {
    className: 'ResnetBlock2D',
    ctorArgs: (inputs, p) => [
      ['in_channels', pyInt(inputs.x.dims[0])],
      ['out_channels', pyInt(p.out_channels)],
      ['temb_channels', pyInt(inputs.emb.dims[0])],
      ['groups', pyInt(p.groups)],
      ['eps', pyFloat(p.eps)],
      ['time_embedding_norm', pyStr(p.time_embedding_norm)],
      ['output_scale_factor', pyFloat(p.output_scale_factor)],
      ['resample', pyStr(p.resample)],
      ['skip_time_act', pyBool(p.skip_time_act)],
      ['dropout', pyFloat(p.dropout)],
      ['act_fn', pyStr(p.act_fn)],
    ],
    forwardInputs: ['x', 'emb'],
    source: `class ResnetBlock2D(nn.Module):
    """diffusers' ResnetBlock2D, act = SiLU or Mish (act_fn): act(norm1(x)), resampled with x when resample is
    "up" (nearest x2) or "down" (2x2 average pool), conv1; the embedding through act (unless skip_time_act) and
    time_emb_proj, added before norm2 ("default") or as norm2(h) * (1 + scale) + shift ("scale_shift");
    act, dropout, conv2; (x, through a 1x1 conv_shortcut when the channels change, + h) / output_scale_factor."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temb_channels: int,
        groups: int,
        eps: float,
        time_embedding_norm: str,
        output_scale_factor: float,
        resample: str,
        skip_time_act: bool,
        dropout: float,
        act_fn: str,
    ) -> None:
        super().__init__()
        self.act = F.mish if act_fn == "mish" else F.silu
        self.time_embedding_norm = time_embedding_norm
        self.output_scale_factor = output_scale_factor
        self.resample = resample
        self.skip_time_act = skip_time_act
        self.dropout_p = dropout
        self.norm1 = nn.GroupNorm(num_groups=groups, num_channels=in_channels, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        proj = 2 * out_channels if time_embedding_norm == "scale_shift" else out_channels
        self.time_emb_proj = nn.Linear(temb_channels, proj)
        self.norm2 = nn.GroupNorm(num_groups=groups, num_channels=out_channels, eps=eps, affine=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm1(x))
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        elif self.resample == "down":
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
            h = F.avg_pool2d(h, kernel_size=2, stride=2)
        h = self.conv1(h)
        temb = emb if self.skip_time_act else self.act(emb)
        temb = self.time_emb_proj(temb)[:, :, None, None]
        if self.time_embedding_norm == "scale_shift":
            time_scale, time_shift = torch.chunk(temb, 2, dim=1)
            h = self.norm2(h) * (1 + time_scale) + time_shift
        else:
            h = self.norm2(h + temb)
        h = F.dropout(self.act(h), p=self.dropout_p, training=self.training)
        h = self.conv2(h)
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return (x + h) / self.output_scale_factor`,
  },
  forward: resnetBlock2DForward,
});

// ---------------------------------------------------------------------------------------------
// Attention (as UNet2DModel builds it: self-attention over the pixels, AttnProcessor)

export interface DiffusersAttentionParams {
  readonly attention_head_dim: number;
  readonly group_norm: boolean;
  readonly norm_groups: number;
  readonly eps: number;
  readonly residual_connection: boolean;
  readonly rescale_output_factor: number;
}

/** `[heads, dim_head]` as UNet2DModel builds them: heads = channels // attention_head_dim; 0 means one head of all channels. */
export function diffusersAttentionHeads(channels: number, p: { readonly attention_head_dim: number }): [number, number] {
  return p.attention_head_dim > 0 ? [Math.floor(channels / p.attention_head_dim), p.attention_head_dim] : [1, channels];
}

/**
 * diffusers' `AttnProcessor` on a `[B, C, H, W]` map: tokens `[B, HW, C]`, optional `group_norm`,
 * `to_q`/`to_k`/`to_v` Linear to heads·dim_head, per head `softmax(scale·q·kᵀ)·v` with
 * scale = dim_head^-½ (softmax in float32: upcast_softmax), `to_out.0`, `+ x` with
 * residual_connection, `/ rescale_output_factor`.
 */
export function diffusersAttentionForward(inputs: KernelInputs, w: WeightGetter, p: DiffusersAttentionParams, trace?: Trace): tf.Tensor {
  const x = inputs.x as tf.Tensor4D;
  const [b, hh, ww, c] = x.shape;
  const t = hh * ww;
  const [heads, dh] = diffusersAttentionHeads(c, p);
  const normed = p.group_norm ? groupNorm(x, w('group_norm.weight'), w('group_norm.bias'), p.norm_groups, p.eps) : x;
  const hs = tf.reshape(normed, [b * t, c]) as tf.Tensor2D;
  const split = (m: tf.Tensor2D) => tf.transpose(tf.reshape(m, [b, t, heads, dh]), [0, 2, 1, 3]);
  const q = tf.mul(split(linear(hs, w('to_q.weight'), w('to_q.bias'))), 1 / Math.sqrt(dh));
  const k = split(linear(hs, w('to_k.weight'), w('to_k.bias')));
  const v = split(linear(hs, w('to_v.weight'), w('to_v.bias')));
  const a = attend(q, k, v);
  if (trace) trace('attention', a);
  const merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [b * t, heads * dh]) as tf.Tensor2D;
  let out: tf.Tensor = tf.reshape(linear(merged, w('to_out.0.weight'), w('to_out.0.bias')), [b, hh, ww, c]);
  if (p.residual_connection) out = tf.add(out, x);
  return p.rescale_output_factor === 1 ? out : tf.div(out, p.rescale_output_factor);
}

export const Attention = defineBlock({
  type: 'Attention',
  displayName: 'Attention (diffusers)',
  category: 'Diffusion',
  description: "diffusers' Attention as UNet2DModel uses it: optional group_norm, to_q/to_k/to_v/to_out.0 over the pixels, heads of attention_head_dim channels.",
  nameHint: 'attentions',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    attention_head_dim: int('Head size', 8, 0, 16384, 'channels per head (heads = channels // this); 0: one head of all channels (attention_head_dim null)'),
    group_norm: bool('Group norm', true, 'a GroupNorm before the projections (the middle block has none when resnet_time_scale_shift is not "default" and attn_norm_num_groups is unset)'),
    norm_groups: int('Groups', 32, 1, 1024),
    eps: float('Epsilon', 1e-5, 1e-12, 1, 'norm_eps in UNet2DModel'),
    residual_connection: bool('Residual', true, 'add the input to the output'),
    rescale_output_factor: float('Rescale output', 1, 1e-6, 1e6, 'the output is divided by it (mid_block_scale_factor in the middle block)'),
  },
  view: {
    color: '#ec4899',
    summary: (p) => `${p.attention_head_dim > 0 ? `${String(p.attention_head_dim)} ch/head` : 'one head'}${p.group_norm ? '' : ' · no norm'}`,
  },
  shape: (inputs, p) => {
    const [c] = chw(inputs.x);
    const issues: BlockIssue[] = [];
    if (p.group_norm) {
      const g = groupsIssue(c, p.norm_groups);
      if (g) issues.push({ ...g, param: 'norm_groups' });
    }
    if (p.attention_head_dim > c) {
      issues.push(issue(`a head size of ${p.attention_head_dim} is larger than the ${c} channels: no head fits`, `use a head size of at most ${c}, or 0 for one head`, 'attention_head_dim'));
    }
    return issues.length > 0 ? failWith(inputs.x, issues) : ok(inputs.x);
  },
  weights: (inputs, p) => {
    const c = inputs.x.dims[0];
    const [heads, dh] = diffusersAttentionHeads(c, p);
    const inner = heads * dh;
    return [
      ...(p.group_norm ? normWeights('group_norm', c) : []),
      ...linearWeights('to_q', inner, c),
      ...linearWeights('to_k', inner, c),
      ...linearWeights('to_v', inner, c),
      ...linearWeights('to_out.0', c, inner),
    ];
  },
  flops: (inputs, _out, p) => {
    const [c, h, w] = chw(inputs.x);
    const t = h * w;
    const [heads, dh] = diffusersAttentionHeads(c, p);
    const inner = heads * dh;
    return 2 * t * c * 3 * inner + 2 * 2 * t * t * inner + 2 * t * inner * c;
  },
  // GroupNorm, q/k/v and their heads, the scaled q, the scores and their softmax, the product,
  // merged heads, the projection and the residual: about 21 values per token-channel plus two t×t per head
  // (15 per head channel: measured against tfjs's peak in blocks/scratch.test.ts; 10 under-counted by ~5).
  scratch: (inputs, _out, p) => {
    const [c, h, w] = chw(inputs.x);
    const t = h * w;
    const [heads, dh] = diffusersAttentionHeads(c, p);
    return (p.group_norm ? 4 * c * t : 0) + 15 * heads * dh * t + 2 * c * t + 2 * heads * t * t;
  },
  workspace: (inputs, p) => {
    const [c, h, w] = chw(inputs.x);
    return [diffusersAttentionHeads(c, p)[0], h * w, h * w];
  },
  pytorch: {
    className: 'Attention',
    ctorArgs: (inputs, p) => {
      const c = inputs.x.dims[0];
      const [heads, dh] = diffusersAttentionHeads(c, p);
      return [
        ['query_dim', pyInt(c)],
        ['heads', pyInt(heads)],
        ['dim_head', pyInt(dh)],
        ['norm_num_groups', pyInt(p.group_norm ? p.norm_groups : 0)],
        ['eps', pyFloat(p.eps)],
        ['residual_connection', pyBool(p.residual_connection)],
        ['rescale_output_factor', pyFloat(p.rescale_output_factor)],
      ];
    },
    forwardInputs: ['x'],
    source: `class Attention(nn.Module):
    """diffusers' Attention with AttnProcessor, as UNet2DModel builds it: tokens [B, HW, C], group_norm
    (none when norm_num_groups is 0), to_q/to_k/to_v to heads * dim_head, softmax(dim_head^-0.5 * q k^T)
    in float32 (upcast_softmax) times v, to_out.0, + x (residual_connection), / rescale_output_factor."""

    def __init__(
        self,
        query_dim: int,
        heads: int,
        dim_head: int,
        norm_num_groups: int,
        eps: float,
        residual_connection: bool,
        rescale_output_factor: float,
    ) -> None:
        super().__init__()
        inner_dim = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.residual_connection = residual_connection
        self.rescale_output_factor = rescale_output_factor
        self.group_norm = nn.GroupNorm(num_channels=query_dim, num_groups=norm_num_groups, eps=eps, affine=True) if norm_num_groups > 0 else None
        self.to_q = nn.Linear(query_dim, inner_dim, bias=True)
        self.to_k = nn.Linear(query_dim, inner_dim, bias=True)
        self.to_v = nn.Linear(query_dim, inner_dim, bias=True)
        self.to_out = nn.ModuleList([nn.Linear(inner_dim, query_dim, bias=True), nn.Dropout(0.0)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        batch, channel, height, width = x.shape
        hidden = x.view(batch, channel, height * width).transpose(1, 2)
        if self.group_norm is not None:
            hidden = self.group_norm(hidden.transpose(1, 2)).transpose(1, 2)
        heads = self.heads

        def to_batch(t: torch.Tensor) -> torch.Tensor:
            b, n, d = t.shape
            return t.reshape(b, n, heads, d // heads).permute(0, 2, 1, 3).reshape(b * heads, n, d // heads)

        query = to_batch(self.to_q(hidden))
        key = to_batch(self.to_k(hidden))
        value = to_batch(self.to_v(hidden))
        scores = torch.baddbmm(
            torch.empty(query.shape[0], query.shape[1], key.shape[1], dtype=query.dtype, device=query.device),
            query,
            key.transpose(-1, -2),
            beta=0,
            alpha=self.scale,
        )
        probs = scores.float().softmax(dim=-1).to(query.dtype)
        out = torch.bmm(probs, value)
        bh, n, d = out.shape
        out = out.reshape(bh // heads, heads, n, d).permute(0, 2, 1, 3).reshape(bh // heads, n, d * heads)
        out = self.to_out[1](self.to_out[0](out))
        out = out.transpose(-1, -2).reshape(batch, channel, height, width)
        if self.residual_connection:
            out = out + residual
        return out / self.rescale_output_factor`,
  },
  forward: diffusersAttentionForward,
});

// ---------------------------------------------------------------------------------------------
// Downsample2D

export interface Downsample2DParams {
  readonly use_conv: boolean;
  readonly padding: number;
}

/**
 * diffusers' `Downsample2D`: a 3×3 stride-2 conv (key `conv`) with symmetric `padding`, except that
 * padding 0 first pads one zero column on the right and one row at the bottom; or 2×2 average pooling.
 */
export function downsample2DForward(inputs: KernelInputs, w: WeightGetter, p: Downsample2DParams): tf.Tensor {
  const x = inputs.x as tf.Tensor4D;
  if (!p.use_conv) return avgPool2(x);
  const padded = p.padding === 0 ? tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]) : x;
  return conv2dPt(padded, w('conv.weight'), w('conv.bias'), 2, p.padding);
}

/** Output side of Downsample2D along one axis. */
function downsample2DSide(n: number, p: Downsample2DParams): number {
  if (!p.use_conv) return Math.floor(n / 2);
  return p.padding === 0 ? convOut(n + 1, 3, 2, 0) : convOut(n, 3, 2, p.padding);
}

export const Downsample2D = defineBlock({
  type: 'Downsample2D',
  displayName: 'Downsample2D',
  category: 'Diffusion',
  description: "diffusers' Downsample2D: 3×3 stride-2 conv (padding 0: pad right and bottom by one first) or 2×2 average pool.",
  nameHint: 'downsamplers',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    use_conv: bool('Conv', true, 'learned 3×3 stride-2 conv instead of average pooling'),
    padding: int('Padding', 1, 0, 10, 'downsample_padding: 0 pads right and bottom by one, n pads n on every side'),
  },
  view: { color: '#0891b2', summary: (p) => (p.use_conv ? `conv /2 · pad ${String(p.padding)}` : 'avgpool /2') },
  shape: (inputs, p) => {
    const [c, h, w] = chw(inputs.x);
    const oh = downsample2DSide(h, p);
    const ow = downsample2DSide(w, p);
    if (oh < 1 || ow < 1) return fail(issue(`a ${h}×${w} input is too small to downsample`, 'remove a downsampling level or use a larger input'));
    return ok(feature(c, oh, ow));
  },
  weights: (inputs, p) => (p.use_conv ? convWeights('conv', inputs.x.dims[0], inputs.x.dims[0], 3, true) : []),
  flops: (inputs, out, p) => (p.use_conv ? convFlops(inputs.x.dims[0], inputs.x.dims[0], 3, out.dims[1], out.dims[2]) : 0),
  scratch: (inputs, _out, p) => (p.use_conv && p.padding === 0 ? inputs.x.dims[0] * (inputs.x.dims[1] + 1) * (inputs.x.dims[2] + 1) : 0),
  pytorch: {
    className: 'Downsample2D',
    ctorArgs: (inputs, p) => [['channels', pyInt(inputs.x.dims[0])], ['use_conv', pyBool(p.use_conv)], ['padding', pyInt(p.padding)]],
    forwardInputs: ['x'],
    source: `class Downsample2D(nn.Module):
    """diffusers' Downsample2D: a 3x3 stride-2 conv ("conv") with padding, where padding 0 first pads one
    zero column on the right and one row at the bottom; or 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool, padding: int) -> None:
        super().__init__()
        self.use_conv = use_conv
        self.padding = padding
        if use_conv:
            self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.use_conv:
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1), mode="constant", value=0)
        return self.conv(x)`,
  },
  forward: downsample2DForward,
});
