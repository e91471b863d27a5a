/**
 * Templates: a graph with exactly PyTorch's module tree and names, from constructor kwargs.
 * - `iddpm`: `UNetModel` of openai/improved-diffusion and openai/guided-diffusion (the union of
 *   their kwargs; guided-diffusion's defaults where a key is missing).
 * - `vanilla`: milesial/Pytorch-UNet `UNet(n_channels, n_classes, bilinear=False)`, widths configurable.
 */
import { z } from 'zod';
import type { Graph } from './model';
import { GraphBuilder } from './builder';

export class TemplateError extends Error {
  override name = 'TemplateError';
}

const intList = z.array(z.number().int().positive());

/** UNetModel's constructor kwargs (improved-diffusion ∪ guided-diffusion). */
export const IddpmKwargs = z
  .object({
    image_size: z.number().int().positive().optional(),
    in_channels: z.number().int().positive(),
    model_channels: z.number().int().positive(),
    out_channels: z.number().int().positive(),
    num_res_blocks: z.number().int().nonnegative(),
    attention_resolutions: z.union([intList, z.number().int().positive().transform((n) => [n])]),
    dropout: z.number().min(0).max(1).default(0),
    channel_mult: z.array(z.number().positive()).nonempty().default([1, 2, 4, 8]),
    conv_resample: z.boolean().default(true),
    dims: z.literal(2, { error: 'only dims = 2 (images) is supported' }).default(2),
    num_classes: z.number().int().positive().nullable().default(null),
    use_checkpoint: z.boolean().default(false),
    use_fp16: z.boolean().default(false),
    num_heads: z.number().int().positive().default(1),
    num_head_channels: z.number().int().refine((n) => n === -1 || n > 0, 'must be -1 or positive').default(-1),
    num_heads_upsample: z.number().int().refine((n) => n === -1 || n > 0, 'must be -1 or positive').default(-1),
    use_scale_shift_norm: z.boolean().default(false),
    resblock_updown: z.boolean().default(false),
    use_new_attention_order: z.boolean().default(false),
  })
  .strict();
export type IddpmKwargs = z.input<typeof IddpmKwargs>;

export const VanillaKwargs = z
  .object({
    image_size: z.number().int().positive().optional(),
    n_channels: z.number().int().positive(),
    n_classes: z.number().int().positive(),
    widths: intList.min(1).default([64, 128, 256, 512, 1024]),
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

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new TemplateError(`${what} kwargs are invalid:\n${lines.join('\n')}`);
}

export type ImageSize = number | { readonly height: number; readonly width: number };
const hw = (s: ImageSize) => (typeof s === 'number' ? { height: s, width: s } : s);

/** The exact module tree of `UNetModel(**kwargs)` for `imageSize`² inputs. */
export function iddpm(kwargsIn: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(IddpmKwargs, kwargsIn, 'UNetModel');
  const size = imageSize ?? k.image_size;
  if (size === undefined) throw new TemplateError('UNetModel: image size missing: pass it (--image-size) or put image_size in the kwargs');
  const { height, width } = hw(size);
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
  const { height, width } = hw(size);
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
