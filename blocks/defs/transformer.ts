/**
 * Stable Diffusion's transformer over the pixels of a feature map, with cross-attention to a
 * context sequence: CompVis latent-diffusion / stablediffusion `ldm/modules/attention.py`
 * (`SpatialTransformer`, `BasicTransformerBlock`, `CrossAttention`, `FeedForward`, `GEGLU`) and
 * its diffusers twin `Transformer2DModel` (same kernel, same weight sub-keys, diffusers' parameter
 * names).
 *
 * `norm` GroupNorm(32, eps 1e-6) → `proj_in` (1×1 conv, or Linear on the tokens with `use_linear`)
 * → tokens in row-major (h, w) order → per block k of `transformer_blocks`:
 * `x = attn1(norm1(x)) + x; x = attn2(norm2(x), context) + x; x = ff(norm3(x)) + x` (LayerNorm eps
 * 1e-5; `to_q/to_k/to_v` without bias, `to_out.0` with; scores `q·kᵀ · d_head^-0.5`, softmax over
 * keys; GEGLU `a · gelu(gate)` with the exact erf GELU) → `proj_out` → `+ x`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BlockIssue, InputShapes, KernelInputs, ShapeResult, Trace, WeightGetter, WeightSpec } from '../types';
import { bool, defineBlock, int } from '../types';
import { pyBool, pyInt } from '../pytorch';
import { chw, fail, failWith, groupsIssue, issue, ok } from '../common';
import { groupNorm, linear } from '../ops';

/** The kernel's parameters under ldm's names (`Transformer2DModel` maps diffusers' onto them). */
export interface SpatialTransformerParams {
  readonly n_heads: number;
  readonly d_head: number;
  readonly depth: number;
  readonly use_linear: boolean;
}

/** LayerNorm over the last axis (biased variance, PyTorch's `nn.LayerNorm`). */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, gamma), beta) as tf.Tensor2D;
}

/** GELU with the exact error function, `0.5·x·(1 + erf(x/√2))` (PyTorch's `F.gelu` default, not the tanh approximation). */
export function geluErf<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/**
 * softmax(q·kᵀ · scale)·v per (sample, head), softmax over keys; the scale multiplies the scores
 * as in ldm's `CrossAttention`. q: `[b, heads, t, d]`; k, v: `[b, heads, s, d]` (s keys, which may
 * differ from t). On wasm each (sample, head) is plain 2-D matMuls (its batched or transposed matMul
 * misses XNNPACK's fast path, see `attend` in attention.ts).
 */
export function crossAttend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  const [b, heads, t, d] = q.shape;
  const s = k.shape[2];
  if (tf.getBackend() !== 'wasm') return tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)), v) as tf.Tensor4D;
  const qs = tf.unstack(tf.reshape(q, [b * heads, t, d])) as tf.Tensor2D[];
  const kts = tf.unstack(tf.transpose(tf.reshape(k, [b * heads, s, d]), [0, 2, 1])) as tf.Tensor2D[];
  const vs = tf.unstack(tf.reshape(v, [b * heads, s, d])) as tf.Tensor2D[];
  // Each head's t×s scores are freed before the next head's are made: at 64×64 latents one head's
  // are 64 MB, and Stable Diffusion's 860M weights leave little of wasm's 4 GB heap.
  const outs = qs.map((qi, i) => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(qi, kts[i]), scale)), vs[i])));
  return tf.reshape(tf.stack(outs), [b, heads, t, d]);
}

/**
 * ldm's `CrossAttention` on token rows: `x` is `[b·t, query dim]`, `ctx` `[b·s, context dim]`
 * (`ctx === x` for self-attention). Heads split the inner dimension as `(h d)`, head-major.
 */
