/**
 * `ldm`: the `UNetModel` of latent-diffusion as Stable Diffusion ships it
 * (`ldm/modules/diffusionmodules/openaimodel.py` of CompVis/stable-diffusion and
 * Stability-AI/stablediffusion; the second is a superset of the first), with PyTorch's module names,
 * so a checkpoint's `model.diffusion_model.*` weights load as they are.
 *
 * It is guided-diffusion's UNetModel (the same ResBlock, Downsample, Upsample and AttentionBlock) plus
 * `use_spatial_transformer`: a `SpatialTransformer` (cross-attention to the `context` input) where
 * guided-diffusion puts an AttentionBlock. Its differences from `iddpm`, as in the source:
 * - heads: at each attention, `num_head_channels` −1 gives `dim_head = ch // num_heads`; otherwise
 *   `num_heads = ch // num_head_channels` (the variable keeps that value) and `dim_head =
 *   num_head_channels`; with `legacy`, `dim_head = ch // num_heads` for a SpatialTransformer and
 *   `num_head_channels` for an AttentionBlock. An AttentionBlock is given `num_head_channels = dim_head`
 *   (so without `legacy` it splits into `ch // dim_head` heads);
 * - the stem conv and the out conv use `model_channels` (so channel_mult[0] must be 1, or the model
 *   does not run in PyTorch either), channel_mult entries are whole numbers;
 * - `num_res_blocks` may be one number per level and `num_attention_blocks` limits the attention
 *   layers per level (Stability's code).
 * The config may be the kwargs (bare or under `kwargs`), a yaml's `unet_config` ({target, params})
 * or a whole inference yaml ({model: {params: {unet_config}}}) as JSON.
 */
import { z } from 'zod';
import type { Graph } from '../model';
import { GraphBuilder } from '../builder';
import { defineTemplate, hw, int, list, minusOneOr, numberError, parseOrThrow, TEMPLATE_LIMITS as L, TemplateError, type ImageSize, type TemplatePreset } from './common';
import { LDM_PRESETS } from './ldm-presets';
import { addUNetModelInputs, addUNetModelLevels } from './openai-unet';

const UNET_TARGET = 'ldm.modules.diffusionmodules.openaimodel.UNetModel';
const shown = (v: unknown): string => JSON.stringify(v)?.slice(0, 60) ?? String(v);

const attentionResolutions = z.union([
  list(int(1, L.attention_resolution), L.attention_resolutions),
  int(1, L.attention_resolution).transform((n) => [n]),
]);
const resBlocks = int(0, L.num_res_blocks, ' (published configs use 2 or 3)');
/** One whole number, or (refused with a message saying why) anything else. */
const oneNumber = (n: z.ZodType<number>, listMessage: string) =>
  z.union([n, z.array(z.unknown())]).superRefine((v, ctx) => {
    if (Array.isArray(v)) ctx.addIssue({ code: 'custom', message: listMessage });
  }) as unknown as z.ZodType<number, number>; // a list never passes the refinement

