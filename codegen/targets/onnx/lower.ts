/**
 * Each block type's ONNX lowering (opset 17, NCHW, PyTorch's semantics exactly as the block's
 * `pytorch.source` states them). One entry per block type, checked by the compiler
 * (`satisfies Record<BlockType, Lowering>`): a new block type does not compile without its
 * lowering. diffusers' Upsample2D is the `Upsample` block. The lowerings belong with the
 * declarations in spirit; they live here until the blocks grow an `onnx` field.
 */
import type { BlockType } from '../../../blocks/registry';
import type { AttentionParams } from '../../../blocks/defs/attention';
import type { BatchNorm2dParams, ConcatParams, Conv2dParams, ConvTranspose2dParams, GroupNormParams, MaxPool2dParams } from '../../../blocks/defs/layers';
import type { ResampleParams } from '../../../blocks/defs/resample';
import type { ResBlockParams } from '../../../blocks/defs/resblock';
import type { TimestepEmbeddingParams } from '../../../blocks/defs/timestep';
import type {
  Downsample2DParams,
  DiffusersAttentionParams,
  RescaleParams,
  ResnetBlock2DParams,
  TimestepsParams,
} from '../../../blocks/defs/diffusers';
import type { SpatialTransformerParams, Transformer2DParams } from '../../../blocks/defs/transformer';
import { attentionHeads } from '../../../blocks/defs/attention';
import { diffusersAttentionHeads } from '../../../blocks/defs/diffusers';
import type { NodeInfo } from '../../../graph/analyze';
import { attr, type OnnxBuilder } from './builder';
import { DataType } from './onnx-proto';

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

/** `x @ Wᵀ (+ b)` for `x` of any rank (tokens `[B, T, in]`), W an nn.Linear weight `[out, in]` at `prefix`. */
function linearN(c: LowerContext, x: string, prefix: string, bias: boolean): string {
  const h = hintOf(c.inf, prefix);
  const wT = c.b.op('Transpose', [c.b.weight(wkey(c.inf, `${prefix}.weight`))], h, [attr.ints('perm', [1, 0])]);
  const y = c.b.op('MatMul', [x, wT], h);
  return bias ? c.b.op('Add', [y, c.b.weight(wkey(c.inf, `${prefix}.bias`))], h) : y;
}

/** PyTorch's Mish, `x · tanh(softplus(x))` (opset 17 has no Mish op). */
function mish(b: OnnxBuilder, x: string, hint: string): string {
  return b.op('Mul', [x, b.op('Tanh', [b.op('Softplus', [x], hint)], hint)], hint);
}

/** GELU with the exact error function, `0.5·x·(1 + erf(x/√2))` (F.gelu's default; opset 17 has Erf, not Gelu). */
export function geluErf(b: OnnxBuilder, x: string, hint: string): string {
  const e = b.op('Erf', [b.op('Mul', [x, b.floats([Math.SQRT1_2], [], hint)], hint)], hint);
  return b.op('Mul', [b.op('Mul', [x, b.floats([0.5], [], hint)], hint), b.op('Add', [e, b.floats([1], [], hint)], hint)], hint);
}

/** nn.LayerNorm over the last axis at `prefix` (opset 17's LayerNormalization). */
function layerNorm(c: LowerContext, x: string, prefix: string, eps: number): string {
  return c.b.op('LayerNormalization', [x, c.b.weight(wkey(c.inf, `${prefix}.weight`)), c.b.weight(wkey(c.inf, `${prefix}.bias`))], hintOf(c.inf, prefix), [
    attr.int('axis', -1),
    attr.float('epsilon', eps),
  ]);
}

/** `[B, N, heads·d]` → `[B, heads, N, d]`. */
function splitHeads(b: OnnxBuilder, x: string, heads: number, d: number, hint: string): string {
  return b.op('Transpose', [b.op('Reshape', [x, b.ints([0, 0, heads, d], hint)], hint)], hint, [attr.ints('perm', [0, 2, 1, 3])]);
}

/** `[B, heads, N, d]` → `[B, N, heads·d]`. */
function mergeHeads(b: OnnxBuilder, x: string, heads: number, d: number, hint: string): string {
  return b.op('Reshape', [b.op('Transpose', [x], hint, [attr.ints('perm', [0, 2, 1, 3])]), b.ints([0, 0, heads * d], hint)], hint);
}