export function crossAttention(
  x: tf.Tensor2D,
  ctx: tf.Tensor2D,
  w: WeightGetter,
  prefix: string,
  b: number,
  heads: number,
  dHead: number,
): tf.Tensor2D {
  const t = x.shape[0] / b;
  const s = ctx.shape[0] / b;
  const inner = heads * dHead;
  const split = (m: tf.Tensor2D, n: number): tf.Tensor4D => tf.transpose(tf.reshape(m, [b, n, heads, dHead]), [0, 2, 1, 3]);
  const q = split(tf.matMul(x, w(`${prefix}.to_q.weight`) as tf.Tensor2D), t);
  const k = split(tf.matMul(ctx, w(`${prefix}.to_k.weight`) as tf.Tensor2D), s);
  const v = split(tf.matMul(ctx, w(`${prefix}.to_v.weight`) as tf.Tensor2D), s);
  const a = crossAttend(q, k, v, Math.pow(dHead, -0.5));
  const merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [b * t, inner]) as tf.Tensor2D;
  return linear(merged, w(`${prefix}.to_out.0.weight`), w(`${prefix}.to_out.0.bias`));
}

/** `FeedForward(dim, glu=True)`: GEGLU `ff.net.0` (proj → value | gate halves → value · gelu(gate)), then `ff.net.2`. */
export function gegluFeedForward(x: tf.Tensor2D, w: WeightGetter, prefix: string): tf.Tensor2D {
  const h = linear(x, w(`${prefix}.net.0.proj.weight`), w(`${prefix}.net.0.proj.bias`));
  const half = h.shape[1] / 2;
  const [value, gate] = tf.split(h, [half, half], 1);
  return linear(tf.mul(value, geluErf(gate)), w(`${prefix}.net.2.weight`), w(`${prefix}.net.2.bias`));
}

/** ldm's `SpatialTransformer.forward` (NHWC): x `[b, h, w, C]`, context `[b, tokens, dim]`. */
export function spatialTransformerForward(inputs: KernelInputs, w: WeightGetter, p: SpatialTransformerParams, trace?: Trace): tf.Tensor {
  const x = inputs.x as tf.Tensor4D;
  const context = inputs.context as tf.Tensor3D;
  const [b, hh, ww, c] = x.shape;
  const [, tokens, dim] = context.shape;
  const t = hh * ww;
  const inner = p.n_heads * p.d_head;
  const ctx = tf.reshape(context, [b * tokens, dim]) as tf.Tensor2D;
  const xn = tf.reshape(groupNorm(x, w('norm.weight'), w('norm.bias'), 32, 1e-6), [b * t, c]) as tf.Tensor2D;
  // A 1×1 conv on NHWC is the Linear on the tokens; its weight arrives as [1, 1, C, I].
  const pin = w('proj_in.weight');
  let h = linear(xn, p.use_linear ? pin : tf.reshape(pin, [c, inner]), w('proj_in.bias'));
  if (trace) trace('proj_in', tf.reshape(h, [b, t, inner]));
  for (let k = 0; k < p.depth; k++) {
    const at = `transformer_blocks.${k}`;
    const n1 = layerNorm(h, w(`${at}.norm1.weight`), w(`${at}.norm1.bias`), 1e-5);
    h = tf.add(crossAttention(n1, n1, w, `${at}.attn1`, b, p.n_heads, p.d_head), h);
    const n2 = layerNorm(h, w(`${at}.norm2.weight`), w(`${at}.norm2.bias`), 1e-5);
    h = tf.add(crossAttention(n2, ctx, w, `${at}.attn2`, b, p.n_heads, p.d_head), h);
    const n3 = layerNorm(h, w(`${at}.norm3.weight`), w(`${at}.norm3.bias`), 1e-5);
    h = tf.add(gegluFeedForward(n3, w, `${at}.ff`), h);
    if (trace) trace(at, tf.reshape(h, [b, t, inner]));
  }
  const pout = w('proj_out.weight');
  const out = linear(h, p.use_linear ? pout : tf.reshape(pout, [inner, c]), w('proj_out.bias'));
  return tf.add(tf.reshape(out, [b, hh, ww, c]), x);
}

// ---------------------------------------------------------------------------------------------
// Declarations

