/**
 * Templates: a graph with exactly PyTorch's module tree and names, from constructor kwargs.
 * - `iddpm`: `UNetModel` of openai/improved-diffusion and openai/guided-diffusion (the union of
 *   their kwargs; guided-diffusion's defaults where a key is missing).
 * - `vanilla`: milesial/Pytorch-UNet `UNet(n_channels, n_classes, bilinear=False)`, widths configurable.
 */
import { z } from 'zod';
import type { Graph } from './model';
import { GraphBuilder } from './builder';
import { blockDef, type BlockType } from '../blocks/registry';

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** The upper bound a block declares for an integer parameter (one source for the limits below). */
function blockLimit(type: BlockType, param: string): number {
  const spec = blockDef(type).params[param];
  if (spec?.type !== 'int') throw new Error(`templates: ${type}.${param} is not an integer parameter`);
  return spec.max;
}

/**
 * Every kwarg is bounded, with a message naming the limit: generous enough for every published
 * improved/guided-diffusion config (and far beyond), small enough that any accepted config gives a
 * graph of a few thousand blocks at most that builds, serialises and checks in well under a second.
 */
export const TEMPLATE_LIMITS = {
  /** Image side in pixels (height and width): the Image input block's limit. */
  image_size: blockLimit('ImageInput', 'height'),
  /** in_channels, out_channels, n_channels, n_classes */
  io_channels: blockLimit('ImageInput', 'channels'),
  /** model_channels, and every level's width (model_channels × channel_mult[i], widths[i]): a conv's limit. */
  channels: blockLimit('Conv2d', 'out_channels'),
  /** Published configs use 2–3. */
  num_res_blocks: 32,
  /** Entries of channel_mult (published: up to 7) and widths. */
  levels: 16,
  channel_mult: 64,
  /** Entries of attention_resolutions, each a downsampling factor. */
  attention_resolutions: 16,
  attention_resolution: 65536,
  num_classes: blockLimit('ClassLabelInput', 'num_classes'),
  num_heads: blockLimit('AttentionBlock', 'num_heads'),
  num_head_channels: blockLimit('AttentionBlock', 'num_head_channels'),
} as const;
const L = TEMPLATE_LIMITS;