/** softmax(scale·q·kᵀ)·v per (sample, head), softmax over the keys: q `[B, heads, T, d]`, k and v `[B, heads, S, d]`. */
function scaledAttention(b: OnnxBuilder, q: string, k: string, v: string, scale: number, hint: string): string {
  const kT = b.op('Transpose', [k], hint, [attr.ints('perm', [0, 1, 3, 2])]);
  const scores = b.op('Mul', [b.op('MatMul', [q, kT], hint), b.floats([scale], [], hint)], hint);
  return b.op('MatMul', [b.op('Softmax', [scores], hint, [attr.int('axis', -1)]), v], hint);
}

/** An NCHW map `[B, C, H, W]` as tokens `[B, H·W, C]` (row-major pixels). */
function toTokens(b: OnnxBuilder, x: string, ch: number, t: number, hint: string): string {
  return b.op('Transpose', [b.op('Reshape', [x, b.ints([0, ch, t], hint)], hint)], hint, [attr.ints('perm', [0, 2, 1])]);
}

/** Tokens `[B, H·W, C]` back to an NCHW map `[B, C, H, W]`. */
function fromTokens(b: OnnxBuilder, x: string, ch: number, hh: number, ww: number, hint: string): string {
  return b.op('Reshape', [b.op('Transpose', [x], hint, [attr.ints('perm', [0, 2, 1])]), b.ints([0, ch, hh, ww], hint)], hint);
}

/** ldm's CrossAttention at `prefix` (`transformer_blocks.0.attn1`): to_q/to_k/to_v without bias, to_out.0 with. */
function crossAttention(c: LowerContext, x: string, ctx: string, prefix: string, heads: number, dHead: number): string {
  const { b } = c;
  const h = hintOf(c.inf, prefix);
  const q = splitHeads(b, linearN(c, x, `${prefix}.to_q`, false), heads, dHead, h);
  const k = splitHeads(b, linearN(c, ctx, `${prefix}.to_k`, false), heads, dHead, h);
  const v = splitHeads(b, linearN(c, ctx, `${prefix}.to_v`, false), heads, dHead, h);
  const a = mergeHeads(b, scaledAttention(b, q, k, v, Math.pow(dHead, -0.5), h), heads, dHead, h);
  return linearN(c, a, `${prefix}.to_out.0`, true);
}

/**
 * ldm's SpatialTransformer (and diffusers' Transformer2DModel, the same computation): GroupNorm(32,
 * eps 1e-6) → proj_in (1×1 conv, or Linear on the tokens) → depth × (LayerNorm → self-attention,
 * LayerNorm → cross-attention on the context, LayerNorm → GEGLU feed-forward, each added to its
 * input) → proj_out → + x.
 */