const stUniform = (fanIn: number) => ({ kind: 'uniform', bound: 1 / Math.sqrt(fanIn) }) as const;
const stZeros = { kind: 'const', value: 0 } as const;
const stOnes = { kind: 'const', value: 1 } as const;
const stSpec = (key: string, shape: number[], layout: WeightSpec['layout'], init: WeightSpec['init']): WeightSpec => ({
  key, shape, layout, init, role: 'param', dtype: 'float32',
});
const stNorm = (key: string, n: number): WeightSpec[] => [stSpec(`${key}.weight`, [n], 'same', stOnes), stSpec(`${key}.bias`, [n], 'same', stZeros)];
const stLinear = (key: string, out: number, inF: number, bias: boolean): WeightSpec[] => [
  stSpec(`${key}.weight`, [out, inF], 'linear', stUniform(inF)),
  ...(bias ? [stSpec(`${key}.bias`, [out], 'same', stUniform(inF))] : []),
];
/** proj_in / proj_out: a 1×1 Conv2d `[out, in, 1, 1]`, or a Linear `[out, in]`; ldm zero-initialises proj_out. */
const stProj = (key: string, out: number, inF: number, linearProj: boolean, zeroInit: boolean): WeightSpec[] => [
  stSpec(`${key}.weight`, linearProj ? [out, inF] : [out, inF, 1, 1], linearProj ? 'linear' : 'conv2d', zeroInit ? stZeros : stUniform(inF)),
  stSpec(`${key}.bias`, [out], 'same', zeroInit ? stZeros : stUniform(inF)),
];
const stAttnWeights = (key: string, inner: number, ctxDim: number): WeightSpec[] => [
  ...stLinear(`${key}.to_q`, inner, inner, false),
  ...stLinear(`${key}.to_k`, inner, ctxDim, false),
  ...stLinear(`${key}.to_v`, inner, ctxDim, false),
  ...stLinear(`${key}.to_out.0`, inner, inner, true),
];

/**
 * The weights in the real module's `state_dict()` order: ldm's `BasicTransformerBlock` registers
 * attn1, ff, attn2, norm1-3; diffusers' registers norm1, attn1, norm2, attn2, norm3, ff.
 */
function transformerWeights(inputs: InputShapes, p: SpatialTransformerParams, order: 'ldm' | 'diffusers'): WeightSpec[] {
  const c = inputs.x.dims[0];
  const d = inputs.context.dims[1];
  const inner = p.n_heads * p.d_head;
  const blocks: WeightSpec[] = [];
  for (let k = 0; k < p.depth; k++) {
    const at = `transformer_blocks.${k}`;
    const ff = [...stLinear(`${at}.ff.net.0.proj`, 8 * inner, inner, true), ...stLinear(`${at}.ff.net.2`, inner, 4 * inner, true)];
    const a1 = stAttnWeights(`${at}.attn1`, inner, inner);
    const a2 = stAttnWeights(`${at}.attn2`, inner, d);
    const [n1, n2, n3] = [1, 2, 3].map((i) => stNorm(`${at}.norm${i}`, inner));
    blocks.push(...(order === 'ldm' ? [...a1, ...ff, ...a2, ...n1, ...n2, ...n3] : [...n1, ...a1, ...n2, ...a2, ...n3, ...ff]));
  }
  return [
    ...stNorm('norm', c),
    ...stProj('proj_in', inner, c, p.use_linear, false),
    ...blocks,
    ...stProj('proj_out', c, inner, p.use_linear, order === 'ldm'),
  ];
}

/**
 * Stability-AI/stablediffusion's `SpatialTransformer` with `use_linear` builds `proj_out` as
 * `nn.Linear(in_channels, inner_dim)` (weight `[inner, C]`), so its module only runs, and its
 * checkpoints only exist, when heads × head size = the channels. The block computes any inner width
 * with diffusers' `[C, inner]` layout, so this is a warning about checkpoints, not an error.
 */
