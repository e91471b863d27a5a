/** iDDPM / guided-diffusion self-attention over the pixels of a feature map. */
import * as tf from '@tensorflow/tfjs-core';
import type { BlockIssue, KernelInputs, Trace, WeightGetter } from '../types';
import { bool, defineBlock, int } from '../types';
import { pyBool, pyInt } from '../pytorch';
import { chw, conv1dWeights, failWith, groupsIssue, issue, normWeights, ok } from '../common';
import { groupNorm, linear } from '../ops';

export interface AttentionParams {
  readonly num_heads: number;
  readonly num_head_channels: number;
  readonly use_new_attention_order: boolean;
}

/** Heads actually used: `num_head_channels` (when not -1) overrides `num_heads`, as in guided-diffusion. */
export function attentionHeads(channels: number, p: AttentionParams): number {
  return p.num_head_channels > 0 ? channels / p.num_head_channels : p.num_heads;
}

/**
 * `x + proj_out(attention(qkv(norm(x))))` over T = H·W positions. `qkv` is a 1×1 Conv1d to 3C channels,
 * split per head as `[head0: q k v | head1: q k v | …]` (legacy, `QKVAttentionLegacy`) or
 * `[q: heads | k: heads | v: heads]` (`use_new_attention_order`). q and k are each scaled by
 * `1/√√ch` before the product; softmax over keys in float32.
 */
export function attentionForward(inputs: KernelInputs, w: WeightGetter, p: AttentionParams, trace?: Trace): tf.Tensor {
  const x = inputs.x as tf.Tensor4D;
  const [b, hh, ww, c] = x.shape;
  const t = hh * ww;
  const heads = attentionHeads(c, p);
  const ch = c / heads;
  const xn = tf.reshape(groupNorm(x, w('norm.weight'), w('norm.bias'), 32, 1e-5), [b * t, c]) as tf.Tensor2D;
  if (trace) trace('norm', tf.transpose(tf.reshape(xn, [b, t, c]), [0, 2, 1]));
  const qkv2 = linear(xn, w('qkv.weight'), w('qkv.bias'));
  if (trace) trace('qkv', tf.transpose(tf.reshape(qkv2, [b, t, 3 * c]), [0, 2, 1]));
  const scale = 1 / Math.sqrt(Math.sqrt(ch));
  let merged: tf.Tensor2D;
  if (tf.getBackend() === 'wasm' && !trace) {
    merged = attendHeadsWasm(qkv2, b, t, heads, ch, scale, p.use_new_attention_order);
  } else {
    const qkv = tf.reshape(qkv2, [b, t, 3 * c]);
    // Channels are [heads, 3, ch] (legacy) or [3, heads, ch] (new order); one transpose gives
    // [3, b, heads, t, ch] and q, k, v are its three slabs. (A rank-5 split is ~100× slower on wasm.)
    const qkvT = p.use_new_attention_order
      ? tf.transpose(tf.reshape(qkv, [b, t, 3, heads, ch]), [2, 0, 3, 1, 4])
      : tf.transpose(tf.reshape(qkv, [b, t, heads, 3, ch]), [3, 0, 2, 1, 4]);
    const [q0, k0, v] = tf.unstack(qkvT);
    const a = attend(tf.mul(q0, scale), tf.mul(k0, scale), v);
    if (trace) trace('attention', tf.reshape(tf.transpose(a, [0, 1, 3, 2]), [b * heads, ch, t]));
    merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [b * t, c]) as tf.Tensor2D;
  }
  const out = linear(merged, w('proj_out.weight'), w('proj_out.bias'));
  if (trace) trace('proj_out', tf.transpose(tf.reshape(out, [b, t, c]), [0, 2, 1]));
  return tf.add(x, tf.reshape(out, [b, hh, ww, c]));
}

/**
 * The attention of {@link attentionForward} on tfjs-wasm, straight from the `[b·t, 3C]` projection:
 * q and k are scaled by one per-column multiply, kᵀ of every head comes from one transpose of the
 * whole projection, and each (sample, head) takes its q, kᵀ and v as plain 2-D slices; the heads'
 * results are concatenated back into `[b·t, C]` channel order. No rank-5 transpose, no unstacks, and
 * the products stay the plain 2-D matMuls XNNPACK runs fast. Measured against the transpose-and-
 * unstack layout (CPU time, Node, 128 channels at 16×16, 4 heads): the same at batch 1 (the
 * matMuls dominate), 0.71× at batch 2. Bit-identical: each element is scaled as in the reference
 * before the same products.
 */
