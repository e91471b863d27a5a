/**
 * Each block type's ONNX lowering (opset 17, NCHW, PyTorch's semantics exactly as the block's
 * `pytorch.source` states them). One entry per block type; a type without one is refused by name
 * (`unloweredTypes`). The lowerings belong with the declarations in spirit; they live here until
 * the blocks grow an `onnx` field.
 */
import type { BlockType } from '../../../blocks/registry';
import type { AttentionParams } from '../../../blocks/defs/attention';
import type { BatchNorm2dParams, ConcatParams, Conv2dParams, ConvTranspose2dParams, GroupNormParams, MaxPool2dParams } from '../../../blocks/defs/layers';
import type { ResampleParams } from '../../../blocks/defs/resample';
import type { ResBlockParams } from '../../../blocks/defs/resblock';
import type { TimestepEmbeddingParams } from '../../../blocks/defs/timestep';
import { attentionHeads } from '../../../blocks/defs/attention';
import type { NodeInfo } from '../../../graph/analyze';
import { attr, type OnnxBuilder } from './builder';

/** What a lowering gets: the builder, the node, and the value names feeding its input ports. */
export interface LowerContext {
  readonly b: OnnxBuilder;
  readonly inf: NodeInfo;
  readonly ins: Readonly<Record<string, string>>;
  /** The value name of the model input for this node's role (input blocks only). */
  readonly roleInput: string;
}

/** Returns the value name of the node's output (an Output block returns the value it wrote to `out`). */
export type Lowering = (c: LowerContext) => string;

/** The node's parameters with their declared type (the analysis filled in the defaults). */
const params = <P>(inf: NodeInfo): P => inf.params as unknown as P;
/** `name.key`: a weight's state_dict name. */
const wkey = (inf: NodeInfo, key: string): string => `${inf.node.name}.${key}`;
/** The value names ONNX nodes get: `/input_blocks.1.0/...` as PyTorch's exporter does. */
const hintOf = (inf: NodeInfo, sub?: string): string => `/${inf.node.name}${sub ? `/${sub}` : ''}`;

function conv(b: OnnxBuilder, x: string, w: string, bias: string | null, k: number, stride: number, pad: number, hint: string): string {
  return b.op('Conv', bias ? [x, w, bias] : [x, w], hint, [
    attr.ints('kernel_shape', [k, k]),
    attr.ints('strides', [stride, stride]),
    attr.ints('pads', [pad, pad, pad, pad]),
    attr.ints('dilations', [1, 1]),
    attr.int('group', 1),
  ]);
}

/** A PyTorch nn.Conv2d at `prefix` (`in_layers.2`, `op`, '' for the node itself). */
function convAt(c: LowerContext, x: string, prefix: string, k: number, stride: number, pad: number, bias: boolean): string {
  const at = (s: string) => wkey(c.inf, prefix ? `${prefix}.${s}` : s);
  return conv(c.b, x, c.b.weight(at('weight')), bias ? c.b.weight(at('bias')) : null, k, stride, pad, hintOf(c.inf, prefix || 'conv'));
}

function silu(b: OnnxBuilder, x: string, hint: string): string {
  return b.op('Mul', [x, b.op('Sigmoid', [x], hint)], hint);
}

/** nn.Linear: `x @ W^T + b` for `x` [B, in]. */
function linear(c: LowerContext, x: string, prefix: string): string {
  return c.b.op('Gemm', [x, c.b.weight(wkey(c.inf, `${prefix}.weight`)), c.b.weight(wkey(c.inf, `${prefix}.bias`))], hintOf(c.inf, prefix), [attr.int('transB', 1)]);
}

/** A [C] vector as [C, 1, 1], to scale or shift an NCHW map per channel. */
function perChannel(b: OnnxBuilder, v: string, hint: string): string {
  return b.op('Reshape', [v, b.ints([-1, 1, 1], hint)], hint);
}

/**
 * GroupNorm in float32 (opset 17 has no GroupNormalization): x [B, C, ...] → [B, G, -1], mean and
 * biased variance over the last axis, (x − mean) / sqrt(var + eps), back to x's shape, then the
 * per-channel weight and bias.
 */