function ldmLinearLayoutWarning(channels: number, p: SpatialTransformerParams): BlockIssue | null {
  const inner = p.n_heads * p.d_head;
  if (!p.use_linear || inner === channels) return null;
  const options = new Set<string>();
  if (channels % p.n_heads === 0) options.add(`${p.n_heads} heads of ${channels / p.n_heads}`);
  if (channels % p.d_head === 0) options.add(`${channels / p.d_head} heads of ${p.d_head}`);
  const fitting = options.size > 0 ? ` (${[...options].join(' or ')})` : '';
  return {
    severity: 'warning',
    message:
      `${p.n_heads} heads × ${p.d_head} = ${inner} ≠ ${channels} channels with linear projections: Stability-AI's SpatialTransformer ` +
      `builds proj_out as Linear(in_channels, inner_dim), so its checkpoint layout needs equal sizes ` +
      `(this block computes it with proj_out [${channels}, ${inner}], diffusers' layout)`,
    fix: `use heads × head size = ${channels}${fitting}, or 1×1 conv projections (Linear projections off), which take any inner width`,
    param: 'n_heads',
  };
}

/** Shapes: x a feature map whose channels split into 32 groups, a context sequence; the output is x's shape. */
function transformerShape(inputs: InputShapes, ldmParams?: SpatialTransformerParams): ShapeResult {
  const x = inputs.x;
  const ctx = inputs.context;
  if (x.kind !== 'feature' || x.dims.length !== 3) {
    return fail(issue(`input "x" must be a feature map C×H×W, got ${x.kind} ${x.dims.join('×')}`, 'connect a feature map (a ResBlock or conv output) to "x"'));
  }
  if (ctx.kind !== 'context' || ctx.dims.length !== 2) {
    return failWith(x, [issue(`input "context" must be a context sequence (tokens × dim), got ${ctx.kind}`, 'connect the Context input (or another tokens × dim tensor) to "context"')]);
  }
  const issues: BlockIssue[] = [];
  const g = groupsIssue(x.dims[0], 32);
  if (g) issues.push({ ...g, message: `${g.message} (its GroupNorm "norm" uses 32 groups)`, fix: `${g.fix} channels for x` });
  if (issues.length > 0) return failWith(x, issues);
  const layout = ldmParams ? ldmLinearLayoutWarning(x.dims[0], ldmParams) : null;
  return ok(x, layout ? [layout] : undefined);
}

function transformerFlops(inputs: InputShapes, p: SpatialTransformerParams): number {
  const [c, h, w] = chw(inputs.x);
  const [s, d] = inputs.context.dims;
  const t = h * w;
  const i = p.n_heads * p.d_head;
  const self = 2 * t * i * i * 4 + 2 * 2 * t * t * i;
  const cross = 2 * t * i * i * 2 + 2 * 2 * s * d * i + 2 * 2 * t * s * i;
  const ff = 2 * t * i * 8 * i + 2 * t * 4 * i * i;
  return 2 * 2 * t * c * i + p.depth * (self + cross + ff);
}

/**
 * Values per sample held at once besides the output: the tokens, their norms and residuals, the
 * GEGLU's 8I-wide projection with its halves and gate, and the self-attention scores per head.
 */
function transformerScratch(inputs: InputShapes, p: SpatialTransformerParams): number {
  const [c, h, w] = chw(inputs.x);
  const t = h * w;
  const i = p.n_heads * p.d_head;
  return 4 * c * t + 24 * i * t + 2 * p.n_heads * t * Math.max(t, inputs.context.dims[0]);
}

const TRANSFORMER_HELP = {
  linear: "proj_in/proj_out are Linear layers on the tokens instead of 1×1 convolutions (SD 2.x's use_linear_in_transformer)",
} as const;