/** An integer in [min, max] whose messages name the limit. */
const numberError = (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : `must be a number, got ${typeof iss.input === 'string' ? JSON.stringify(iss.input.slice(0, 40)) : Array.isArray(iss.input) ? 'a list' : String(iss.input).slice(0, 40)}`);
const int = (min: number, max: number, hint = '') =>
  z
    .number({ error: numberError })
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}${hint}` });
/** -1 (unset) or an integer in [1, max]. */
const minusOneOr = (max: number) =>
  z
    .number({ error: numberError })
    .int({ error: `must be -1 or a whole number from 1 to ${max}` })
    .refine((n) => n === -1 || (n >= 1 && n <= max), { error: `must be -1 or a whole number from 1 to ${max}` });
const list = <T extends z.ZodType>(item: T, maxLen: number) => z.array(item).max(maxLen, { error: `must have at most ${maxLen} entries` });

const attentionResolutions = z.union([
  list(int(1, L.attention_resolution), L.attention_resolutions),
  int(1, L.attention_resolution).transform((n) => [n]),
]);

/** UNetModel's constructor kwargs (improved-diffusion ∪ guided-diffusion). */
export const IddpmKwargs = z
  .object({
    image_size: int(1, L.image_size).optional(),
    in_channels: int(1, L.io_channels),
    model_channels: int(1, L.channels),
    out_channels: int(1, L.io_channels),
    num_res_blocks: int(0, L.num_res_blocks, ' (published configs use 2 or 3)'),
    attention_resolutions: attentionResolutions,
    dropout: z.number({ error: numberError }).min(0, { error: 'must be at least 0' }).max(1, { error: 'must be at most 1' }).default(0),
    channel_mult: list(
      z.number({ error: numberError }).positive({ error: 'must be greater than 0' }).max(L.channel_mult, { error: `must be at most ${L.channel_mult}` }),
      L.levels,
    )
      .nonempty({ error: 'must have at least one entry' })
      .default([1, 2, 4, 8]),
    conv_resample: z.boolean().default(true),
    dims: z.literal(2, { error: 'only dims = 2 (images) is supported' }).default(2),
    num_classes: int(1, L.num_classes).nullable().default(null),
    use_checkpoint: z.boolean().default(false),
    use_fp16: z.boolean().default(false),
    num_heads: int(1, L.num_heads).default(1),
    num_head_channels: minusOneOr(L.num_head_channels).default(-1),
    num_heads_upsample: minusOneOr(L.num_heads).default(-1),
    use_scale_shift_norm: z.boolean().default(false),
    resblock_updown: z.boolean().default(false),
    use_new_attention_order: z.boolean().default(false),
  })
  .strict()
  .superRefine((k, ctx) => {
    // PyTorch makes int(mult * model_channels) channels per level: each must be 1 … the limit.
    // (Checked once model_channels and the list themselves are within their limits.)
    const mc = k.model_channels;
    if (!Array.isArray(k.channel_mult) || k.channel_mult.length > L.levels || !Number.isInteger(mc) || mc < 1 || mc > L.channels) return;
    k.channel_mult.forEach((mult, i) => {
      const ch = Math.trunc(mult * k.model_channels);
      if (ch < 1 || ch > L.channels) {
        ctx.addIssue({
          code: 'custom',
          path: ['channel_mult', i],
          message: `model_channels × channel_mult[${i}] = ${k.model_channels} × ${mult} gives ${ch} channels; it must be 1 to ${L.channels}`,
        });
      }
    });
  });
export type IddpmKwargs = z.input<typeof IddpmKwargs>;

export const VanillaKwargs = z
  .object({
    image_size: int(1, L.image_size).optional(),
    n_channels: int(1, L.io_channels),
    n_classes: int(1, L.io_channels),
    widths: list(int(1, L.channels), L.levels).min(1, { error: 'must have at least one entry' }).default([64, 128, 256, 512, 1024]),
    bilinear: z.literal(false, { error: 'only bilinear = false (transposed-conv upsampling) is supported' }).default(false),
  })
  .strict();
export type VanillaKwargs = z.input<typeof VanillaKwargs>;

/** `kwargs` may be bare or under a `kwargs` key (as in the fixtures' config.json, which also give `image_size`). */
export function unwrapConfig(config: unknown): { kwargs: unknown; imageSize?: number } {
  if (config !== null && typeof config === 'object' && 'kwargs' in config) {
    const c = config as { kwargs: unknown; image_size?: unknown };
    return typeof c.image_size === 'number' ? { kwargs: c.kwargs, imageSize: c.image_size } : { kwargs: c.kwargs };
  }
  return { kwargs: config };
}

/** One message per problem; a union (a list or one number) reports the branch the value was meant for. */
function issueLines(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[], out: string[]): void {
  for (const i of issues) {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_union' && i.errors.length > 0) {
      // Branches that failed on more than the value's type say what is wrong with it.
      const meant = i.errors.find((b) => b.some((x) => x.code !== 'invalid_type' || x.path.length > 0));
      if (meant) {
        issueLines(meant, path, out);
        continue;
      }
    }
    out.push(`  ${path.length > 0 ? path.map(String).join('.') : '(root)'}: ${i.code === 'invalid_union' ? 'must be a list of whole numbers, or one whole number' : i.message}`);
  }
}

const MAX_ISSUE_LINES = 20;

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const lines: string[] = [];
  issueLines(r.error.issues, [], lines);
  const shown = lines.slice(0, MAX_ISSUE_LINES);
  if (lines.length > MAX_ISSUE_LINES) shown.push(`  … and ${lines.length - MAX_ISSUE_LINES} more`);
  throw new TemplateError(`${what} kwargs are invalid:\n${shown.join('\n')}`);
}

export type ImageSize = number | { readonly height: number; readonly width: number };
/** Height and width, each a whole number from 1 to {@link TEMPLATE_LIMITS}.image_size (a TemplateError otherwise). */
function hw(s: ImageSize, what: string): { height: number; width: number } {
  const { height, width } = typeof s === 'number' ? { height: s, width: s } : s;
  for (const [side, v] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > L.image_size) {
      throw new TemplateError(`${what}: image ${side} must be a whole number from 1 to ${L.image_size}, got ${String(v).slice(0, 40)}`);
    }
  }
  return { height, width };
}

/** The exact module tree of `UNetModel(**kwargs)` for `imageSize`² inputs. */
export function iddpm(kwargsIn: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(IddpmKwargs, kwargsIn, 'UNetModel');
  const size = imageSize ?? k.image_size;
  if (size === undefined) throw new TemplateError('UNetModel: image size missing: pass it (--image-size) or put image_size in the kwargs');
  const { height, width } = hw(size, 'UNetModel');
  const mc = k.model_channels;
  const ted = mc * 4;
  const headsUp = k.num_heads_upsample === -1 ? k.num_heads : k.num_heads_upsample;
  const b = new GraphBuilder();

  const x = b.add('ImageInput', 'x', { channels: k.in_channels, height, width });
  const t = b.add('TimestepsInput', 'timesteps');
  const sin = b.add('TimestepEmbedding', 'timestep_embedding', { dim: mc }, { x: t });
  let emb = b.add('TimeEmbedMLP', 'time_embed', { dim: ted }, { x: sin });
  if (k.num_classes !== null) {
    const y = b.add('ClassLabelInput', 'y', { num_classes: k.num_classes });
    emb = b.add('LabelEmbedding', 'label_emb', {}, { x: emb, y });
  }

  const res = (name: string, h: string, out: number, resample: 'none' | 'up' | 'down' = 'none') =>
    b.add('ResBlock', name, { out_channels: out, use_scale_shift_norm: k.use_scale_shift_norm, resample, dropout: k.dropout }, { x: h, emb });
  const attn = (name: string, h: string, heads: number) =>
    b.add('AttentionBlock', name, { num_heads: heads, num_head_channels: k.num_head_channels, use_new_attention_order: k.use_new_attention_order }, { x: h });

  let ch = Math.trunc(k.channel_mult[0] * mc);
  let h = b.add('Conv2d', 'input_blocks.0.0', { out_channels: ch, kernel_size: 3, stride: 1, padding: 1, bias: true }, { x });
  const skips: string[] = [h];
  let ds = 1;
  let block = 1;
  k.channel_mult.forEach((mult, level) => {
    for (let r = 0; r < k.num_res_blocks; r++) {
      ch = Math.trunc(mult * mc);
      h = res(`input_blocks.${block}.0`, h, ch);
      if (k.attention_resolutions.includes(ds)) h = attn(`input_blocks.${block}.1`, h, k.num_heads);
      skips.push(h);
      block++;
    }
    if (level !== k.channel_mult.length - 1) {
      h = k.resblock_updown
        ? res(`input_blocks.${block}.0`, h, ch, 'down')
        : b.add('Downsample', `input_blocks.${block}.0`, { use_conv: k.conv_resample }, { x: h });
      skips.push(h);
      block++;
      ds *= 2;
    }
  });

  h = res('middle_block.0', h, ch);
  h = attn('middle_block.1', h, k.num_heads);
  h = res('middle_block.2', h, ch);

  block = 0;
  [...k.channel_mult.entries()].reverse().forEach(([level, mult]) => {
    for (let i = 0; i <= k.num_res_blocks; i++) {
      const skip = skips.pop()!;
      const cat = b.add('Concat', `output_blocks.${block}.cat`, { order: 'x_first' }, { x: h, skip });
      ch = Math.trunc(mc * mult);
      h = res(`output_blocks.${block}.0`, cat, ch);
      let sub = 1;
      if (k.attention_resolutions.includes(ds)) h = attn(`output_blocks.${block}.${sub++}`, h, headsUp);
      if (level > 0 && i === k.num_res_blocks) {
        const name = `output_blocks.${block}.${sub}`;
        h = k.resblock_updown ? res(name, h, ch, 'up') : b.add('Upsample', name, { use_conv: k.conv_resample }, { x: h });
        ds /= 2;
      }
      block++;
    }
  });

  h = b.add('GroupNorm', 'out.0', { groups: 32, eps: 1e-5 }, { x: h });
  h = b.add('SiLU', 'out.1', {}, { x: h });
  h = b.add('Conv2d', 'out.2', { out_channels: k.out_channels, kernel_size: 3, stride: 1, padding: 1, bias: true, zero_init: true }, { x: h });
  b.add('Output', 'output', {}, { x: h });
  const desc = `UNetModel(model_channels=${mc}, channel_mult=(${k.channel_mult.join(', ')}), num_res_blocks=${k.num_res_blocks}, attention_resolutions=(${k.attention_resolutions.join(', ')}))`;
  return b.build(`iddpm-${mc}ch-${height}x${width}`, desc);
}

/** milesial/Pytorch-UNet `UNet(n_channels, n_classes, bilinear=False)` with the given widths. */
export function vanilla(kwargsIn: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(VanillaKwargs, kwargsIn, 'UNet');
  const size = imageSize ?? k.image_size ?? 256;
  const { height, width } = hw(size, 'UNet');
  const b = new GraphBuilder();
  const widths = k.widths;
  const x = b.add('ImageInput', 'x', { channels: k.n_channels, height, width });
  let h = b.add('DoubleConv', 'inc', { out_channels: widths[0] }, { x });
  const skips = [h];
  for (let i = 1; i < widths.length; i++) {
    const pool = b.add('MaxPool2d', `down${i}.maxpool_conv.0`, { kernel_size: 2 }, { x: h });
    h = b.add('DoubleConv', `down${i}.maxpool_conv.1`, { out_channels: widths[i] }, { x: pool });
    skips.push(h);
  }
  skips.pop();
  for (let i = 1; i < widths.length; i++) {
    const inC = widths[widths.length - i];
    const outC = widths[widths.length - i - 1];
    const up = b.add('ConvTranspose2d', `up${i}.up`, { out_channels: Math.floor(inC / 2), kernel_size: 2, stride: 2, bias: true }, { x: h });
    const cat = b.add('Concat', `up${i}.cat`, { order: 'skip_first', pad_to_match: true }, { x: up, skip: skips.pop()! });
    h = b.add('DoubleConv', `up${i}.conv`, { out_channels: outC }, { x: cat });
  }
  h = b.add('Conv2d', 'outc.conv', { out_channels: k.n_classes, kernel_size: 1, stride: 1, padding: 0, bias: true }, { x: h });
  b.add('Output', 'output', {}, { x: h });
  return b.build(`unet-${widths.join('-')}`, `milesial UNet(n_channels=${k.n_channels}, n_classes=${k.n_classes}, bilinear=False)`);
}