function groupNorm(c: LowerContext, x: string, prefix: string, groups: number, eps: number): string {
  const { b } = c;
  const h = hintOf(c.inf, prefix || 'norm');
  const at = (s: string) => wkey(c.inf, prefix ? `${prefix}.${s}` : s);
  const grouped = b.op('Reshape', [x, b.ints([0, groups, -1], h)], h);
  const mean = b.op('ReduceMean', [grouped], h, [attr.ints('axes', [2]), attr.int('keepdims', 1)]);
  const d = b.op('Sub', [grouped, mean], h);
  const variance = b.op('ReduceMean', [b.op('Mul', [d, d], h)], h, [attr.ints('axes', [2]), attr.int('keepdims', 1)]);
  const std = b.op('Sqrt', [b.op('Add', [variance, b.floats([eps], [], h)], h)], h);
  const normed = b.op('Reshape', [b.op('Div', [d, std], h), b.op('Shape', [x], h)], h);
  const scaled = b.op('Mul', [normed, perChannel(b, b.weight(at('weight')), h)], h);
  return b.op('Add', [scaled, perChannel(b, b.weight(at('bias')), h)], h);
}

/** nn.BatchNorm2d in eval mode (running statistics) at `prefix`. */
function batchNorm(c: LowerContext, x: string, prefix: string, eps: number): string {
  const at = (s: string) => c.b.weight(wkey(c.inf, prefix ? `${prefix}.${s}` : s));
  return c.b.op('BatchNormalization', [x, at('weight'), at('bias'), at('running_mean'), at('running_var')], hintOf(c.inf, prefix || 'bn'), [attr.float('epsilon', eps)]);
}

/** F.interpolate(scale_factor=2, mode="nearest"), as torch.onnx exports it. */
function nearest2(b: OnnxBuilder, x: string, hint: string): string {
  return b.op('Resize', [x, '', b.floats([1, 1, 2, 2], [4], hint)], hint, [
    attr.str('mode', 'nearest'),
    attr.str('coordinate_transformation_mode', 'asymmetric'),
    attr.str('nearest_mode', 'floor'),
  ]);
}

function avgPool2(b: OnnxBuilder, x: string, hint: string): string {
  return b.op('AveragePool', [x], hint, [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])]);
}

/** The number of channels of a node's feature input. */
function channelsOf(inf: NodeInfo, port: string): number {
  const s = inf.inputs[port]?.shape;
  if (!s) throw new Error(`onnx export: ${inf.node.name}: the shape of input ${port} is unknown`);
  return s.dims[0];
}

function spatialOf(inf: NodeInfo, port: string): [number, number] {
  const s = inf.inputs[port]?.shape;
  if (!s || s.dims.length !== 3) throw new Error(`onnx export: ${inf.node.name}: input ${port} is not a feature map`);
  return [s.dims[1], s.dims[2]];
}

const input: Lowering = (c) => c.roleInput;

/** q, k, v of one attention layer → softmax(q·k) v, per head: q, k, v are [B·heads, ch, T]. */
function attend(b: OnnxBuilder, q: string, k: string, v: string, hint: string): string {
  const qT = b.op('Transpose', [q], hint, [attr.ints('perm', [0, 2, 1])]);
  const weight = b.op('Softmax', [b.op('MatMul', [qT, k], hint)], hint, [attr.int('axis', -1)]); // [B·heads, T, S]
  const wT = b.op('Transpose', [weight], hint, [attr.ints('perm', [0, 2, 1])]);
  return b.op('MatMul', [v, wT], hint); // a[c, t] = Σ_s v[c, s]·w[t, s]
}

