/**
 * Random valid graphs over every block type, for the PyTorch export's property test: a copy of the
 * generator in codegen/property.test.ts (a test file cannot be imported without running its suite).
 */
import fc from 'fast-check';
import type { ParamValue } from '../../blocks/types';
import type { BlockType } from '../../blocks/registry';
import { GraphBuilder } from '../../graph/builder';
import type { Graph } from '../../graph/model';

/** Raw choices; `buildCase` reads them modulo whatever the current shape allows, so every recipe is a valid graph. */
interface Step {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

export interface Recipe {
  readonly channels: 32 | 64;
  readonly size: 8 | 16;
  readonly rgbStem: boolean;
  readonly temb: { readonly dim: number; readonly maxPeriod: number; readonly mlpDim: number | null } | null;
  readonly numClasses: number | null;
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
      mlpDim: fc.option(fc.integer({ min: 32, max: 128 }), { freq: 5 }),
    }),
    { freq: 4 },
  ),
  numClasses: fc.option(fc.integer({ min: 1, max: 10 }), { freq: 2 }),
  steps: fc.array(stepArb, { minLength: 2, maxLength: 8 }),
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
] as const satisfies readonly BlockType[];

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

  let emb: string | null = null;
  let numClasses = 0;
  if (r.temb) {
    const t = b.add('TimestepsInput', 'timesteps');
    emb = b.add('TimestepEmbedding', name('timestep_embedding'), { dim: r.temb.dim, max_period: r.temb.maxPeriod }, { x: t });
    if (r.temb.mlpDim !== null) emb = b.add('TimeEmbedMLP', name('time_embed'), { dim: r.temb.mlpDim }, { x: emb });
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
        case 'AttentionBlock':
          return gn32 && h * w <= 256;
        case 'Downsample':
          return h % 2 === 0 && w % 2 === 0 && h >= 4 && w >= 4;
        case 'Upsample':
          return h <= 16 && w <= 16 && (h < 16 || c <= 64);
        case 'MaxPool2d':
          return h >= 4 && w >= 4;
        case 'Concat':
          return concatSkips(false).length + concatSkips(true).length > 0;
        default:
          return true;
      }
    });
    // The diffusion blocks have the most parameter corners: they are drawn twice as often.
    const kind = pick([...applicable, ...applicable.filter((k) => k === 'ResBlock' || k === 'AttentionBlock')], s.kind);
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

