/**
 * Random valid graphs over every block type, with skips, resampling, unused branches and the
 * parameter corners of each block: the one generator behind the tfjs export's property test
 * (codegen/property.test.ts: generated module = interpreter) and the PyTorch export's
 * (test/pytorch/model.test.ts: model.py = interpreter). A recipe is raw numbers that `buildCase`
 * reads modulo whatever the current shape allows, so every recipe is a valid graph; `corners` names
 * the parameter corners a graph reaches and `REQUIRED_CORNERS` lists those a run must reach.
 */
import fc from 'fast-check';
import type { ParamValue } from '../blocks/types';
import type { BlockType } from '../blocks/registry';
import { GraphBuilder } from '../graph/builder';
import type { Analysis } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { expectedWeights } from '../graph/weights';

/** Raw choices; `buildCase` reads them modulo whatever the current shape allows, so every recipe is a valid graph. */
export interface Step {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

/**
 * The embedding chain: OpenAI's sinusoid (`TimestepEmbedding`), diffusers' (`Timesteps`, with
 * `flip`, `shift` and `scale`) or diffusers' learned one (`LearnedTimesteps`, an nn.Embedding of
 * the timesteps), then optionally an MLP, OpenAI's (`TimeEmbedMLP`) or diffusers'
 * (`DiffusersTimestepEmbedding`); the families mix freely.
 */
export interface TembRecipe {
  readonly dim: number;
  readonly maxPeriod: number;
  readonly proj: 'openai' | 'diffusers' | 'learned';
  readonly flip: boolean;
  readonly shift: 0 | 1;
  readonly scale: number;
  readonly mlpDim: number | null;
  readonly diffusersMlp: boolean;
}

export interface ContextRecipe {
  readonly tokens: number;
  readonly dim: number;
}

export interface Recipe {
  readonly channels: 32 | 64;
  readonly size: 8 | 16;
  readonly rgbStem: boolean;
  readonly temb: TembRecipe | null;
  readonly numClasses: number | null;
  /** A Context input (tokens × dim) for the transformers' cross-attention; `null`: the graph has none (and no transformer). */
  readonly context: ContextRecipe | null;
  readonly steps: readonly Step[];
  /** An extra block off an earlier map that does not lead to the Output (a warning, still valid). */
  readonly deadEnd: number | null;
  readonly batch: 1 | 2;
  readonly weightSeed: number;
  readonly dataSeed: number;
}

export interface Case {
  readonly graph: Graph;
  readonly recipe: Recipe;
  readonly numClasses: number;
}

interface Feature {
  readonly id: string;
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

const MAX_C = 128;
const MAX_HW = 32;
/** The timesteps the tests feed are below this (a LearnedTimesteps table has this many rows). */
export const TIMESTEPS = 1000;

const pick = <T>(xs: readonly T[], n: number): T => xs[n % xs.length];

const stepArb: fc.Arbitrary<Step> = fc.record({ kind: fc.nat(), a: fc.nat(), b: fc.nat(), c: fc.nat(), d: fc.nat() });

export const recipeArb: fc.Arbitrary<Recipe> = fc.record({
  channels: fc.constantFrom(32 as const, 64 as const),
  size: fc.constantFrom(8 as const, 16 as const),
  rgbStem: fc.boolean(),
  temb: fc.option(
    fc.record({
      dim: fc.integer({ min: 16, max: 64 }),
      maxPeriod: fc.constantFrom(10000, 1000),
      proj: fc.constantFrom('openai' as const, 'diffusers' as const, 'learned' as const),
      flip: fc.boolean(),
      shift: fc.constantFrom(0 as const, 1 as const),
      scale: fc.constantFrom(1, 1, 0.5),
      mlpDim: fc.option(fc.integer({ min: 32, max: 128 }), { freq: 5 }),
      diffusersMlp: fc.boolean(),
    }),
    { freq: 4 },
  ),
  numClasses: fc.option(fc.integer({ min: 1, max: 10 }), { freq: 2 }),
  context: fc.option(fc.record({ tokens: fc.integer({ min: 1, max: 8 }), dim: fc.integer({ min: 8, max: 48 }) }), { freq: 2 }),
  steps: fc.array(stepArb, { minLength: 2, maxLength: 12 }),
  deadEnd: fc.option(fc.nat(), { freq: 4 }),
  batch: fc.constantFrom(1 as const, 2 as const),
  weightSeed: fc.nat({ max: 1_000_000 }),
  dataSeed: fc.nat({ max: 1_000_000 }),
});

const FEATURE_KINDS = [
  'ResBlock',
  'AttentionBlock',
  'Downsample',
  'Upsample',
  'Conv2d',
  'GroupNorm',
  'SiLU',
  'ReLU',
  'BatchNorm2d',
  'DoubleConv',
  'MaxPool2d',
  'ConvTranspose2d',
  'Concat',
  'Add',
  'ResnetBlock2D',
  'Attention',
  'Downsample2D',
  'Rescale',
  'SpatialTransformer',
  'Transformer2DModel',
] as const satisfies readonly BlockType[];

/** The kinds with the most parameter corners: drawn twice as often. */
const TWICE: ReadonlySet<string> = new Set<BlockType>([
  'ResBlock',
  'AttentionBlock',
  'ResnetBlock2D',
  'Attention',
  'SpatialTransformer',
  'Transformer2DModel',
]);

/** Transformer heads × head size (inner dim = their product), heads 1–4, head size 8/16/32. */
const TRANSFORMER_HEADS = [1, 2, 3, 4].flatMap((heads) => [8, 16, 32].map((size) => [heads, size] as const));

/** Conv2d [kernel, stride, padding] combinations. */
const CONV_CONFIGS = [
  [1, 1, 0],
  [3, 1, 1],
  [3, 2, 1],
  [5, 1, 2],
  [3, 1, 0],
  [2, 2, 0],
  [1, 2, 0],
  [4, 2, 1],
  [3, 1, 2],
] as const;
/** ConvTranspose2d [kernel, stride] combinations. */
const CONVT_CONFIGS = [
  [2, 2],
  [3, 1],
  [1, 1],
  [3, 2],
  [4, 2],
] as const;

const convOut = (n: number, k: number, s: number, p: number) => Math.floor((n + 2 * p - k) / s) + 1;
/** Downsample2D's output side: 2×2 average pool, or the 3×3 stride-2 conv (padding 0 pads right/bottom by one first). */
const down2DSide = (n: number, mode: 'avg' | 0 | 1) => (mode === 'avg' ? Math.floor(n / 2) : mode === 0 ? convOut(n + 1, 3, 2, 0) : convOut(n, 3, 2, 1));
const divisors = (c: number, of: readonly number[]) => of.filter((d) => c % d === 0);

export function buildCase(r: Recipe): Case {
  const b = new GraphBuilder();
  let n = 0;
  const name = (hint: string) => `blocks.${n++}.${hint}`;
  const features: Feature[] = [];
  const push = (f: Feature): Feature => {
    features.push(f);
    return f;
  };

  const inC = r.rgbStem ? 3 : r.channels;
  const x = b.add('ImageInput', 'x', { channels: inC, height: r.size, width: r.size });
  let cur = push({ id: x, c: inC, h: r.size, w: r.size });
  if (r.rgbStem) {
    const id = b.add('Conv2d', name('stem'), { out_channels: r.channels, kernel_size: 3, stride: 1, padding: 1 }, { x });
    cur = push({ id, c: r.channels, h: r.size, w: r.size });
  }

  const ctx = r.context ? b.add('ContextInput', 'context', { tokens: r.context.tokens, dim: r.context.dim }) : null;

  let emb: string | null = null;
  let numClasses = 0;
  if (r.temb) {
    const te = r.temb;
    const t = b.add('TimestepsInput', 'timesteps');
    emb =
      te.proj === 'diffusers'
        ? b.add(
            'Timesteps',
            name('time_proj'),
            { num_channels: te.dim, flip_sin_to_cos: te.flip, downscale_freq_shift: te.shift, scale: te.scale, max_period: te.maxPeriod },
            { x: t },
          )
        : te.proj === 'learned'
          ? // One row per timestep the tests draw (0 … 999).
            b.add('LearnedTimesteps', name('time_proj'), { num_embeddings: TIMESTEPS, num_channels: te.dim }, { x: t })
          : b.add('TimestepEmbedding', name('timestep_embedding'), { dim: te.dim, max_period: te.maxPeriod }, { x: t });
    if (te.mlpDim !== null) {
      emb = te.diffusersMlp
        ? b.add('DiffusersTimestepEmbedding', name('time_embedding'), { dim: te.mlpDim }, { x: emb })
        : b.add('TimeEmbedMLP', name('time_embed'), { dim: te.mlpDim }, { x: emb });
    }
    if (r.numClasses !== null) {
      numClasses = r.numClasses;
      const y = b.add('ClassLabelInput', 'y', { num_classes: r.numClasses });
      emb = b.add('LabelEmbedding', name('label_emb'), {}, { x: emb, y });
    }
  }

  const add = (type: BlockType, params: Record<string, ParamValue>, inputs: Record<string, string>, c: number, h: number, w: number) =>
    (cur = push({ id: b.add(type, name(type.toLowerCase()), params, inputs), c, h, w }));

  for (const s of r.steps) {
    const { c, h, w } = cur;
    const gn32 = c % 32 === 0;
    const concatSkips = (pad: boolean) =>
      features.filter((f) => (pad ? f.h >= h && f.w >= w : f.h === h && f.w === w) && c + f.c <= MAX_C);
    const applicable = FEATURE_KINDS.filter((k) => {
      switch (k) {
        case 'ResBlock':
          return emb !== null && gn32;
        case 'ResnetBlock2D':
          return emb !== null && c % 4 === 0;
        case 'AttentionBlock':
          return gn32 && h * w <= 256;
        case 'Attention':
          return h * w <= 256;
        case 'Downsample2D':
          return h >= 4 && w >= 4;
        case 'Downsample':
          return h % 2 === 0 && w % 2 === 0 && h >= 4 && w >= 4;
        case 'Upsample':
          return h <= 16 && w <= 16 && (h < 16 || c <= 64);
        case 'MaxPool2d':
          return h >= 4 && w >= 4;
        case 'Concat':
          return concatSkips(false).length + concatSkips(true).length > 0;
        case 'SpatialTransformer':
        case 'Transformer2DModel':
          return ctx !== null && gn32 && h * w <= 256;
        default:
          return true;
      }
    });
    const kind = pick([...applicable, ...applicable.filter((k) => TWICE.has(k))], s.kind);
    switch (kind) {
      case 'ResBlock': {
        const resample = pick(
          ['none', ...(h % 2 === 0 && w % 2 === 0 && h >= 4 ? ['down'] : []), ...(h <= 16 ? ['up'] : [])],
          s.b,
        );
        const f = resample === 'down' ? 0.5 : resample === 'up' ? 2 : 1;
        const out = pick([c, 32, 64, 96, 128].filter((o) => f * h < 32 || o <= 64), s.a);
        add(
          'ResBlock',
          {
            out_channels: out,
            use_scale_shift_norm: (s.c & 1) === 1,
            skip_conv: (s.c & 2) === 2 ? '3x3' : '1x1',
            resample,
            dropout: (s.c & 4) === 4 ? 0.1 : 0,
          },
          { x: cur.id, emb: emb! },
          out,
          h * f,
          w * f,
        );
        break;
      }
      case 'AttentionBlock': {
        const mode = s.a % 3;
        const params: Record<string, ParamValue> = { use_new_attention_order: (s.c & 1) === 1 };
        if (mode === 0) params.num_heads = pick(divisors(c, [1, 2, 4, 8, 16, 32]), s.b);
        if (mode === 1) {
          params.num_head_channels = pick(divisors(c, [8, 16, 32, 64]), s.b);
          params.num_heads = pick([1, 4], s.d);
        }
        add('AttentionBlock', params, { x: cur.id }, c, h, w);
        break;
      }
      case 'ResnetBlock2D': {
        const groups = pick(divisors(c, [32, 16, 8, 4]), s.d);
        const resample = pick(['none', ...(h >= 4 && w >= 4 ? ['down'] : []), ...(h <= 16 && w <= 16 ? ['up'] : [])], s.b);
        const [oh, ow] = resample === 'down' ? [Math.floor(h / 2), Math.floor(w / 2)] : resample === 'up' ? [2 * h, 2 * w] : [h, w];
        const out = pick([c, 32, 64, 16, 48, 96, 128].filter((o) => o % groups === 0 && (oh < 32 || o <= 64)), s.a);
        add(
          'ResnetBlock2D',
          {
            out_channels: out,
            groups,
            eps: pick([1e-6, 1e-5], s.d >> 2),
            time_embedding_norm: (s.c & 1) === 1 ? 'scale_shift' : 'default',
            output_scale_factor: (s.c & 2) === 2 ? pick([2, Math.SQRT2], s.d >> 3) : 1,
            resample,
            skip_time_act: (s.c & 4) === 4,
            dropout: (s.c & 8) === 8 ? 0.1 : 0,
            act_fn: (s.c & 16) === 16 ? 'mish' : 'silu',
          },
          { x: cur.id, emb: emb! },
          out,
          oh,
          ow,
        );
        break;
      }
      case 'Attention': {
        const normGroups = divisors(c, [32, 16, 8, 4, 2]);
        const groupNorm = (s.c & 1) === 1 && normGroups.length > 0;
        // 0: one head of all channels; a divisor of the channels; or a head size that does not divide them (heads = c // size).
        const sizes = [[0], divisors(c, [8, 16, 32]), [8, 16, 24, 32, 48].filter((d) => d < c && c % d !== 0)][s.a % 3];
        add(
          'Attention',
          {
            attention_head_dim: sizes.length > 0 ? pick(sizes, s.b) : 0,
            group_norm: groupNorm,
            ...(groupNorm ? { norm_groups: pick(normGroups, s.d) } : {}),
            eps: pick([1e-5, 1e-6], s.d >> 3),
            residual_connection: (s.c & 2) === 0,
            rescale_output_factor: (s.c & 4) === 4 ? pick([2, Math.SQRT2], s.d >> 4) : 1,
          },
          { x: cur.id },
          c,
          h,
          w,
        );
        break;
      }
      case 'SpatialTransformer':
      case 'Transformer2DModel': {
        // ldm's SpatialTransformer with use_linear builds proj_out as Linear(in_channels, inner_dim)
        // (stablediffusion's ldm/modules/attention.py), which only works when the inner dim equals the
        // channels; its 1×1 conv projections and diffusers' Linear(inner_dim, in_channels) take any.
        const same = TRANSFORMER_HEADS.filter(([heads, size]) => heads * size === c);
        const linearProj = (s.c & 1) === 1 && (kind === 'Transformer2DModel' || same.length > 0);
        const [heads, size] = kind === 'SpatialTransformer' && linearProj ? pick(same, s.a) : pick(TRANSFORMER_HEADS, s.a);
        const depth = 1 + ((s.c >> 1) & 1);
        const params: Record<string, ParamValue> =
          kind === 'SpatialTransformer'
            ? { n_heads: heads, d_head: size, depth, use_linear: linearProj }
            : { num_attention_heads: heads, attention_head_dim: size, num_layers: depth, use_linear_projection: linearProj };
        add(kind, params, { x: cur.id, context: ctx! }, c, h, w);
        break;
      }
      case 'Downsample2D': {
        const mode = pick(['avg', 0, 1] as const, s.a);
        add('Downsample2D', { use_conv: mode !== 'avg', padding: mode === 'avg' ? 1 : mode }, { x: cur.id }, c, down2DSide(h, mode), down2DSide(w, mode));
        break;
      }
      case 'Downsample':
        add('Downsample', { use_conv: (s.a & 1) === 1 }, { x: cur.id }, c, h / 2, w / 2);
        break;
      case 'Upsample':
        add('Upsample', { use_conv: (s.a & 1) === 1 }, { x: cur.id }, c, h * 2, w * 2);
        break;
      case 'Conv2d': {
        const fits = CONV_CONFIGS.filter(([k, st, p]) => {
          const o = convOut(h, k, st, p);
          return o >= 2 && o <= MAX_HW && convOut(w, k, st, p) >= 2;
        });
        const [k, st, p] = pick(fits, s.b);
        const out = pick([32, 64, 16, 48, 32, 96], s.a);
        add(
          'Conv2d',
          { out_channels: out, kernel_size: k, stride: st, padding: p, bias: (s.c & 1) === 0, zero_init: s.d % 6 === 0 },
          { x: cur.id },
          out,
          convOut(h, k, st, p),
          convOut(w, k, st, p),
        );
        break;
      }
      case 'GroupNorm':
        add('GroupNorm', { groups: pick(divisors(c, [32, 16, 8, 4, 2, 1]), s.a), eps: pick([1e-5, 1e-6, 1e-3], s.b) }, { x: cur.id }, c, h, w);
        break;
      case 'SiLU':
      case 'ReLU':
        add(kind, {}, { x: cur.id }, c, h, w);
        break;
      case 'Rescale':
        // The default is center_input_sample's 2·x − 1.
        add('Rescale', { scale: pick([2, 0.5, -1.5], s.a), shift: pick([-1, 0.25, 0], s.b) }, { x: cur.id }, c, h, w);
        break;
      case 'BatchNorm2d':
        add('BatchNorm2d', { eps: pick([1e-5, 1e-3], s.a) }, { x: cur.id }, c, h, w);
        break;
      case 'DoubleConv': {
        const out = pick([32, 64, 16, 32], s.a);
        add('DoubleConv', { out_channels: out, mid_channels: pick([0, 0, 16, 32, 48], s.b) }, { x: cur.id }, out, h, w);
        break;
      }
      case 'MaxPool2d': {
        const k = pick([2, 3, 2].filter((kk) => Math.floor(h / kk) >= 2 && Math.floor(w / kk) >= 2), s.a);
        add('MaxPool2d', { kernel_size: k }, { x: cur.id }, c, Math.floor(h / k), Math.floor(w / k));
        break;
      }
      case 'ConvTranspose2d': {
        const fits = CONVT_CONFIGS.filter(([k, st]) => (h - 1) * st + k <= MAX_HW);
        const [k, st] = pick(fits, s.b);
        const out = pick([32, 64, 16], s.a);
        const size = (v: number) => (v - 1) * st + k;
        add('ConvTranspose2d', { out_channels: out, kernel_size: k, stride: st, bias: (s.c & 1) === 0 }, { x: cur.id }, out, size(h), size(w));
        break;
      }
      case 'Concat': {
        const padded = concatSkips(true).filter((f) => f.h > h || f.w > w);
        const pad = padded.length > 0 && ((s.b & 1) === 1 || concatSkips(false).length === 0);
        const skip = pick(pad ? padded : concatSkips(false), s.a);
        add(
          'Concat',
          { order: (s.c & 1) === 1 ? 'skip_first' : 'x_first', pad_to_match: pad || (s.d & 1) === 1 },
          { x: cur.id, skip: skip.id },
          c + skip.c,
          skip.h,
          skip.w,
        );
        break;
      }
      case 'Add': {
        const other = pick(
          features.filter((f) => f.c === c && f.h === h && f.w === w),
          s.a,
        );
        const [a, bb] = (s.b & 1) === 1 ? [other.id, cur.id] : [cur.id, other.id];
        add('Add', {}, { a, b: bb }, c, h, w);
        break;
      }
    }
  }

  const out = cur;
  if (r.deadEnd !== null) {
    const from = pick(features, r.deadEnd);
    if ((r.deadEnd & 1) === 1) b.add('SiLU', name('unused'), {}, { x: from.id });
    else b.add('Conv2d', name('unused'), { out_channels: 8, kernel_size: 1, padding: 0 }, { x: from.id });
  }
  b.add('Output', 'output', {}, { x: out.id });
  return { graph: b.build(`random-${r.steps.length}-steps`), recipe: r, numClasses };
}


/** The timesteps a test feeds a recipe's graph (below `TIMESTEPS`, one per sample). */
export const timestepValues = (r: Recipe): number[] => Array.from({ length: r.batch }, (_, i) => (r.dataSeed * 7 + i * 389) % TIMESTEPS);

/** The class labels a test feeds (below `numClasses`; 0 when the graph takes none). */
export const labelValues = (c: Case): number[] => Array.from({ length: c.recipe.batch }, (_, i) => (c.recipe.dataSeed + i) % Math.max(c.numClasses, 1));

/** The shape of the context a test feeds, `[batch, tokens, dim]` (PyTorch's and tfjs's layout alike), or `null` when the graph has no Context input. */
export const contextShape = (r: Recipe): [number, number, number] | null => (r.context ? [r.batch, r.context.tokens, r.context.dim] : null);

/** The parameter corners a graph exercises, by name (a run checks them against `REQUIRED_CORNERS`, with the block types). */
export function corners(graph: Graph, a: Analysis, batch: number): string[] {
  const tags: string[] = [`batch ${batch}`];
  if (a.problems.some((p) => p.code === 'unused')) tags.push('unused block');
  if (expectedWeights(a).length === 0) tags.push('no weights');
  for (const node of graph.nodes) {
    const inf = a.info.get(node.id)!;
    const p = inf.params;
    const inShape = (port: string) => inf.inputs[port].shape!.dims;
    switch (node.type) {
      case 'ResBlock':
        tags.push(`ResBlock resample ${String(p.resample)}`);
        if (p.use_scale_shift_norm) tags.push('ResBlock scale-shift');
        if (inShape('x')[0] !== p.out_channels) tags.push(`ResBlock ${String(p.skip_conv)} skip`);
        break;
      case 'AttentionBlock':
        tags.push(p.num_head_channels === -1 ? `AttentionBlock ${Number(p.num_heads) > 1 ? 'several heads' : 'one head'}` : 'AttentionBlock channels per head');
        if (p.use_new_attention_order) tags.push('AttentionBlock new order');
        break;
      case 'Downsample':
      case 'Upsample':
        tags.push(`${node.type} ${p.use_conv ? 'conv' : 'no conv'}`);
        break;
      case 'Conv2d':
        tags.push(`Conv2d stride ${String(p.stride)}`);
        if (Number(p.padding) === 0 && Number(p.kernel_size) > 1) tags.push('Conv2d unpadded');
        if (p.zero_init) tags.push('Conv2d zero_init');
        if (!p.bias) tags.push('Conv2d no bias');
        break;
      case 'Concat': {
        tags.push(`Concat ${String(p.order)}`);
        if (inShape('x')[1] < inShape('skip')[1]) tags.push('Concat padded');
        break;
      }
      case 'TimestepEmbedding':
        if (Number(p.dim) % 2 === 1) tags.push('TimestepEmbedding odd dim');
        break;
      case 'Timesteps':
        tags.push(`Timesteps ${p.flip_sin_to_cos ? 'cos|sin' : 'sin|cos'}`, `Timesteps shift ${String(p.downscale_freq_shift)}`);
        if (Number(p.num_channels) % 2 === 1) tags.push('Timesteps odd dim');
        if (p.scale !== 1) tags.push('Timesteps scale');
        break;
      case 'ResnetBlock2D': {
        const [c, h] = inShape('x');
        tags.push(`ResnetBlock2D resample ${String(p.resample)}`);
        if (p.resample === 'down' && h % 2 === 1) tags.push('ResnetBlock2D down from odd size');
        if (p.time_embedding_norm === 'scale_shift') tags.push('ResnetBlock2D scale_shift');
        if (p.output_scale_factor !== 1) tags.push('ResnetBlock2D output_scale_factor');
        if (c !== p.out_channels) tags.push('ResnetBlock2D conv_shortcut');
        if (p.skip_time_act) tags.push('ResnetBlock2D skip_time_act');
        if (p.groups !== 32) tags.push('ResnetBlock2D groups < 32');
        tags.push(`ResnetBlock2D ${String(p.act_fn)}`);
        break;
      }
      case 'Attention': {
        const c = inShape('x')[0];
        const dh = Number(p.attention_head_dim);
        tags.push(dh === 0 ? 'Attention one head' : c % dh === 0 ? 'Attention head size divides channels' : 'Attention head size does not divide channels');
        if (dh > 0 && Math.floor(c / dh) > 1) tags.push('Attention several heads');
        tags.push(`Attention ${p.group_norm ? 'group_norm' : 'no group_norm'}`, `Attention ${p.residual_connection ? 'residual' : 'no residual'}`);
        if (p.rescale_output_factor !== 1) tags.push('Attention rescale_output_factor');
        break;
      }
      case 'LearnedTimesteps':
        tags.push('LearnedTimesteps');
        break;
      case 'Rescale':
        tags.push(p.scale === 2 && p.shift === -1 ? 'Rescale default' : 'Rescale non-default');
        break;
      case 'SpatialTransformer':
      case 'Transformer2DModel': {
        const ldm = node.type === 'SpatialTransformer';
        const heads = Number(ldm ? p.n_heads : p.num_attention_heads);
        const inner = heads * Number(ldm ? p.d_head : p.attention_head_dim);
        tags.push(`${node.type} ${(ldm ? p.use_linear : p.use_linear_projection) ? 'linear' : 'conv'}`);
        if (Number(ldm ? p.depth : p.num_layers) > 1) tags.push(ldm ? 'SpatialTransformer depth 2' : 'Transformer2DModel num_layers 2');
        if (heads > 1) tags.push(`${node.type} several heads`);
        if (inner !== inShape('x')[0]) tags.push('transformer inner ≠ channels');
        break;
      }
      case 'Downsample2D':
        tags.push(p.use_conv ? `Downsample2D padding ${String(p.padding)}` : 'Downsample2D avg');
        if (inShape('x')[1] % 2 === 1 || inShape('x')[2] % 2 === 1) tags.push('Downsample2D odd size');
        break;
    }
  }
  return tags;
}

/** What a run of the property tests must reach besides every block type. */
export const REQUIRED_CORNERS: readonly string[] = [
  'batch 1',
  'batch 2',
  'unused block',
  'ResBlock resample none',
  'ResBlock resample up',
  'ResBlock resample down',
  'ResBlock scale-shift',
  'ResBlock 1x1 skip',
  'ResBlock 3x3 skip',
  'AttentionBlock one head',
  'AttentionBlock several heads',
  'AttentionBlock channels per head',
  'AttentionBlock new order',
  'Downsample conv',
  'Downsample no conv',
  'Upsample conv',
  'Upsample no conv',
  'Conv2d stride 1',
  'Conv2d stride 2',
  'Conv2d unpadded',
  'Conv2d zero_init',
  'Conv2d no bias',
  'Concat x_first',
  'Concat skip_first',
  'Concat padded',
  'TimestepEmbedding odd dim',
  'Timesteps cos|sin',
  'Timesteps sin|cos',
  'Timesteps shift 0',
  'Timesteps shift 1',
  'ResnetBlock2D resample none',
  'ResnetBlock2D resample up',
  'ResnetBlock2D resample down',
  'ResnetBlock2D scale_shift',
  'ResnetBlock2D output_scale_factor',
  'ResnetBlock2D conv_shortcut',
  'ResnetBlock2D skip_time_act',
  'ResnetBlock2D silu',
  'ResnetBlock2D mish',
  'Attention one head',
  'Attention head size divides channels',
  'Attention head size does not divide channels',
  'Attention several heads',
  'Attention group_norm',
  'Attention no group_norm',
  'Attention residual',
  'Attention no residual',
  'Attention rescale_output_factor',
  'Downsample2D avg',
  'Downsample2D padding 0',
  'Downsample2D padding 1',
  'LearnedTimesteps',
  'Rescale non-default',
  'SpatialTransformer linear',
  'SpatialTransformer conv',
  'SpatialTransformer depth 2',
  'SpatialTransformer several heads',
  'Transformer2DModel linear',
  'Transformer2DModel conv',
  'Transformer2DModel num_layers 2',
  'Transformer2DModel several heads',
  'transformer inner ≠ channels',
];