export function attendHeadsWasm(qkv: tf.Tensor2D, b: number, t: number, heads: number, ch: number, scale: number, newOrder: boolean): tf.Tensor2D {
  const c = heads * ch;
  // Column offsets of head h's q, k and v: [heads, 3, ch] (legacy) or [3, heads, ch] (new order).
  const col = (h: number, which: number): number => (newOrder ? which * c + h * ch : (h * 3 + which) * ch);
  const colScale = new Float32Array(3 * c).fill(scale);
  for (let h = 0; h < heads; h++) colScale.fill(1, col(h, 2), col(h, 2) + ch);
  const scaled = tf.mul(qkv, tf.tensor1d(colScale));
  const scaledT = tf.transpose(scaled); // [3C, b·t]: kᵀ of a head is a block of rows.
  const rows: tf.Tensor2D[] = [];
  for (let s = 0; s < b; s++) {
    const outs: tf.Tensor2D[] = [];
    for (let h = 0; h < heads; h++) {
      const q = tf.slice(scaled, [s * t, col(h, 0)], [t, ch]);
      const kT = tf.slice(scaledT, [col(h, 1), s * t], [ch, t]);
      const v = tf.slice(scaled, [s * t, col(h, 2)], [t, ch]);
      outs.push(tf.matMul(tf.softmax(tf.matMul(q, kT)), v));
    }
    rows.push(outs.length === 1 ? outs[0] : tf.concat(outs, 1));
  }
  return rows.length === 1 ? rows[0] : tf.concat(rows, 0);
}

/**
 * softmax(q·kᵀ)·v per (sample, head), softmax over keys. q, k, v: `[b, heads, t, ch]`.
 * On tfjs's wasm backend a batched or transposed matMul misses XNNPACK's fast path (measured
 * 5–20× slower here than a plain 2-D matMul), so there each (sample, head) is two plain 2-D matMuls
 * with kᵀ made explicitly; other backends run one batched product.
 */
export function attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor4D {
  const [b, heads, t, ch] = q.shape;
  if (tf.getBackend() !== 'wasm') return tf.matMul(tf.softmax(tf.matMul(q, k, false, true)), v) as tf.Tensor4D;
  const qs = tf.unstack(tf.reshape(q, [b * heads, t, ch])) as tf.Tensor2D[];
  const kts = tf.unstack(tf.transpose(tf.reshape(k, [b * heads, t, ch]), [0, 2, 1])) as tf.Tensor2D[];
  const vs = tf.unstack(tf.reshape(v, [b * heads, t, ch])) as tf.Tensor2D[];
  const outs = qs.map((qi, i) => tf.matMul(tf.softmax(tf.matMul(qi, kts[i])), vs[i]));
  return tf.reshape(tf.stack(outs), [b, heads, t, ch]);
}