/** The PyTorch side shared by both declarations (the classes are in blocks/pytorch.ts' `ldm_transformer` helper). */
const pytorchTransformerBody = (order: 'ldm' | 'diffusers'): string => `        self.in_channels = in_channels
        inner_dim = n_heads * d_head
        self.norm = nn.GroupNorm(num_groups=32, num_channels=in_channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(in_channels, inner_dim) if use_linear else nn.Conv2d(in_channels, inner_dim, kernel_size=1, stride=1, padding=0)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner_dim, n_heads, d_head, context_dim=context_dim${order === 'diffusers' ? ', diffusers_order=True' : ''}) for _ in range(depth)]
        )
        self.proj_out = nn.Linear(inner_dim, in_channels) if use_linear else nn.Conv2d(inner_dim, in_channels, kernel_size=1, stride=1, padding=0)
        self.use_linear = use_linear`;

const PYTORCH_TRANSFORMER_FORWARD = `    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x_in = x
        x = self.norm(x)
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.permute(0, 2, 3, 1).reshape(b, h * w, -1).contiguous()
        if self.use_linear:
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context=context)
        if self.use_linear:
            x = self.proj_out(x)
        x = x.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()
        if not self.use_linear:
            x = self.proj_out(x)
        return x + x_in`;

export const SpatialTransformer = defineBlock({
  type: 'SpatialTransformer',
  displayName: 'Spatial transformer',
  category: 'Diffusion',
  description:
    "Stable Diffusion's transformer (latent-diffusion SpatialTransformer): GroupNorm, proj_in, depth × (self-attention, cross-attention to the context, GEGLU feed-forward), proj_out (zero-initialised), plus x.",
  nameHint: 'transformer',
  inputs: [
    { name: 'x', kind: 'feature', label: 'x' },
    { name: 'context', kind: 'context', label: 'context' },
  ],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    n_heads: int('Heads', 8, 1, 256),
    d_head: int('Head size', 64, 1, 4096, 'channels per head; inner dim = heads × head size'),
    depth: int('Depth', 1, 1, 64, 'transformer blocks (transformer_depth)'),
    use_linear: bool('Linear projections', false, TRANSFORMER_HELP.linear),
  },
  view: {
    color: '#a855f7',
    summary: (p) => `${p.n_heads}×${p.d_head}${p.depth > 1 ? ` · depth ${p.depth}` : ''}${p.use_linear ? ' · linear' : ''}`,
  },
  shape: (inputs, p) => transformerShape(inputs, p),
  weights: (inputs, p) => transformerWeights(inputs, p, 'ldm'),
  flops: (inputs, _out, p) => transformerFlops(inputs, p),
  scratch: (inputs, _out, p) => transformerScratch(inputs, p),
  workspace: (inputs, p) => {
    const [, h, w] = chw(inputs.x);
    return [p.n_heads, h * w, Math.max(h * w, inputs.context.dims[0])];
  },
  pytorch: {
    className: 'SpatialTransformer',
    helpers: ['zero_module', 'ldm_transformer'],
    ctorArgs: (inputs, p) => [
      ['in_channels', pyInt(inputs.x.dims[0])],
      ['n_heads', pyInt(p.n_heads)],
      ['d_head', pyInt(p.d_head)],
      ['depth', pyInt(p.depth)],
      ['context_dim', pyInt(inputs.context.dims[1])],
      ['use_linear', pyBool(p.use_linear)],
    ],
    forwardInputs: ['x', 'context'],
    source: `class SpatialTransformer(nn.Module):
    """latent-diffusion's SpatialTransformer (ldm/modules/attention.py, with stablediffusion's
    use_linear): GroupNorm(32, eps 1e-6), proj_in (1x1 conv, or Linear on the tokens), depth x
    BasicTransformerBlock over the h*w tokens with cross-attention to the context, proj_out
    (zero-initialised), plus the input."""

    def __init__(self, in_channels: int, n_heads: int, d_head: int, depth: int, context_dim: int, use_linear: bool) -> None:
        super().__init__()
${pytorchTransformerBody('ldm')}
        zero_module(self.proj_out)

${PYTORCH_TRANSFORMER_FORWARD}`,
  },
  forward: spatialTransformerForward,
});

