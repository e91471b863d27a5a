/** Graph inputs and the output. Their kernels pass the tensor the runtime hands them through. */
import type * as tf from '@tensorflow/tfjs-core';
import type { KernelInputs, ParamValues, WeightGetter } from '../types';
import { defineBlock, int } from '../types';
import { feature, ok } from '../common';

/** Inputs and outputs carry their tensor unchanged; the runtime feeds and reads them. */
export function passThrough(inputs: KernelInputs, _w: WeightGetter, _p: ParamValues): tf.Tensor {
  return inputs.x;
}

export const ImageInput = defineBlock({
  type: 'ImageInput',
  displayName: 'Image input',
  category: 'Inputs & outputs',
  description: 'The noisy image x_t (or any image), C×H×W per sample.',
  nameHint: 'x',
  io: 'x',
  inputs: [],
  output: { name: 'out', kind: 'feature', label: 'x' },
  params: {
    channels: int('Channels', 3, 1, 4096),
    height: int('Height', 32, 1, 4096),
    width: int('Width', 32, 1, 4096),
  },
  view: { color: '#64748b', summary: (p) => `${p.channels}×${p.height}×${p.width}` },
  shape: (_in, p) => ok(feature(p.channels, p.height, p.width)),
  weights: () => [],
  flops: () => 0,
  forward: passThrough,
});

export const TimestepsInput = defineBlock({
  type: 'TimestepsInput',
  displayName: 'Timesteps input',
  category: 'Inputs & outputs',
  description: 'The diffusion timestep t of each sample (cast to float32 on entry).',
  nameHint: 'timesteps',
  io: 'timesteps',
  inputs: [],
  output: { name: 'out', kind: 'timesteps', label: 't' },
  params: {},
  view: { color: '#64748b', summary: () => 't' },
  shape: () => ok({ kind: 'timesteps', dims: [] }),
  weights: () => [],
  flops: () => 0,
  forward: passThrough,
});

export const ClassLabelInput = defineBlock({
  type: 'ClassLabelInput',
  displayName: 'Class-label input',
  category: 'Inputs & outputs',
  description: 'The class label y of each sample, for class-conditional models.',
  nameHint: 'y',
  io: 'y',
  inputs: [],
  output: { name: 'out', kind: 'label', label: 'y' },
  params: {
    num_classes: int('Classes', 10, 1, 100000),
  },
  view: { color: '#64748b', summary: (p) => `${p.num_classes} classes` },
  shape: (_in, p) => ok({ kind: 'label', dims: [], numClasses: p.num_classes }),
  weights: () => [],
  flops: () => 0,
  forward: passThrough,
});

export const ContextInput = defineBlock({
  type: 'ContextInput',
  displayName: 'Context input',
  category: 'Inputs & outputs',
  description: "A sequence per sample, tokens × dim (a text encoder's hidden states): the keys and values of cross-attention.",
  nameHint: 'context',
  io: 'context',
  inputs: [],
  output: { name: 'out', kind: 'context', label: 'context' },
  params: {
    tokens: int('Tokens', 77, 1, 4096),
    dim: int('Dim', 768, 1, 8192),
  },
  view: { color: '#64748b', summary: (p) => `${p.tokens} tokens × ${p.dim}` },
  shape: (_in, p) => ok({ kind: 'context', dims: [p.tokens, p.dim] }),
  weights: () => [],
  flops: () => 0,
  forward: passThrough,
});

export const Output = defineBlock({
  type: 'Output',
  displayName: 'Output',
  category: 'Inputs & outputs',
  description: "The model's output (e.g. the predicted noise ε).",
  nameHint: 'output',
  io: 'output',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: null,
  params: {},
  view: { color: '#64748b', summary: () => '' },
  shape: (inputs) => ok(inputs.x),
  weights: () => [],
  flops: () => 0,
  forward: passThrough,
});