export const LOWERINGS = {
  ImageInput: input,
  TimestepsInput: input,
  ClassLabelInput: input,
  Output: (c) => {
    c.b.opTo('Identity', [c.ins.x], c.roleInput, hintOf(c.inf));
    return c.roleInput;
  },

  TimestepEmbedding: (c) => {
    const p = params<TimestepEmbeddingParams>(c.inf);
    const { b } = c;
    const h = hintOf(c.inf);
    const half = Math.floor(p.dim / 2);
    // The frequencies as PyTorch computes them in float32: −ln(P)·i rounded, /half rounded, exp.
    const freqs = new Float32Array(half);
    const logP = Math.fround(-Math.log(p.max_period));
    for (let i = 0; i < half; i++) freqs[i] = Math.exp(Math.fround(Math.fround(logP * i) / half));
    const t = b.op('Unsqueeze', [b.op('Cast', [c.ins.x], h, [attr.int('to', 1)]), b.ints([1], h)], h);
    const args = b.op('Mul', [t, b.floats(freqs, [1, half], h)], h);
    const emb = b.op('Concat', [b.op('Cos', [args], h), b.op('Sin', [args], h)], h, [attr.int('axis', 1)]);
    return p.dim % 2 === 0 ? emb : b.op('Pad', [emb, b.ints([0, 0, 0, 1], h)], h, [attr.str('mode', 'constant')]);
  },

  TimeEmbedMLP: (c) => linear(c, silu(c.b, linear(c, c.ins.x, '0'), hintOf(c.inf, '1')), '2'),

  LabelEmbedding: (c) => {
    const h = hintOf(c.inf);
    const rows = c.b.op('Gather', [c.b.weight(wkey(c.inf, 'weight')), c.ins.y], h, [attr.int('axis', 0)]);
    return c.b.op('Add', [c.ins.x, rows], h);
  },

  Conv2d: (c) => {
    const p = params<Conv2dParams>(c.inf);
    return convAt(c, c.ins.x, '', p.kernel_size, p.stride, p.padding, p.bias);
  },

  GroupNorm: (c) => {
    const p = params<GroupNormParams>(c.inf);
    return groupNorm(c, c.ins.x, '', p.groups, p.eps);
  },

  SiLU: (c) => silu(c.b, c.ins.x, hintOf(c.inf)),
  ReLU: (c) => c.b.op('Relu', [c.ins.x], hintOf(c.inf)),
  Add: (c) => c.b.op('Add', [c.ins.a, c.ins.b], hintOf(c.inf)),

  ResBlock: (c) => {
    const p = params<ResBlockParams>(c.inf);
    const { b } = c;
    const inC = channelsOf(c.inf, 'x');
    const out = p.out_channels;
    let x = c.ins.x;
    let h = silu(b, groupNorm(c, x, 'in_layers.0', 32, 1e-5), hintOf(c.inf, 'in_layers.1'));
    if (p.resample === 'up') {
      h = nearest2(b, h, hintOf(c.inf, 'h_upd'));
      x = nearest2(b, x, hintOf(c.inf, 'x_upd'));
    } else if (p.resample === 'down') {
      h = avgPool2(b, h, hintOf(c.inf, 'h_upd'));
      x = avgPool2(b, x, hintOf(c.inf, 'x_upd'));
    }
    h = convAt(c, h, 'in_layers.2', 3, 1, 1, true);
    const eh = hintOf(c.inf, 'emb_layers');
    const embOut = b.op('Reshape', [linear(c, silu(b, c.ins.emb, eh), 'emb_layers.1'), b.ints([0, -1, 1, 1], eh)], eh);
    if (p.use_scale_shift_norm) {
      const [scale, shift] = b.opN('Split', [embOut, b.ints([out, out], eh)], eh, 2, [attr.int('axis', 1)]);
      const normed = groupNorm(c, h, 'out_layers.0', 32, 1e-5);
      const onePlus = b.op('Add', [scale, b.floats([1], [], eh)], eh);
      h = b.op('Add', [b.op('Mul', [normed, onePlus], eh), shift], eh);
    } else {
      h = groupNorm(c, b.op('Add', [h, embOut], eh), 'out_layers.0', 32, 1e-5);
    }
    h = convAt(c, silu(b, h, hintOf(c.inf, 'out_layers.1')), 'out_layers.3', 3, 1, 1, true);
    const k = p.skip_conv === '3x3' ? 3 : 1;
    const skip = inC === out ? x : convAt(c, x, 'skip_connection', k, 1, Math.floor(k / 2), true);
    return b.op('Add', [skip, h], hintOf(c.inf));
  },

  AttentionBlock: (c) => {
    const p = params<AttentionParams>(c.inf);
    const { b } = c;
    const h = hintOf(c.inf);
    const ch0 = channelsOf(c.inf, 'x');
    const [hh, ww] = spatialOf(c.inf, 'x');
    const t = hh * ww;
    const heads = attentionHeads(ch0, p);
    const ch = ch0 / heads;
    const scale = b.floats([1 / Math.sqrt(Math.sqrt(ch))], [], h);
    const flat = b.op('Reshape', [c.ins.x, b.ints([0, ch0, t], h)], h); // [B, C, T]
    const normed = b.op('Reshape', [groupNorm(c, c.ins.x, 'norm', 32, 1e-5), b.ints([0, ch0, t], h)], h);
    const conv1d = (x: string, prefix: string) =>
      b.op('Conv', [x, b.weight(wkey(c.inf, `${prefix}.weight`)), b.weight(wkey(c.inf, `${prefix}.bias`))], hintOf(c.inf, prefix), [attr.ints('kernel_shape', [1])]);
    const qkv = conv1d(normed, 'qkv'); // [B, 3C, T]
    const heads3 = (x: string) => b.op('Reshape', [x, b.ints([-1, ch, t], h)], h);
    let q: string, k: string, v: string;
    if (p.use_new_attention_order) {
      const [q0, k0, v0] = b.opN('Split', [qkv, b.ints([ch0, ch0, ch0], h)], h, 3, [attr.int('axis', 1)]);
      q = heads3(b.op('Mul', [q0, scale], h));
      k = heads3(b.op('Mul', [k0, scale], h));
      v = heads3(v0);
    } else {
      const perHead = b.op('Reshape', [qkv, b.ints([-1, 3 * ch, t], h)], h); // [B·heads, 3ch, T]
      const [q0, k0, v0] = b.opN('Split', [perHead, b.ints([ch, ch, ch], h)], h, 3, [attr.int('axis', 1)]);
      q = b.op('Mul', [q0, scale], h);
      k = b.op('Mul', [k0, scale], h);
      v = v0;
    }
    const a = b.op('Reshape', [attend(b, q, k, v, h), b.ints([-1, ch0, t], h)], h); // [B, C, T]
    const sum = b.op('Add', [flat, conv1d(a, 'proj_out')], h);
    return b.op('Reshape', [sum, b.op('Shape', [c.ins.x], h)], h);
  },

  Downsample: (c) => {
    const p = params<ResampleParams>(c.inf);
    return p.use_conv ? convAt(c, c.ins.x, 'op', 3, 2, 1, true) : avgPool2(c.b, c.ins.x, hintOf(c.inf));
  },

  Upsample: (c) => {
    const p = params<ResampleParams>(c.inf);
    const up = nearest2(c.b, c.ins.x, hintOf(c.inf));
    return p.use_conv ? convAt(c, up, 'conv', 3, 1, 1, true) : up;
  },

  Concat: (c) => {
    const p = params<ConcatParams>(c.inf);
    const h = hintOf(c.inf);
    let x = c.ins.x;
    const [hx, wx] = spatialOf(c.inf, 'x');
    const [hs, ws] = spatialOf(c.inf, 'skip');
    const dy = hs - hx;
    const dx = ws - wx;
    if (p.pad_to_match && (dy > 0 || dx > 0)) {
      const top = Math.floor(dy / 2);
      const left = Math.floor(dx / 2);
      x = c.b.op('Pad', [x, c.b.ints([0, 0, top, left, 0, 0, dy - top, dx - left], h)], h, [attr.str('mode', 'constant')]);
    }
    const parts = p.order === 'x_first' ? [x, c.ins.skip] : [c.ins.skip, x];
    return c.b.op('Concat', parts, h, [attr.int('axis', 1)]);
  },

  DoubleConv: (c) => {
    let h = c.ins.x;
    for (const [cv, bn] of [[0, 1], [3, 4]] as const) {
      h = convAt(c, h, `double_conv.${cv}`, 3, 1, 1, false);
      h = c.b.op('Relu', [batchNorm(c, h, `double_conv.${bn}`, 1e-5)], hintOf(c.inf, `double_conv.${bn + 1}`));
    }
    return h;
  },

  MaxPool2d: (c) => {
    const k = params<MaxPool2dParams>(c.inf).kernel_size;
    return c.b.op('MaxPool', [c.ins.x], hintOf(c.inf), [attr.ints('kernel_shape', [k, k]), attr.ints('strides', [k, k])]);
  },

  ConvTranspose2d: (c) => {
    const p = params<ConvTranspose2dParams>(c.inf);
    const ins = [c.ins.x, c.b.weight(wkey(c.inf, 'weight'))];
    if (p.bias) ins.push(c.b.weight(wkey(c.inf, 'bias')));
    return c.b.op('ConvTranspose', ins, hintOf(c.inf), [
      attr.ints('kernel_shape', [p.kernel_size, p.kernel_size]),
      attr.ints('strides', [p.stride, p.stride]),
      attr.ints('pads', [0, 0, 0, 0]),
    ]);
  },

  BatchNorm2d: (c) => batchNorm(c, c.ins.x, '', params<BatchNorm2dParams>(c.inf).eps),
} satisfies Partial<Record<BlockType, Lowering>>;

const TABLE: Partial<Record<BlockType, Lowering>> = LOWERINGS;

export function loweringOf(type: BlockType): Lowering | undefined {
  return TABLE[type];
}