function spatialTransformer(c: LowerContext, p: SpatialTransformerParams): string {
  const { b } = c;
  const h = hintOf(c.inf);
  const ch = channelsOf(c.inf, 'x');
  const [hh, ww] = spatialOf(c.inf, 'x');
  const t = hh * ww;
  const inner = p.n_heads * p.d_head;
  const normed = groupNorm(c, c.ins.x, 'norm', 32, 1e-6);
  let x = p.use_linear ? linearN(c, toTokens(b, normed, ch, t, h), 'proj_in', true) : toTokens(b, convAt(c, normed, 'proj_in', 1, 1, 0, true), inner, t, h);
  for (let k = 0; k < p.depth; k++) {
    const at = `transformer_blocks.${k}`;
    const n1 = layerNorm(c, x, `${at}.norm1`, 1e-5);
    x = b.op('Add', [crossAttention(c, n1, n1, `${at}.attn1`, p.n_heads, p.d_head), x], hintOf(c.inf, `${at}.attn1`));
    const n2 = layerNorm(c, x, `${at}.norm2`, 1e-5);
    x = b.op('Add', [crossAttention(c, n2, c.ins.context, `${at}.attn2`, p.n_heads, p.d_head), x], hintOf(c.inf, `${at}.attn2`));
    const n3 = layerNorm(c, x, `${at}.norm3`, 1e-5);
    const fh = hintOf(c.inf, `${at}.ff`);
    const proj = linearN(c, n3, `${at}.ff.net.0.proj`, true);
    const [value, gate] = b.opN('Split', [proj, b.ints([4 * inner, 4 * inner], fh)], fh, 2, [attr.int('axis', -1)]);
    const ff = linearN(c, b.op('Mul', [value, geluErf(b, gate, fh)], fh), `${at}.ff.net.2`, true);
    x = b.op('Add', [ff, x], fh);
  }
  const out = p.use_linear ? fromTokens(b, linearN(c, x, 'proj_out', true), ch, hh, ww, h) : convAt(c, fromTokens(b, x, inner, hh, ww, h), 'proj_out', 1, 1, 0, true);
  return b.op('Add', [out, c.ins.x], h);
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
    const t = b.op('Unsqueeze', [b.op('Cast', [c.ins.x], h, [attr.int('to', DataType.FLOAT)]), b.ints([1], h)], h);
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

  ContextInput: input,

  Timesteps: (c) => {
    const p = params<TimestepsParams>(c.inf);
    const { b } = c;
    const h = hintOf(c.inf);
    const half = Math.floor(p.num_channels / 2);
    // diffusers' float32 op order (the block's kernel): −ln(P)·i rounded, / (half − shift) rounded, exp.
    const freqs = new Float32Array(half);
    const logP = Math.fround(-Math.log(p.max_period));
    const denom = Math.fround(half - p.downscale_freq_shift);
    for (let i = 0; i < half; i++) freqs[i] = Math.exp(Math.fround(Math.fround(logP * i) / denom));
    const t = b.op('Unsqueeze', [b.op('Cast', [c.ins.x], h, [attr.int('to', DataType.FLOAT)]), b.ints([1], h)], h);
    let args = b.op('Mul', [t, b.floats(freqs, [1, half], h)], h);
    if (p.scale !== 1) args = b.op('Mul', [args, b.floats([p.scale], [], h)], h);
    const sin = b.op('Sin', [args], h);
    const cos = b.op('Cos', [args], h);
    const emb = b.op('Concat', p.flip_sin_to_cos ? [cos, sin] : [sin, cos], h, [attr.int('axis', 1)]);
    return p.num_channels % 2 === 0 ? emb : b.op('Pad', [emb, b.ints([0, 0, 0, 1], h)], h, [attr.str('mode', 'constant')]);
  },

  LearnedTimesteps: (c) => {
    // Row t of nn.Embedding(num_train_timesteps, dim); `.long()` truncates the float timesteps, as Cast does.
    const h = hintOf(c.inf);
    const idx = c.b.op('Cast', [c.ins.x], h, [attr.int('to', DataType.INT64)]);
    return c.b.op('Gather', [c.b.weight(wkey(c.inf, 'weight')), idx], h, [attr.int('axis', 0)]);
  },

  DiffusersTimestepEmbedding: (c) => linear(c, silu(c.b, linear(c, c.ins.x, 'linear_1'), hintOf(c.inf, 'act')), 'linear_2'),

  Rescale: (c) => {
    const p = params<RescaleParams>(c.inf);
    const h = hintOf(c.inf);
    return c.b.op('Add', [c.b.op('Mul', [c.ins.x, c.b.floats([p.scale], [], h)], h), c.b.floats([p.shift], [], h)], h);
  },

  ResnetBlock2D: (c) => {
    const p = params<ResnetBlock2DParams>(c.inf);
    const { b } = c;
    const inC = channelsOf(c.inf, 'x');
    const out = p.out_channels;
    const act = (v: string, hint: string) => (p.act_fn === 'mish' ? mish(b, v, hint) : silu(b, v, hint));
    let x = c.ins.x;
    let h = act(groupNorm(c, x, 'norm1', p.groups, p.eps), hintOf(c.inf, 'nonlinearity'));
    if (p.resample === 'up') {
      h = nearest2(b, h, hintOf(c.inf, 'upsample'));
      x = nearest2(b, x, hintOf(c.inf, 'upsample'));
    } else if (p.resample === 'down') {
      h = avgPool2(b, h, hintOf(c.inf, 'downsample'));
      x = avgPool2(b, x, hintOf(c.inf, 'downsample'));
    }
    h = convAt(c, h, 'conv1', 3, 1, 1, true);
    const eh = hintOf(c.inf, 'time_emb_proj');
    const temb = linear(c, p.skip_time_act ? c.ins.emb : act(c.ins.emb, eh), 'time_emb_proj');
    const e = b.op('Reshape', [temb, b.ints([0, -1, 1, 1], eh)], eh);
    if (p.time_embedding_norm === 'scale_shift') {
      const [scale, shift] = b.opN('Split', [e, b.ints([out, out], eh)], eh, 2, [attr.int('axis', 1)]);
      const onePlus = b.op('Add', [scale, b.floats([1], [], eh)], eh);
      h = b.op('Add', [b.op('Mul', [groupNorm(c, h, 'norm2', p.groups, p.eps), onePlus], eh), shift], eh);
    } else {
      h = groupNorm(c, b.op('Add', [h, e], eh), 'norm2', p.groups, p.eps);
    }
    h = convAt(c, act(h, hintOf(c.inf, 'nonlinearity')), 'conv2', 3, 1, 1, true);
    const skip = inC === out ? x : convAt(c, x, 'conv_shortcut', 1, 1, 0, true);
    const sum = b.op('Add', [skip, h], hintOf(c.inf));
    return p.output_scale_factor === 1 ? sum : b.op('Div', [sum, b.floats([p.output_scale_factor], [], hintOf(c.inf))], hintOf(c.inf));
  },

  Attention: (c) => {
    const p = params<DiffusersAttentionParams>(c.inf);
    const { b } = c;
    const h = hintOf(c.inf);
    const ch = channelsOf(c.inf, 'x');
    const [hh, ww] = spatialOf(c.inf, 'x');
    const [heads, dh] = diffusersAttentionHeads(ch, p);
    const normed = p.group_norm ? groupNorm(c, c.ins.x, 'group_norm', p.norm_groups, p.eps) : c.ins.x;
    const tokens = toTokens(b, normed, ch, hh * ww, h);
    const q = splitHeads(b, linearN(c, tokens, 'to_q', true), heads, dh, h);
    const k = splitHeads(b, linearN(c, tokens, 'to_k', true), heads, dh, h);
    const v = splitHeads(b, linearN(c, tokens, 'to_v', true), heads, dh, h);
    const a = mergeHeads(b, scaledAttention(b, q, k, v, 1 / Math.sqrt(dh), h), heads, dh, h);
    let out = fromTokens(b, linearN(c, a, 'to_out.0', true), ch, hh, ww, h);
    if (p.residual_connection) out = b.op('Add', [out, c.ins.x], h);
    return p.rescale_output_factor === 1 ? out : b.op('Div', [out, b.floats([p.rescale_output_factor], [], h)], h);
  },

  Downsample2D: (c) => {
    const p = params<Downsample2DParams>(c.inf);
    const h = hintOf(c.inf);
    if (!p.use_conv) return avgPool2(c.b, c.ins.x, h);
    // padding 0: one zero column on the right and one row at the bottom, then the unpadded stride-2 conv.
    const x = p.padding === 0 ? c.b.op('Pad', [c.ins.x, c.b.ints([0, 0, 0, 0, 0, 0, 1, 1], h)], h, [attr.str('mode', 'constant')]) : c.ins.x;
    return convAt(c, x, 'conv', 3, 2, p.padding, true);
  },

  SpatialTransformer: (c) => spatialTransformer(c, params<SpatialTransformerParams>(c.inf)),

  Transformer2DModel: (c) => {
    const p = params<Transformer2DParams>(c.inf);
    return spatialTransformer(c, { n_heads: p.num_attention_heads, d_head: p.attention_head_dim, depth: p.num_layers, use_linear: p.use_linear_projection });
  },
} satisfies Record<BlockType, Lowering>;

const TABLE: Record<BlockType, Lowering> = LOWERINGS;

export function loweringOf(type: BlockType): Lowering | undefined {
  return Object.hasOwn(TABLE, type) ? TABLE[type] : undefined;
}
