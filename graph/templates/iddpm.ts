/**
 * `iddpm`: `UNetModel` of openai/improved-diffusion and openai/guided-diffusion (the union of their
 * kwargs; guided-diffusion's defaults where a key is missing), with PyTorch's module names.
 */
import { z } from 'zod';
import type { Graph } from '../model';
import { GraphBuilder } from '../builder';
import { defineTemplate, hw, int, list, minusOneOr, numberError, parseOrThrow, TEMPLATE_LIMITS as L, TemplateError, type ImageSize, type TemplatePreset } from './common';
import { IDDPM_PRESETS } from './iddpm-presets';
import { addUNetModelInputs, addUNetModelLevels } from './openai-unet';

const attentionResolutions = z.union([
  list(int(1, L.attention_resolution), L.attention_resolutions),
  int(1, L.attention_resolution).transform((n) => [n]),
]);

/** UNetModel's constructor kwargs (improved-diffusion ∪ guided-diffusion). */
export const IddpmKwargs = z
  .object({
    image_size: int(1, L.image_size).optional().describe('Height and width of the image in pixels (the CLI\'s --image-size overrides it, and takes HxW).'),
    in_channels: int(1, L.io_channels).describe('Channels of the input image.'),
    model_channels: int(1, L.channels).describe('Base channel count; level i has model_channels × channel_mult[i] channels.'),
    out_channels: int(1, L.io_channels).describe('Channels of the output (6 for a model that also learns the variance).'),
    num_res_blocks: int(0, L.num_res_blocks, ' (published configs use 2 or 3)').describe('Residual blocks per level.'),
    attention_resolutions: attentionResolutions.describe('Downsampling factors at which attention is applied (e.g. 2, 4: at 2× and 4× downsampling).'),
    dropout: z.number({ error: numberError }).min(0, { error: 'must be at least 0' }).max(1, { error: 'must be at most 1' }).default(0).describe('Dropout probability in the residual blocks (0 to 1).'),
    channel_mult: list(
      z.number({ error: numberError }).positive({ error: 'must be greater than 0' }).max(L.channel_mult, { error: `must be at most ${L.channel_mult}` }),
      L.levels,
    )
      .nonempty({ error: 'must have at least one entry' })
      .default([1, 2, 4, 8])
      .describe('Channel multiplier of each level; one entry per level.'),
    conv_resample: z.boolean().default(true).describe('Learned 3×3 convolutions for down- and upsampling (otherwise average pooling and nearest-neighbour).'),
    dims: z.literal(2, { error: 'only dims = 2 (images) is supported' }).default(2).describe('Signal dimensions: 2 (images).'),
    num_classes: int(1, L.num_classes).nullable().default(null).describe('Classes of a class-conditional model (adds the label input y); empty for none.'),
    use_checkpoint: z.boolean().default(false).describe('Gradient checkpointing in PyTorch; no effect on the graph.'),
    use_fp16: z.boolean().default(false).describe('Half-precision torso in PyTorch; no effect on the graph (weights are float32).'),
    num_heads: int(1, L.num_heads).default(1).describe('Attention heads in each attention layer.'),
    num_head_channels: minusOneOr(L.num_head_channels).default(-1).describe('Channels per attention head; overrides num_heads when not -1.'),
    num_heads_upsample: minusOneOr(L.num_heads).default(-1).describe('Attention heads on the upsampling path; -1 means num_heads.'),
    use_scale_shift_norm: z.boolean().default(false).describe('Condition the residual blocks on the embedding by scale and shift (FiLM) instead of adding it.'),
    resblock_updown: z.boolean().default(false).describe('Residual blocks do the down- and upsampling.'),
    use_new_attention_order: z.boolean().default(false).describe('Split q, k, v before the heads (guided-diffusion\'s QKVAttention) instead of after.'),
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

/** The app's first graph and New…'s starting values: a small CIFAR-10-style model (64 channels, 32×32, 3.2 GFLOP). */
export const IDDPM_DEFAULTS = {
  image_size: 32,
  in_channels: 3,
  model_channels: 64,
  out_channels: 3,
  num_res_blocks: 2,
  attention_resolutions: [2],
  channel_mult: [1, 2, 2],
  num_heads: 4,
} satisfies IddpmKwargs;

/** The exact module tree of `UNetModel(**kwargs)` for `imageSize`² inputs. */
export function iddpm(kwargsIn: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(IddpmKwargs, kwargsIn, 'UNetModel');
  const size = imageSize ?? k.image_size;
  if (size === undefined) throw new TemplateError('UNetModel: image size missing: pass it (--image-size) or put image_size in the kwargs');
  const { height, width } = hw(size, 'UNetModel');
  const mc = k.model_channels;
  const headsUp = k.num_heads_upsample === -1 ? k.num_heads : k.num_heads_upsample;
  const b = new GraphBuilder();

  const { x, emb } = addUNetModelInputs(b, k, k.num_classes, height, width);

  const attn = (name: string, h: string, heads: number) =>
    b.add('AttentionBlock', name, { num_heads: heads, num_head_channels: k.num_head_channels, use_new_attention_order: k.use_new_attention_order }, { x: h });
  addUNetModelLevels(b, k, {
    x,
    emb,
    numResBlocks: k.channel_mult.map(() => k.num_res_blocks),
    attends: (ds) => k.attention_resolutions.includes(ds),
    attention: (name, h, _ch, upsampling) => attn(name, h, upsampling ? headsUp : k.num_heads),
  });
  const desc = `UNetModel(model_channels=${mc}, channel_mult=(${k.channel_mult.join(', ')}), num_res_blocks=${k.num_res_blocks}, attention_resolutions=(${k.attention_resolutions.join(', ')}))`;
  return b.build(`iddpm-${mc}ch-${height}x${width}`, desc);
}

export const iddpmTemplate = defineTemplate({
  id: 'iddpm',
  label: 'iDDPM UNetModel',
  description: 'UNetModel of openai/improved-diffusion and guided-diffusion from its constructor kwargs, with PyTorch\'s module names (its checkpoints load as they are).',
  schema: IddpmKwargs,
  defaults: { label: 'Small CIFAR-10-style (64 ch, 32×32)', kwargs: IDDPM_DEFAULTS },
  presets: IDDPM_PRESETS satisfies readonly TemplatePreset<IddpmKwargs>[],
  formFields: [
    'image_size', 'in_channels', 'out_channels', 'model_channels', 'channel_mult', 'num_res_blocks', 'attention_resolutions', 'dropout',
    'num_heads', 'num_head_channels', 'num_heads_upsample', 'num_classes',
    'use_scale_shift_norm', 'resblock_updown', 'use_new_attention_order', 'conv_resample',
  ],
  build: iddpm,
});
