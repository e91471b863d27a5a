/**
 * Each block's declared `scratch` (the temporaries its kernel holds besides its output) against what
 * tfjs counts at the peak of the same forward call on the cpu backend, and its declared `workspace`
 * (the largest tensor it makes) against the largest tensor a kernel of that call outputs. Cost
 * estimates and the run panel's refusals rest on these numbers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { blockDef, type BlockType } from './registry';
import type { InputShapes, ParamValues, TensorShape } from './types';
import { fromPyTorch, initialValues } from '../weights/pytorch';
import { Rng } from '../weights/rng';

const f = (c: number, h: number, w: number): TensorShape => ({ kind: 'feature', dims: [c, h, w] });
const emb = (d: number): TensorShape => ({ kind: 'temb', dims: [d] });
const numel = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);

type Case = readonly [BlockType, InputShapes, Record<string, unknown>];

const CASES: readonly Case[] = [
  ['ResBlock', { x: f(64, 16, 16), emb: emb(128) }, { out_channels: 64 }],
  ['ResBlock', { x: f(64, 16, 16), emb: emb(128) }, { out_channels: 128, use_scale_shift_norm: true }],
  ['ResBlock', { x: f(64, 16, 16), emb: emb(128) }, { out_channels: 64, resample: 'down' }],
  ['ResBlock', { x: f(64, 8, 8), emb: emb(128) }, { out_channels: 32, resample: 'up' }],
  ['AttentionBlock', { x: f(64, 8, 8) }, { num_heads: 2 }],
  ['AttentionBlock', { x: f(64, 16, 16) }, { num_heads: 4 }],
  ['AttentionBlock', { x: f(128, 8, 8) }, { num_head_channels: 32, use_new_attention_order: true }],
  ['GroupNorm', { x: f(64, 16, 16) }, {}],
  ['SiLU', { x: f(64, 16, 16) }, {}],
  ['BatchNorm2d', { x: f(64, 16, 16) }, {}],
  ['DoubleConv', { x: f(32, 16, 16) }, { out_channels: 64 }],
  ['DoubleConv', { x: f(32, 16, 16) }, { out_channels: 64, mid_channels: 32 }],
  ['ConvTranspose2d', { x: f(64, 16, 16) }, { out_channels: 32 }],
  ['Upsample', { x: f(64, 16, 16) }, {}],
  ['ResnetBlock2D', { x: f(64, 16, 16), emb: emb(128) }, { out_channels: 64 }],
  ['ResnetBlock2D', { x: f(64, 16, 16), emb: emb(128) }, { out_channels: 128, time_embedding_norm: 'scale_shift', output_scale_factor: 2 }],
  ['ResnetBlock2D', { x: f(64, 16, 16), emb: emb(128) }, { out_channels: 64, resample: 'down', skip_time_act: true }],
  ['ResnetBlock2D', { x: f(64, 8, 8), emb: emb(128) }, { out_channels: 32, resample: 'up', groups: 16 }],
  ['Attention', { x: f(64, 8, 8) }, {}],
  ['Attention', { x: f(64, 16, 16) }, { attention_head_dim: 16 }],
  ['Attention', { x: f(128, 8, 8) }, { attention_head_dim: 0, group_norm: false, residual_connection: false, rescale_output_factor: 2 }],
  ['Attention', { x: f(48, 16, 16) }, { attention_head_dim: 32, norm_groups: 16 }],
  ['Downsample2D', { x: f(64, 16, 16) }, { padding: 0 }],
  ['Downsample2D', { x: f(64, 15, 15) }, { padding: 0 }],
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const B = 2;

/** Runs the block's forward on a batch of `B` under `tf.profile`, with its PyTorch-initialised weights and random inputs. */
async function profileForward([type, inputs, over]: Case) {
  const def = blockDef(type);
  const params = { ...Object.fromEntries(Object.entries(def.params).map(([k, s]) => [k, s.default])), ...over } as ParamValues;
  const r = def.shape(inputs, params);
  if (!r.ok) throw new Error(`bad case: ${r.issues.map((i) => i.message).join('; ')}`);
  const rng = new Rng(1);
  const ws = new Map(def.weights(inputs, params).map((w) => [w.key, tf.tidy(() => fromPyTorch(tf.tensor(initialValues(w.shape, w.init, rng), [...w.shape]), w.layout))]));
  const ins: Record<string, tf.Tensor> = {};
  for (const [p, s] of Object.entries(inputs)) ins[p] = tf.randomNormal(s.kind === 'feature' ? [B, s.dims[1], s.dims[2], s.dims[0]] : [B, ...s.dims]);
  const before = tf.memory().numBytes;
  const info = await tf.profile(() => tf.tidy(() => def.forward(ins, (k) => ws.get(k)!, params)).dispose());
  tf.dispose([...Object.values(ins), ...ws.values()]);
  return { def, params, out: r.out, info, before };
}

describe('declared kernel temporaries match tfjs on cpu', () => {
  for (const c of CASES) {
    const [type, inputs, over] = c;
    it(`${type} ${JSON.stringify(over)}`, async () => {
      const { def, params, out, info, before } = await profileForward(c);
      const measured = (info.peakBytes - before) / 4 / B - numel(out.dims);
      const declared = def.scratch!(inputs, out, params);
      expect(measured).toBeGreaterThan(0);
      expect(declared / measured).toBeGreaterThanOrEqual(0.8);
      expect(declared / measured).toBeLessThanOrEqual(1.25);
    });
  }
});

/** Cases where the attention scores, `[heads, t, t]` per sample, are the largest tensor the kernel makes. */
const WORKSPACE_CASES: readonly Case[] = [
  ['AttentionBlock', { x: f(64, 16, 16) }, { num_heads: 4 }],
  ['Attention', { x: f(64, 16, 16) }, { attention_head_dim: 16 }],
  ['Attention', { x: f(32, 16, 16) }, { attention_head_dim: 0, group_norm: false }],
  ['Attention', { x: f(48, 16, 16) }, { attention_head_dim: 32, norm_groups: 16, residual_connection: false }],
];

describe('declared workspace is the largest tensor the kernel makes (cpu)', () => {
  for (const c of WORKSPACE_CASES) {
    const [type, inputs, over] = c;
    it(`${type} ${JSON.stringify(over)}`, async () => {
      const { def, params, info } = await profileForward(c);
      const largest = Math.max(...info.kernels.flatMap((k) => k.outputShapes.map((s) => numel(s ?? []))));
      const workspace = def.workspace!(inputs, params);
      expect(largest).toBe(B * numel(workspace));
    });
  }
});