export const AttentionBlock = defineBlock({
  type: 'AttentionBlock',
  displayName: 'Attention',
  category: 'Diffusion',
  description: 'Multi-head self-attention over all pixels (iDDPM AttentionBlock); the output projection starts at zero.',
  nameHint: 'attn',
  inputs: [{ name: 'x', kind: 'feature', label: 'x' }],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    num_heads: int('Heads', 1, 1, 256),
    num_head_channels: int('Channels per head', -1, -1, 4096, '-1: use Heads; otherwise heads = channels / this'),
    use_new_attention_order: bool('New q|k|v order', false, 'split q, k, v before heads (QKVAttention) instead of the legacy per-head order'),
  },
  view: {
    color: '#ec4899',
    summary: (p) => `${p.num_head_channels > 0 ? `${String(p.num_head_channels)} ch/head` : `${String(p.num_heads)} heads`}${p.use_new_attention_order ? ' · new order' : ''}`,
  },
  checkParams: (p) =>
    p.num_head_channels === 0 ? [issue('0 channels per head', 'use -1 (then Heads counts) or a positive number', 'num_head_channels')] : [],
  shape: (inputs, p) => {
    const [c] = chw(inputs.x);
    const issues: BlockIssue[] = [];
    const g = groupsIssue(c, 32);
    if (g) issues.push(g);
    if (p.num_head_channels > 0) {
      if (c % p.num_head_channels !== 0) {
        issues.push(issue(`${c} channels are not divisible by ${p.num_head_channels} channels per head`, `use a divisor of ${c} for channels per head`, 'num_head_channels'));
      }
    } else if (c % p.num_heads !== 0) {
      issues.push(issue(`${c} channels are not divisible by ${p.num_heads} heads`, `use a number of heads that divides ${c}`, 'num_heads'));
    }
    return issues.length > 0 ? failWith(inputs.x, issues) : ok(inputs.x);
  },
  weights: (inputs) => {
    const c = inputs.x.dims[0];
    return [...normWeights('norm', c), ...conv1dWeights('qkv', 3 * c, c), ...conv1dWeights('proj_out', c, c, true)];
  },
  flops: (inputs) => {
    const [c, h, w] = chw(inputs.x);
    const t = h * w;
    return 2 * t * c * 3 * c + 2 * 2 * t * t * c + 2 * t * c * c;
  },
  // GroupNorm, qkv, q/k/v in heads, scaled q and k, the scores and their softmax, the product and
  // the projection: about 27 values per input value (measured on cpu) plus two t×t per head.
  scratch: (inputs, _out, p) => {
    const [c, h, w] = chw(inputs.x);
    const t = h * w;
    return 27 * c * t + 2 * attentionHeads(c, p) * t * t;
  },
  // The attention scores, one t×t matrix per head (`attend` makes them all at once off wasm).
  workspace: (inputs, p) => {
    const [c, h, w] = chw(inputs.x);
    return [attentionHeads(c, p), h * w, h * w];
  },
  pytorch: {
    className: 'AttentionBlock',
    helpers: ['zero_module', 'GroupNorm32'],
    ctorArgs: (inputs, p) => [
        ['channels', pyInt(inputs.x.dims[0])],
        ['num_heads', pyInt(p.num_heads)],
        ['num_head_channels', pyInt(p.num_head_channels)],
        ['use_new_attention_order', pyBool(p.use_new_attention_order)],
      ],
    forwardInputs: ['x'],
    source: `class AttentionBlock(nn.Module):
    """guided-diffusion's AttentionBlock: GN, a 1x1 Conv1d to q|k|v, q and k each scaled by
    1/sqrt(sqrt(ch)) before their product, softmax over keys in float32, a zero-initialised 1x1
    Conv1d out, plus the input. Heads split per head as [q k v] (QKVAttentionLegacy) or q|k|v first
    (QKVAttention, use_new_attention_order); num_head_channels > 0 sets the heads from the channels."""

    def __init__(self, channels: int, num_heads: int, num_head_channels: int, use_new_attention_order: bool) -> None:
        super().__init__()
        self.num_heads = channels // num_head_channels if num_head_channels > 0 else num_heads
        self.use_new_attention_order = use_new_attention_order
        self.norm = GroupNorm32(32, channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        h = self.proj_out(self.attention(qkv))
        return (x + h).reshape(b, c, height, width)

    def attention(self, qkv: torch.Tensor) -> torch.Tensor:
        bs, width, length = qkv.shape
        heads = self.num_heads
        ch = width // (3 * heads)
        scale = 1 / math.sqrt(math.sqrt(ch))
        if self.use_new_attention_order:
            q, k, v = qkv.chunk(3, dim=1)
            q = (q * scale).reshape(bs * heads, ch, length)
            k = (k * scale).reshape(bs * heads, ch, length)
            v = v.reshape(bs * heads, ch, length)
        else:
            q, k, v = qkv.reshape(bs * heads, ch * 3, length).split(ch, dim=1)
            q = q * scale
            k = k * scale
        weight = torch.einsum("bct,bcs->bts", q, k)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        a = torch.einsum("bts,bcs->bct", weight, v)
        return a.reshape(bs, -1, length)`,
  },
  forward: attentionForward,
});