/** latent-diffusion UNetModel's constructor kwargs (Stability-AI/stablediffusion ⊇ CompVis/stable-diffusion). */
export const LdmKwargs = z
  .object({
    image_size: int(1, L.image_size).optional().describe('Height and width of the latent image (Stable Diffusion\'s yamls say 32 and mark it unused; the CLI\'s --image-size overrides it).'),
    in_channels: int(1, L.io_channels).describe('Channels of the input (4 latent channels in Stable Diffusion).'),
    model_channels: int(1, L.channels).describe('Base channel count; level i has model_channels × channel_mult[i] channels.'),
    out_channels: int(1, L.io_channels).describe('Channels of the output.'),
    num_res_blocks: z
      .union([resBlocks, list(resBlocks, L.levels)])
      .describe('Residual blocks per level: one number, or one per level.'),
    attention_resolutions: attentionResolutions.describe('Downsampling factors at which attention (or the spatial transformer) is applied, e.g. 4, 2, 1.'),
    dropout: z.number({ error: numberError }).min(0, { error: 'must be at least 0' }).max(1, { error: 'must be at most 1' }).default(0).describe('Dropout probability in the residual blocks (0 to 1).'),
    channel_mult: list(int(1, L.channel_mult), L.levels)
      .nonempty({ error: 'must have at least one entry' })
      .default([1, 2, 4, 8])
      .describe('Channel multiplier of each level (whole numbers, the first 1); one entry per level.'),
    conv_resample: z.boolean().default(true).describe('Learned 3×3 convolutions for down- and upsampling (otherwise average pooling and nearest-neighbour).'),
    dims: z.literal(2, { error: 'only dims = 2 (images) is supported' }).default(2).describe('Signal dimensions: 2 (images).'),
    num_classes: z
      .union([int(1, L.num_classes), z.null(), z.string().max(100)])
      .default(null)
      .superRefine((v, ctx) => {
        if (typeof v === 'string') ctx.addIssue({ code: 'custom', message: `${shown(v)} label embeddings are not supported; give a whole number of classes, or null` });
      })
      .describe('Classes of a class-conditional model (adds the label input y); empty for none.'),
    use_checkpoint: z.boolean().default(false).describe('Gradient checkpointing in PyTorch; no effect on the graph.'),
    use_fp16: z.boolean().default(false).describe('Half-precision torso in PyTorch; no effect on the graph (weights are float32).'),
    use_bf16: z.boolean().default(false).describe('bfloat16 torso in PyTorch; no effect on the graph (weights are float32).'),
    num_heads: minusOneOr(L.num_heads).default(-1).describe('Attention heads; -1 when num_head_channels is set.'),
    num_head_channels: minusOneOr(L.num_head_channels).default(-1).describe('Channels per attention head; overrides num_heads when not -1.'),
    num_heads_upsample: minusOneOr(L.num_heads).default(-1).describe('Heads of the AttentionBlocks on the upsampling path; -1 means num_heads.'),
    use_scale_shift_norm: z.boolean().default(false).describe('Condition the residual blocks on the embedding by scale and shift (FiLM) instead of adding it.'),
    resblock_updown: z.boolean().default(false).describe('Residual blocks do the down- and upsampling.'),
    use_new_attention_order: z.boolean().default(false).describe('AttentionBlock: split q, k, v before the heads instead of after.'),
    use_spatial_transformer: z.boolean().default(false).describe('A SpatialTransformer (self- and cross-attention to the context) where an AttentionBlock would be.'),
    transformer_depth: oneNumber(int(1, L.transformer_depth), 'one depth per level (SDXL\'s sgm code) is not supported by this UNetModel; give one whole number')
      .default(1)
      .describe('Transformer blocks in each SpatialTransformer.'),
    context_dim: oneNumber(int(1, L.context_dim), 'a list (one context per transformer block) is not supported: the model has one context input; give one whole number')
      .nullable()
      .default(null)
      .describe('Width of the context tokens (768 for SD 1.x\'s CLIP, 1024 for SD 2.x\'s OpenCLIP); needs use_spatial_transformer.'),
    n_embed: z.null({ error: 'predicting codebook ids (n_embed) is not supported; leave it null' }).default(null).describe('Codebook size of a model that predicts first-stage ids; not supported (null).'),
    legacy: z.boolean().default(true).describe('latent-diffusion\'s old head arithmetic (see the template\'s notes); Stable Diffusion uses false.'),
    disable_self_attentions: list(z.boolean(), L.levels)
      .nullable()
      .default(null)
      .superRefine((v, ctx) => {
        if (v?.some((b) => b)) ctx.addIssue({ code: 'custom', message: 'disabling self-attention (attn1 attending to the context) is not supported; leave it null or all false' });
      })
      .describe('Per level: make attn1 attend to the context; not supported (null or all false).'),
    num_attention_blocks: list(resBlocks, L.levels).nullable().default(null).describe('Per level: how many of its residual blocks get an attention layer (null: all).'),
    disable_middle_self_attn: z.literal(false, { error: 'disabling the middle block\'s self-attention is not supported; leave it false' }).default(false).describe('Make the middle attn1 attend to the context; not supported (false).'),
    use_linear_in_transformer: z.boolean().default(false).describe('SpatialTransformer proj_in/proj_out as Linear layers instead of 1×1 convolutions (SD 2.x).'),
    adm_in_channels: z.null({ error: 'adm_in_channels (a "sequential" label embedding) is not supported; leave it null' }).default(null).describe('Input width of a "sequential" label embedding; not supported (null).'),
  })
  .strict()
  .superRefine((k, ctx) => {
    const levels = Array.isArray(k.channel_mult) ? k.channel_mult.length : 0;
    if (Array.isArray(k.num_res_blocks) && k.num_res_blocks.length !== levels) {
      ctx.addIssue({ code: 'custom', path: ['num_res_blocks'], message: `has ${k.num_res_blocks.length} entries for ${levels} levels: give one number, or one per channel_mult entry` });
    }
    if (k.num_heads === -1 && k.num_head_channels === -1) ctx.addIssue({ code: 'custom', path: ['num_heads'], message: 'either num_heads or num_head_channels has to be set' });
    if (k.use_spatial_transformer && k.context_dim === null) ctx.addIssue({ code: 'custom', path: ['context_dim'], message: 'is required with use_spatial_transformer (the width of the context tokens)' });
    if (!k.use_spatial_transformer && k.context_dim !== null) ctx.addIssue({ code: 'custom', path: ['use_spatial_transformer'], message: 'must be true when context_dim is given (only the spatial transformer reads the context)' });
    if (levels > 0 && k.channel_mult[0] !== 1) {
      ctx.addIssue({ code: 'custom', path: ['channel_mult', 0], message: `must be 1: latent-diffusion's stem and out conv have model_channels channels, so with ${k.channel_mult[0]} the model does not run` });
    }
    if (Number.isInteger(k.model_channels) && k.model_channels <= L.channels) {
      k.channel_mult.forEach((mult, i) => {
        if (mult * k.model_channels > L.channels) {
          ctx.addIssue({ code: 'custom', path: ['channel_mult', i], message: `model_channels × channel_mult[${i}] = ${k.model_channels} × ${mult} gives ${mult * k.model_channels} channels; at most ${L.channels}` });
        }
      });
    }
    if (k.num_attention_blocks !== null) {
      const nrb = perLevel(k.num_res_blocks, levels);
      if (k.num_attention_blocks.length !== levels) ctx.addIssue({ code: 'custom', path: ['num_attention_blocks'], message: `has ${k.num_attention_blocks.length} entries for ${levels} levels` });
      else k.num_attention_blocks.forEach((n, i) => {
        if (nrb[i] !== undefined && n > nrb[i]) ctx.addIssue({ code: 'custom', path: ['num_attention_blocks', i], message: `${n} is more than the level's ${nrb[i]} residual blocks` });
      });
    }
    if (k.disable_self_attentions !== null && k.disable_self_attentions.length !== levels) {
      ctx.addIssue({ code: 'custom', path: ['disable_self_attentions'], message: `has ${k.disable_self_attentions.length} entries for ${levels} levels` });
    }
  });
