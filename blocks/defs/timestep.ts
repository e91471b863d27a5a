/** The timestep side of a diffusion UNet: sinusoidal embedding, the MLP, and the class-label embedding. */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelInputs, NoParams, Trace, WeightGetter } from '../types';
import { defineBlock, float, int } from '../types';
import { pyFloat, pyInt } from '../pytorch';
import { fail, issue, linearWeights, ok, vector } from '../common';
import { linear, silu } from '../ops';

export interface TimestepEmbeddingParams {
  readonly dim: number;
  readonly max_period: number;
}

/**
 * iDDPM's `timestep_embedding`: `freqs[i] = exp(-ln(max_period)·i/half)`, output `[cos(t·f) | sin(t·f)]`
 * (cos first), zero-padded by one column when `dim` is odd. The frequencies are computed the way
 * PyTorch does in float32 (`-ln(P)·i` rounded, then `/half` rounded, then `exp`).
 */
export function timestepEmbeddingForward(inputs: KernelInputs, _w: WeightGetter, p: TimestepEmbeddingParams): tf.Tensor {
  const half = Math.floor(p.dim / 2);
  const freqs = new Float32Array(half);
  const logP = Math.fround(-Math.log(p.max_period));
  for (let i = 0; i < half; i++) freqs[i] = Math.exp(Math.fround(Math.fround(logP * i) / half));
  const t = tf.cast(inputs.x, 'float32');
  const args = tf.mul(tf.reshape(t, [-1, 1]), tf.tensor2d(freqs, [1, half]));
  const emb = tf.concat([tf.cos(args), tf.sin(args)], 1);
  if (p.dim % 2 === 0) return emb;
  return tf.pad(emb, [[0, 0], [0, 1]]);
}

export const TimestepEmbedding = defineBlock({
  type: 'TimestepEmbedding',
  displayName: 'TimestepEmbedding',
  category: 'Diffusion',
  description: 'Sinusoidal timestep embedding [cos | sin] of iDDPM (no weights).',
  nameHint: 'timestep_embedding',
  inputs: [{ name: 'x', kind: 'timesteps', label: 't' }],
  output: { name: 'out', kind: 'temb', label: 'emb' },
  params: {
    dim: int('Dimension', 128, 1, 65536, 'model_channels in iDDPM'),
    max_period: float('Max period', 10000, 1, 1e9),
  },
  view: { color: '#a855f7', summary: (p) => `dim ${p.dim}` },
  shape: (_in, p) => ok(vector(p.dim)),
  weights: () => [],
  flops: () => 0,
  pytorch: {
    className: 'TimestepEmbedding',
    ctorArgs: (_inputs, p) => [['dim', pyInt(p.dim)], ['max_period', pyFloat(p.max_period)]],
    forwardInputs: ['x'],
    source: `class TimestepEmbedding(nn.Module):
    """Sinusoidal timestep embedding [cos | sin] of iDDPM (timestep_embedding); no weights."""

    def __init__(self, dim: int, max_period: float) -> None:
        super().__init__()
        self.dim = dim
        self.max_period = max_period

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        exponent = -math.log(self.max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half
        freqs = torch.exp(exponent).to(device=timesteps.device)
        args = timesteps[:, None].float() * freqs[None]
        embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if self.dim % 2:
            embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
        return embedding`,
  },
  forward: timestepEmbeddingForward,
});

export interface TimeEmbedMLPParams {
  readonly dim: number;
}

/** `time_embed` = Linear(in, dim) – SiLU – Linear(dim, dim) (keys `0.*` and `2.*`). */
export function timeEmbedMLPForward(inputs: KernelInputs, w: WeightGetter, _p: TimeEmbedMLPParams): tf.Tensor {
  const h = silu(linear(inputs.x as tf.Tensor2D, w('0.weight'), w('0.bias')));
  return linear(h, w('2.weight'), w('2.bias'));
}