export interface Transformer2DParams {
  readonly num_attention_heads: number;
  readonly attention_head_dim: number;
  readonly num_layers: number;
  readonly use_linear_projection: boolean;
}

const asLdm = (p: Transformer2DParams): SpatialTransformerParams => ({
  n_heads: p.num_attention_heads,
  d_head: p.attention_head_dim,
  depth: p.num_layers,
  use_linear: p.use_linear_projection,
});

/** diffusers' `Transformer2DModel` forward: the same computation as `SpatialTransformer` under diffusers' parameter names. */
export function transformer2DForward(inputs: KernelInputs, w: WeightGetter, p: Transformer2DParams, trace?: Trace): tf.Tensor {
  return spatialTransformerForward(inputs, w, asLdm(p), trace);
}

export const Transformer2DModel = defineBlock({
  type: 'Transformer2DModel',
  displayName: 'Transformer2DModel (diffusers)',
  category: 'Diffusion',
  description:
    "diffusers' Transformer2DModel (in CrossAttnDownBlock2D, CrossAttnUpBlock2D, UNetMidBlock2DCrossAttn): GroupNorm, proj_in, layers of self-attention, cross-attention to encoder_hidden_states and GEGLU feed-forward, proj_out, plus the input.",
  nameHint: 'attentions',
  inputs: [
    { name: 'x', kind: 'feature', label: 'hidden_states' },
    { name: 'context', kind: 'context', label: 'encoder_hidden_states' },
  ],
  output: { name: 'out', kind: 'feature', label: 'out' },
  params: {
    num_attention_heads: int('Heads', 8, 1, 256),
    attention_head_dim: int('Head size', 64, 1, 4096, 'channels per head; inner dim = heads × head size'),
    num_layers: int('Layers', 1, 1, 64, 'transformer blocks (transformer_layers_per_block)'),
    use_linear_projection: bool('Linear projections', false, TRANSFORMER_HELP.linear),
  },
  view: {
    color: '#a855f7',
    summary: (p) =>
      `${p.num_attention_heads}×${p.attention_head_dim}${p.num_layers > 1 ? ` · ${p.num_layers} layers` : ''}${p.use_linear_projection ? ' · linear' : ''}`,
  },
  shape: (inputs) => transformerShape(inputs),
  weights: (inputs, p) => transformerWeights(inputs, asLdm(p), 'diffusers'),
  flops: (inputs, _out, p) => transformerFlops(inputs, asLdm(p)),
  scratch: (inputs, _out, p) => transformerScratch(inputs, asLdm(p)),
  workspace: (inputs, p) => {
    const [, h, w] = chw(inputs.x);
    return [p.num_attention_heads, h * w, Math.max(h * w, inputs.context.dims[0])];
  },
  pytorch: {
    className: 'Transformer2DModel',
    helpers: ['ldm_transformer'],
    ctorArgs: (inputs, p) => [
      ['in_channels', pyInt(inputs.x.dims[0])],
      ['n_heads', pyInt(p.num_attention_heads)],
      ['d_head', pyInt(p.attention_head_dim)],
      ['depth', pyInt(p.num_layers)],
      ['context_dim', pyInt(inputs.context.dims[1])],
      ['use_linear', pyBool(p.use_linear_projection)],
    ],
    forwardInputs: ['x', 'context'],
    source: `class Transformer2DModel(nn.Module):
    """diffusers' Transformer2DModel for continuous inputs (norm_type "layer_norm", GEGLU), the same
    computation and state_dict keys as latent-diffusion's SpatialTransformer; proj_out keeps
    PyTorch's default initialisation, as in diffusers."""

    def __init__(self, in_channels: int, n_heads: int, d_head: int, depth: int, context_dim: int, use_linear: bool) -> None:
        super().__init__()
${pytorchTransformerBody('diffusers')}

${PYTORCH_TRANSFORMER_FORWARD}`,
  },
  forward: transformer2DForward,
});