export type LdmKwargs = z.input<typeof LdmKwargs>;

function perLevel(n: number | readonly number[], levels: number): number[] {
  return typeof n === 'number' ? Array.from({ length: levels }, () => n) : [...n];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The kwargs inside a config: a whole yaml ({model: {params: {unet_config}}}), its `unet_config`
 * ({target, params}, also under a `unet_config` key), or the kwargs themselves.
 */
export function ldmKwargsOf(config: unknown): unknown {
  let c = config;
  if (isObject(c) && isObject(c.model) && isObject(c.model.params) && 'unet_config' in c.model.params) c = c.model.params.unet_config;
  if (isObject(c) && Object.keys(c).length === 1 && 'unet_config' in c) c = c.unet_config;
  if (isObject(c) && 'params' in c && Object.keys(c).every((key) => key === 'target' || key === 'params')) {
    if (c.target !== undefined && c.target !== UNET_TARGET) {
      throw new TemplateError(`UNetModel: unet_config.target ${shown(c.target)} is not latent-diffusion's UNetModel (${UNET_TARGET})`);
    }
    c = c.params;
  }
  return c;
}

/** What one attention position gets, exactly as openaimodel.py computes it (`num_heads` is the running variable). */
function heads(k: z.output<typeof LdmKwargs>, numHeads: number, ch: number): { numHeads: number; dimHead: number } {
  let dimHead: number;
  if (k.num_head_channels === -1) dimHead = Math.floor(ch / numHeads);
  else {
    numHeads = Math.floor(ch / k.num_head_channels);
    dimHead = k.num_head_channels;
  }
  if (k.legacy) dimHead = k.use_spatial_transformer ? Math.floor(ch / numHeads) : k.num_head_channels;
  return { numHeads, dimHead };
}

/** The exact module tree of latent-diffusion's `UNetModel(**kwargs)` for `imageSize`² inputs. */
export function ldm(config: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(LdmKwargs, ldmKwargsOf(config), 'UNetModel');
  const size = imageSize ?? k.image_size;
  if (size === undefined) throw new TemplateError('UNetModel: image size missing: pass it (--image-size) or put image_size in the kwargs');
  const { height, width } = hw(size, 'UNetModel');
  const mc = k.model_channels;
  const levels = k.channel_mult.length;
  const nrb = perLevel(k.num_res_blocks, levels);
  const b = new GraphBuilder();

  // num_classes is a whole number or null here (the schema refuses "sequential").
  const { x, emb } = addUNetModelInputs(b, k, k.num_classes as number | null, height, width);
  const context = k.use_spatial_transformer ? b.add('ContextInput', 'context', { tokens: 77, dim: k.context_dim! }) : '';

  // `num_heads` is reassigned at each attention when num_head_channels is set, as in the source.
  let numHeads = k.num_heads;
  const headsUp = k.num_heads_upsample === -1 ? k.num_heads : k.num_heads_upsample;
  const attention = (name: string, h: string, ch: number, upsampling: boolean): string => {
    const a = heads(k, numHeads, ch);
    numHeads = a.numHeads;
    if (!k.use_spatial_transformer) {
      // AttentionBlock(ch, num_heads=…, num_head_channels=dim_head): heads = ch // dim_head unless dim_head is -1.
      const blockHeads = upsampling ? headsUp : a.numHeads;
      if (a.dimHead === 0 || (a.dimHead === -1 && blockHeads < 1)) throw new TemplateError(`UNetModel: ${name}: ${ch} channels cannot be split into ${blockHeads} heads`);
      return b.add('AttentionBlock', name, { num_heads: Math.max(blockHeads, 1), num_head_channels: a.dimHead, use_new_attention_order: k.use_new_attention_order }, { x: h });
    }
    if (a.numHeads < 1 || a.dimHead < 1) throw new TemplateError(`UNetModel: ${name}: ${ch} channels give ${a.numHeads} heads of ${a.dimHead} channels; use fewer heads (num_heads) or fewer channels per head (num_head_channels)`);
    if (k.use_linear_in_transformer && a.numHeads * a.dimHead !== ch) {
      throw new TemplateError(
        `UNetModel: ${name}: use_linear_in_transformer needs heads × head channels = the channels (latent-diffusion's proj_out is Linear(in_channels, inner)), ` +
          `got ${a.numHeads} × ${a.dimHead} = ${a.numHeads * a.dimHead} for ${ch} channels`,
      );
    }
    return b.add('SpatialTransformer', name, { n_heads: a.numHeads, d_head: a.dimHead, depth: k.transformer_depth, use_linear: k.use_linear_in_transformer }, { x: h, context });
  };
  const attends = (ds: number, level: number, r: number) =>
    k.attention_resolutions.includes(ds) && (k.num_attention_blocks === null || r < k.num_attention_blocks[level]!);

  addUNetModelLevels(b, k, { x, emb, numResBlocks: nrb, attends, attention });
  const what = k.use_spatial_transformer ? `, context_dim=${k.context_dim}, transformer_depth=${k.transformer_depth}` : '';
  const desc = `latent-diffusion UNetModel(model_channels=${mc}, channel_mult=(${k.channel_mult.join(', ')}), num_res_blocks=${String(k.num_res_blocks)}, attention_resolutions=(${k.attention_resolutions.join(', ')})${what})`;
  return b.build(`ldm-${mc}ch-${height}x${width}`, desc);
}

/** New…'s starting values: a small latent-diffusion UNet with cross-attention (64 channels, 32×32 latents, SD 1.x's context width). */
export const LDM_DEFAULTS = {
  image_size: 32,
  in_channels: 4,
  out_channels: 4,
  model_channels: 64,
  attention_resolutions: [2, 1],
  num_res_blocks: 1,
  channel_mult: [1, 2],
  num_head_channels: 32,
  use_spatial_transformer: true,
  transformer_depth: 1,
  context_dim: 768,
  legacy: false,
} satisfies LdmKwargs;

export const ldmTemplate = defineTemplate({
  id: 'ldm',
  label: 'latent-diffusion UNetModel',
  description: 'UNetModel of latent-diffusion / Stable Diffusion 1.x and 2.x (openaimodel.py) from its kwargs or a yaml\'s unet_config, with the checkpoints\' module names.',
  schema: LdmKwargs,
  defaults: { label: 'Small text-conditioned (64 ch, 32×32 latents)', kwargs: LDM_DEFAULTS },
  presets: LDM_PRESETS satisfies readonly TemplatePreset<LdmKwargs>[],
  formFields: [
    'image_size', 'in_channels', 'out_channels', 'model_channels', 'channel_mult', 'num_res_blocks', 'attention_resolutions', 'dropout',
    'use_spatial_transformer', 'context_dim', 'transformer_depth', 'use_linear_in_transformer',
    'num_heads', 'num_head_channels', 'num_heads_upsample', 'legacy', 'num_classes',
    'use_scale_shift_norm', 'resblock_updown', 'use_new_attention_order', 'conv_resample',
  ],
  build: ldm,
});