export const TimeEmbedMLP = defineBlock({
  type: 'TimeEmbedMLP',
  displayName: 'TimeEmbed',
  category: 'Diffusion',
  description: 'The time-embedding MLP: Linear – SiLU – Linear (iDDPM `time_embed`).',
  nameHint: 'time_embed',
  inputs: [{ name: 'x', kind: 'temb', label: 'emb' }],
  output: { name: 'out', kind: 'temb', label: 'emb' },
  params: {
    dim: int('Output dimension', 512, 1, 65536, '4 × model_channels in iDDPM'),
  },
  view: { color: '#a855f7', summary: (p) => `→${p.dim}` },
  shape: (_in, p) => ok(vector(p.dim)),
  weights: (inputs, p) => [...linearWeights('0', p.dim, inputs.x.dims[0]), ...linearWeights('2', p.dim, p.dim)],
  flops: (inputs, _out, p) => 2 * inputs.x.dims[0] * p.dim + 2 * p.dim * p.dim,
  pytorch: {
    className: 'TimeEmbedMLP',
    ctorArgs: (inputs, p) => [['in_features', pyInt(inputs.x.dims[0])], ['dim', pyInt(p.dim)]],
    forwardInputs: ['x'],
    source: `class TimeEmbedMLP(nn.Module):
    """iDDPM's time_embed: Linear - SiLU - Linear, the two layers registered as "0" and "2" (its nn.Sequential keys)."""

    def __init__(self, in_features: int, dim: int) -> None:
        super().__init__()
        self.add_module("0", nn.Linear(in_features, dim))
        self.add_module("2", nn.Linear(dim, dim))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        first, second = self._modules["0"], self._modules["2"]
        return second(F.silu(first(emb)))`,
  },
  forward: timeEmbedMLPForward,
});

/** `emb + label_emb(y)`: an nn.Embedding row per class, added to the time embedding. */
export function labelEmbeddingForward(inputs: KernelInputs, w: WeightGetter, _p: NoParams, trace?: Trace): tf.Tensor {
  // Labels travel as float32 (WebGPU in tfjs 4.22 cannot transpose int32); gather wants int32 indices.
  const rows = tf.gather(w('weight'), tf.cast(inputs.y, 'int32'));
  if (trace) trace('label', rows);
  return tf.add(inputs.x, rows);
}

export const LabelEmbedding = defineBlock({
  type: 'LabelEmbedding',
  displayName: 'LabelEmbedding',
  category: 'Diffusion',
  description: 'Class-conditional embedding (nn.Embedding) added to the time embedding.',
  nameHint: 'label_emb',
  inputs: [
    { name: 'x', kind: 'temb', label: 'emb' },
    { name: 'y', kind: 'label', label: 'y' },
  ],
  output: { name: 'out', kind: 'temb', label: 'emb' },
  params: {},
  view: { color: '#a855f7', summary: () => '' },
  shape: (inputs) => {
    if (inputs.y.numClasses === undefined) return fail(issue('the label input has no class count', 'connect a Class-label input'));
    return ok(inputs.x);
  },
  weights: (inputs) => [
    {
      key: 'weight',
      shape: [inputs.y.numClasses ?? 0, inputs.x.dims[0]],
      layout: 'same',
      init: { kind: 'normal', std: 1 },
      role: 'param',
      dtype: 'float32',
    },
  ],
  flops: () => 0,
  pytorch: {
    className: 'LabelEmbedding',
    ctorArgs: (inputs) => [['num_classes', pyInt(inputs.y.numClasses ?? 0)], ['dim', pyInt(inputs.x.dims[0])]],
    forwardInputs: ['x', 'y'],
    source: `class LabelEmbedding(nn.Embedding):
    """emb + label_emb(y): one learned row per class, added to the time embedding."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__(num_classes, dim)

    def forward(self, emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return emb + super().forward(y.long())`,
  },
  forward: labelEmbeddingForward,
});
