/**
 * diffusers' `UNet2DConditionModel` (models/unets/unet_2d_condition.py: Stable Diffusion in diffusers
 * naming) from its config.json, with diffusers' module paths as node names, so its
 * `diffusion_pytorch_model.safetensors` loads as it is. `template diffusers` builds this when the
 * config's `_class_name` is "UNet2DConditionModel" (graph/templates/diffusers.ts dispatches).
 *
 * As in the source:
 * - `attention_head_dim` is the NUMBER of heads (diffusers' historical naming; one number, or one per
 *   level), each head `channels // heads` wide; the up blocks take the list reversed and the middle its
 *   last entry. `num_attention_heads` makes diffusers raise, so it is refused.
 * - `layers_per_block`, `transformer_layers_per_block` and `cross_attention_dim` may be one value or
 *   one per level (reversed for the up blocks, the middle takes the last); up blocks have one resnet more.
 * - blocks: CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn (resnet, Transformer2DModel,
 *   resnet) / UNetMidBlock2D (one resnet: diffusers builds it with num_layers=0) / none,
 *   UpBlock2D / CrossAttnUpBlock2D; a `Transformer2DModel` (GroupNorm eps 1e-6 with norm_num_groups
 *   groups) after each resnet of a cross-attention block.
 * - the `encoder_hidden_states` context input has 77 tokens of cross_attention_dim (CLIP's length).
 * Nodes are added in registration order: conv_in, time_proj, time_embedding, class_embedding,
 * down_blocks (attentions, resnets, downsamplers), up_blocks, mid_block, conv_norm_out, conv_out.
 * Pure: no tfjs.
 */
import { z } from 'zod';
import type { Graph } from '../model';
import { GraphBuilder } from '../builder';
import { addThenWire, hw, int, list, numberError, parseOrThrow, TEMPLATE_LIMITS as L, TemplateError, type ImageSize, type TemplatePreset } from './common';
import type { ParamValue } from '../../blocks/types';
import { DIFFUSERS_META_KEYS, oneOf, positiveFloat, sampleSize, shown } from './diffusers-schema';
import { blockDef, type BlockType } from '../../blocks/registry';

const CLASS = 'UNet2DConditionModel';
const DOWN = ['CrossAttnDownBlock2D', 'DownBlock2D'] as const;
const UP = ['UpBlock2D', 'CrossAttnUpBlock2D'] as const;
const MID = ['UNetMidBlock2DCrossAttn', 'UNetMidBlock2D'] as const;
/** Tokens of the context input (CLIP's text length; the model itself takes any). */
export const CONTEXT_TOKENS = 77;
/** Transformer2DModel's GroupNorm has 32 groups in this app's block (blocks/defs/transformer.ts). */
const TRANSFORMER_GROUPS = 32;

/** A key that must stay null (its feature has no block), refused with the reason. */
const mustBeNull = (why: string) => z.null({ error: (iss) => `${shown(iss.input)} is not supported (${why}); leave it null` }).default(null);
/** A key that must keep one value. */
const mustBe = <const V extends string | number | boolean>(value: V, why: string) =>
  z.literal(value, { error: (iss) => `${shown(iss.input)} is not supported (${why}); only ${JSON.stringify(value)} is` }).default(value as never);
/** One value, or one per level (a list). */
const perLevel = <T extends z.ZodType>(item: T) => z.union([item, list(item, L.levels).nonempty({ error: 'must have at least one entry' })]);
const headsSpec = blockDef('Transformer2DModel').params.num_attention_heads;
/** Heads of one Transformer2DModel: the block's limit. */
const heads = int(1, headsSpec?.type === 'int' ? headsSpec.max : 1);
const depth = int(1, L.transformer_depth);
const noEffect = ' (no effect on the block types this template supports)';

/** UNet2DConditionModel's config as `save_config` writes it (diffusers' defaults where a key is missing). */
export const DiffusersCondConfig = z
  .object({
    _class_name: z.literal(CLASS).describe('The model class: UNet2DConditionModel.'),
    ...DIFFUSERS_META_KEYS,
    sample_size: sampleSize('Height and width of the latent (one number, or [height, width]); --image-size overrides it.'),
    in_channels: int(1, L.io_channels).default(4).describe('Channels of the input latent.'),
    out_channels: int(1, L.io_channels).default(4).describe('Channels of the output.'),
    center_input_sample: z.boolean().default(false).describe('Map the input from [0, 1] to [-1, 1] first (2·x − 1 before conv_in).'),
    flip_sin_to_cos: z.boolean().default(true).describe('Sinusoidal embedding as [cos | sin] (true) or [sin | cos].'),
    freq_shift: z.number({ error: numberError }).min(-1000).max(1000).default(0).describe('downscale_freq_shift of the sinusoidal embedding.'),
    down_block_types: list(oneOf(DOWN), L.levels)
      .nonempty({ error: 'must have at least one entry' })
      .default(['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'])
      .describe('The down block of each level, highest resolution first.'),
    mid_block_type: oneOf(MID).nullable().default('UNetMidBlock2DCrossAttn').describe('The middle block (UNetMidBlock2D: one resnet); empty for none.'),
    up_block_types: list(oneOf(UP), L.levels)
      .nonempty({ error: 'must have at least one entry' })
      .default(['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'])
      .describe('The up block of each level, lowest resolution first.'),
    only_cross_attention: z
      .union([z.boolean(), list(z.boolean(), L.levels)])
      .default(false)
      .superRefine((v, ctx) => {
        if (v === true || (Array.isArray(v) && v.includes(true))) ctx.addIssue({ code: 'custom', message: 'true is not supported (attn1 attending to encoder_hidden_states has no block); leave it false' });
      })
      .describe('Per level: make attn1 a cross-attention too; not supported (false).'),
    block_out_channels: list(int(1, L.channels), L.levels).nonempty({ error: 'must have at least one entry' }).default([320, 640, 1280, 1280]).describe('Output channels of each level.'),
    layers_per_block: perLevel(int(1, L.num_res_blocks)).default(2).describe('Resnets per down block (one number or one per level; up blocks have one more).'),
    downsample_padding: int(0, 10).default(1).describe('Padding of the downsampling conv; 0 pads right and bottom by one.'),
    mid_block_scale_factor: positiveFloat(1e6).default(1).describe("The middle resnets' output_scale_factor."),
    dropout: z.number({ error: numberError }).min(0).max(1).default(0).describe('Dropout probability in the resnets (0 to 1).'),
    act_fn: oneOf(['silu', 'swish'], ' (the time MLP and conv_act use act_fn too)').default('silu').describe('Activation of the resnets, the time MLP and conv_act: "silu" (or its other name "swish").'),
    norm_num_groups: int(1, L.channels)
      .nullable()
      .default(32)
      .superRefine((v, ctx) => {
        if (v === null) ctx.addIssue({ code: 'custom', message: 'null (no conv_norm_out) is not supported; give the GroupNorm groups (32)' });
      })
      .describe('GroupNorm groups everywhere (32 where there are cross-attention blocks).'),
    norm_eps: positiveFloat(1).default(1e-5).describe('GroupNorm epsilon of the resnets and conv_norm_out.'),
    cross_attention_dim: perLevel(int(1, L.context_dim))
      .default(1280)
      .describe('Width of the encoder_hidden_states tokens (768 for SD 1.x); one context input, so a list must repeat one value.'),
    transformer_layers_per_block: perLevel(depth)
      .default(1)
      .describe('Transformer blocks in each Transformer2DModel (one number, or one per level).'),
    reverse_transformer_layers_per_block: mustBeNull('per-layer transformer depths of asymmetric up blocks').describe('Transformer depths of the up blocks; not supported (null).'),
    encoder_hid_dim: mustBeNull('a projection of encoder_hidden_states has no block').describe('Width of encoder_hidden_states before a projection; not supported (null).'),
    encoder_hid_dim_type: mustBeNull('a projection of encoder_hidden_states has no block').describe('Kind of that projection; not supported (null).'),
    attention_head_dim: perLevel(heads).default(8).describe('The NUMBER of attention heads (diffusers\' naming in this class): one number, or one per level; head size = channels // heads.'),
    num_attention_heads: mustBeNull("diffusers' UNet2DConditionModel raises on it; give the head count as attention_head_dim").describe('Refused by diffusers itself; use attention_head_dim (null).'),
    dual_cross_attention: mustBe(false, 'DualTransformer2DModel has no block').describe('Two transformers per attention; not supported (false).'),
    use_linear_projection: z.boolean().default(false).describe('Transformer2DModel proj_in/proj_out as Linear layers instead of 1×1 convolutions (SD 2.x).'),
    class_embed_type: mustBeNull('"timestep", "identity", "projection" and "simple_projection" class embeddings have no block; num_class_embeds alone gives an nn.Embedding').describe('Class conditioning type; only null.'),
    addition_embed_type: mustBeNull('added text/image/time embeddings (SDXL, Kandinsky) have no block').describe('Additional embedding (SDXL "text_time"…); not supported (null).'),
    addition_time_embed_dim: mustBeNull('it belongs to addition_embed_type "text_time"').describe('Width of SDXL\'s added time ids; not supported (null).'),
    addition_embed_type_num_heads: int(1, 4096).default(64).describe('Heads of the "text" addition embedding; no effect without addition_embed_type.'),
    num_class_embeds: int(1, L.num_classes).nullable().default(null).describe('Classes of a class-conditional model (adds the label input y); empty for none.'),
    upcast_attention: z.boolean().default(false).describe('Compute attention scores in float32 (a no-op here: everything runs in float32).'),
    resnet_time_scale_shift: oneOf(['default', 'scale_shift']).default('default').describe('Resnets add the time embedding ("default") or scale and shift by it.'),
    resnet_skip_time_act: z.boolean().default(false).describe(`skip_time_act of ResnetDownsample/SimpleCrossAttn blocks${noEffect}.`),
    resnet_out_scale_factor: positiveFloat(1e6).default(1).describe(`output_scale_factor of ResnetDownsample/SimpleCrossAttn blocks${noEffect}.`),
    time_embedding_type: oneOf(['positional'], ' (the Fourier time embedding has no block)').default('positional').describe('How timesteps are embedded: "positional" (sinusoidal).'),
    time_embedding_dim: int(1, L.channels).nullable().default(null).describe('Width of the time embedding; empty means 4 × block_out_channels[0].'),
    time_embedding_act_fn: mustBeNull('an activation after the time MLP has no block').describe('Activation after the time embedding; not supported (null).'),
    timestep_post_act: mustBeNull('an activation at the end of the time MLP has no block').describe('post_act_fn of the time MLP; not supported (null).'),
    time_cond_proj_dim: mustBeNull('a timestep condition (LCM) input has no block').describe('Width of a timestep_cond input; not supported (null).'),
    conv_in_kernel: int(1, 11).default(3).refine((k) => k % 2 === 1, { error: 'must be odd (padding (k − 1) / 2 keeps the size)' }).describe('Kernel of conv_in (odd).'),
    conv_out_kernel: int(1, 11).default(3).refine((k) => k % 2 === 1, { error: 'must be odd (padding (k − 1) / 2 keeps the size)' }).describe('Kernel of conv_out (odd).'),
    projection_class_embeddings_input_dim: mustBeNull('projection class embeddings have no block').describe('Input width of a projection class embedding; not supported (null).'),
    attention_type: mustBe('default', 'gated (GLIGEN) attention has no block').describe('Transformer block type; only "default".'),
    class_embeddings_concat: mustBe(false, 'a concatenated class embedding has no block').describe('Concatenate the class embedding to the time embedding; not supported (false).'),
    mid_block_only_cross_attention: z.boolean().nullable().default(null).describe(`only_cross_attention of UNetMidBlock2DSimpleCrossAttn${noEffect}.`),
    cross_attention_norm: z.string().max(100).nullable().default(null).describe(`cross_attention_norm of SimpleCrossAttn blocks${noEffect}.`),
  })
  .loose()
  .superRefine((k, ctx) => {
    const n = k.block_out_channels.length;
    const per = (key: string, v: unknown) => {
      if (Array.isArray(v) && v.length !== n) ctx.addIssue({ code: 'custom', path: [key], message: `has ${v.length} entries but block_out_channels has ${n}; give one number, or one per level` });
    };
    if (k.down_block_types.length !== n) ctx.addIssue({ code: 'custom', path: ['down_block_types'], message: `has ${k.down_block_types.length} entries but block_out_channels has ${n}; give one per level` });
    if (k.up_block_types.length !== k.down_block_types.length) ctx.addIssue({ code: 'custom', path: ['up_block_types'], message: `has ${k.up_block_types.length} entries but down_block_types has ${k.down_block_types.length}; give one per level` });
    per('only_cross_attention', k.only_cross_attention);
    per('layers_per_block', k.layers_per_block);
    per('cross_attention_dim', k.cross_attention_dim);
    per('transformer_layers_per_block', k.transformer_layers_per_block);
    per('attention_head_dim', k.attention_head_dim);
    if (Array.isArray(k.cross_attention_dim) && new Set(k.cross_attention_dim).size > 1) {
      ctx.addIssue({ code: 'custom', path: ['cross_attention_dim'], message: `${shown(k.cross_attention_dim)}: one width per level is not supported (the graph has one encoder_hidden_states input); give one number` });
    }
    const attends = k.down_block_types.includes('CrossAttnDownBlock2D') || k.up_block_types.includes('CrossAttnUpBlock2D') || k.mid_block_type === 'UNetMidBlock2DCrossAttn';
    if (attends && k.norm_num_groups !== null && k.norm_num_groups !== TRANSFORMER_GROUPS) {
      ctx.addIssue({ code: 'custom', path: ['norm_num_groups'], message: `${k.norm_num_groups} is not supported with cross-attention blocks (the Transformer2DModel block's GroupNorm has ${TRANSFORMER_GROUPS} groups); use 32` });
    }
  });
export type DiffusersCondConfig = z.input<typeof DiffusersCondConfig>;

const KNOWN = new Set(Object.keys(DiffusersCondConfig.shape));
const IGNORED = ['_diffusers_version', '_name_or_path', '_use_default_values'] as const;

/** What the template ignores in a UNet2DConditionModel config: bookkeeping keys and keys it does not know. */
export function diffusersCondConfigNotes(config: unknown): string[] {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return [];
  const c = config as Readonly<Record<string, unknown>>;
  const notes: string[] = [];
  const ignored = IGNORED.filter((key) => c[key] !== undefined && c[key] !== null);
  if (ignored.length > 0) notes.push(`ignored ${ignored.join(', ')} (no effect on the model)`);
  const unknown = Object.keys(c).filter((key) => !KNOWN.has(key) && !(IGNORED as readonly string[]).includes(key));
  if (unknown.length > 0) notes.push(`ignored unknown key${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`);
  return notes;
}

/** Whether a config is for UNet2DConditionModel (its `_class_name`). */
export function isCondConfig(config: unknown): boolean {
  return config !== null && typeof config === 'object' && (config as { _class_name?: unknown })._class_name === CLASS;
}

/** runwayml/stable-diffusion-v1-5's unet/config.json on the Hub (CompVis/stable-diffusion-v1-4's is the same model). */
export const SD15_UNET = {
  _class_name: 'UNet2DConditionModel',
  _diffusers_version: '0.6.0',
  act_fn: 'silu',
  attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
} satisfies DiffusersCondConfig;

export const DIFFUSERS_COND_PRESETS = [{ name: 'sd15', imageSize: 64, kwargs: SD15_UNET }] as const satisfies readonly TemplatePreset<DiffusersCondConfig>[];

const levels = <T>(v: T | readonly T[], n: number): T[] => (Array.isArray(v) ? [...(v as readonly T[])] : Array.from({ length: n }, () => v as T));

/** The exact module tree of `UNet2DConditionModel(**config)` for `imageSize` latents (default: `sample_size`). */
export function diffusersUNet2DCondition(configIn: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(DiffusersCondConfig, configIn, CLASS);
  const sample = imageSize ?? (Array.isArray(k.sample_size) ? { height: k.sample_size[0], width: k.sample_size[1] } : (k.sample_size ?? undefined));
  if (sample === undefined) throw new TemplateError(`${CLASS}: image size missing: put sample_size in the config or pass it (--image-size)`);
  const { height, width } = hw(sample, CLASS);
  const boc = k.block_out_channels;
  const n = boc.length;
  const ted = k.time_embedding_dim ?? boc[0] * 4;
  const groups = k.norm_num_groups ?? TRANSFORMER_GROUPS; // null is refused by the schema
  const layers = levels(k.layers_per_block, n);
  const depths = levels(k.transformer_layers_per_block, n);
  const numHeads = levels(k.attention_head_dim, n);
  const contextDim = levels(k.cross_attention_dim, n)[0]!;
  const b = new GraphBuilder();

  const x = b.add('ImageInput', 'x', { channels: k.in_channels, height, width });
  const t = b.add('TimestepsInput', 'timesteps');
  const context = b.add('ContextInput', 'encoder_hidden_states', { tokens: CONTEXT_TOKENS, dim: contextDim });
  const y = k.num_class_embeds !== null ? b.add('ClassLabelInput', 'y', { num_classes: k.num_class_embeds }) : null;
  const sampleIn = k.center_input_sample ? b.add('Rescale', 'center_input_sample', { scale: 2, shift: -1 }, { x }) : x;
  const conv = (name: string, from: string, out: number, kernel: number) =>
    b.add('Conv2d', name, { out_channels: out, kernel_size: kernel, stride: 1, padding: (kernel - 1) / 2, bias: true }, { x: from });
  let h = conv('conv_in', sampleIn, boc[0], k.conv_in_kernel);
  const proj = b.add('Timesteps', 'time_proj', { num_channels: boc[0], flip_sin_to_cos: k.flip_sin_to_cos, downscale_freq_shift: k.freq_shift }, { x: t });
  let emb = b.add('DiffusersTimestepEmbedding', 'time_embedding', { dim: ted }, { x: proj });
  if (y !== null) emb = b.add('LabelEmbedding', 'class_embedding', {}, { x: emb, y });

  const resnetParams = (out: number, scale = 1) => ({
    out_channels: out,
    groups,
    eps: k.norm_eps,
    time_embedding_norm: k.resnet_time_scale_shift,
    output_scale_factor: scale,
    resample: 'none' as const,
    dropout: k.dropout,
    act_fn: 'silu' as const,
  });
  const transformerParams = (name: string, channels: number, heads: number, numLayers: number) => {
    const headDim = Math.floor(channels / heads);
    if (headDim < 1) throw new TemplateError(`${CLASS}: ${name}: ${channels} channels cannot be split into ${heads} heads (attention_head_dim is the number of heads in this class); use at most ${channels}`);
    return { num_attention_heads: heads, attention_head_dim: headDim, num_layers: numLayers, use_linear_projection: k.use_linear_projection };
  };
  const later = (type: BlockType, name: string, params: Record<string, ParamValue>) => addThenWire(b, type, name, params);

  const skips: string[] = [h];
  k.down_block_types.forEach((type, i) =>
    b.group(`down_blocks.${i}`, () => {
      const c = boc[i]!;
      const p = `down_blocks.${i}`;
      const attns = type === 'CrossAttnDownBlock2D' ? Array.from({ length: layers[i]! }, (_, j) => later('Transformer2DModel', `${p}.attentions.${j}`, transformerParams(`${p}.attentions.${j}`, c, numHeads[i]!, depths[i]!))) : [];
      const resnets = Array.from({ length: layers[i]! }, (_, j) => later('ResnetBlock2D', `${p}.resnets.${j}`, resnetParams(c)));
      resnets.forEach((wire, j) => {
        h = wire({ x: h, emb });
        if (attns.length > 0) h = attns[j]!({ x: h, context });
        skips.push(h);
      });
      if (i < n - 1) {
        h = b.add('Downsample2D', `${p}.downsamplers.0`, { use_conv: true, padding: k.downsample_padding }, { x: h });
        skips.push(h);
      }
    }),
  );

  // The middle block is registered after the up blocks: made here in forward order, moved at the end.
  let midCount = 0;
  if (k.mid_block_type !== null) {
    b.group('mid_block', () => {
      const c = boc[n - 1]!;
      const s = k.mid_block_scale_factor;
      if (k.mid_block_type === 'UNetMidBlock2D') {
        h = b.add('ResnetBlock2D', 'mid_block.resnets.0', resnetParams(c, s), { x: h, emb });
        midCount = 1;
        return;
      }
      const attn = later('Transformer2DModel', 'mid_block.attentions.0', transformerParams('mid_block.attentions.0', c, numHeads[n - 1]!, depths[n - 1]!));
      const r0 = later('ResnetBlock2D', 'mid_block.resnets.0', resnetParams(c, s));
      const r1 = later('ResnetBlock2D', 'mid_block.resnets.1', resnetParams(c, s));
      h = r0({ x: h, emb });
      h = attn({ x: h, context });
      h = r1({ x: h, emb });
      midCount = 3;
    });
  }

  const rev = <T>(a: readonly T[]) => [...a].reverse();
  const [rBoc, rLayers, rDepths, rHeads] = [rev(boc), rev(layers), rev(depths), rev(numHeads)];
  k.up_block_types.forEach((type, i) =>
    b.group(`up_blocks.${i}`, () => {
      const c = rBoc[i]!;
      const p = `up_blocks.${i}`;
      const count = rLayers[i]! + 1;
      const attns = type === 'CrossAttnUpBlock2D' ? Array.from({ length: count }, (_, j) => later('Transformer2DModel', `${p}.attentions.${j}`, transformerParams(`${p}.attentions.${j}`, c, rHeads[i]!, rDepths[i]!))) : [];
      const resnets = Array.from({ length: count }, (_, j) => later('ResnetBlock2D', `${p}.resnets.${j}`, resnetParams(c)));
      resnets.forEach((wire, j) => {
        const skip = skips.pop()!;
        const cat = b.add('Concat', `${p}.concat.${j}`, { order: 'x_first' }, { x: h, skip });
        h = wire({ x: cat, emb });
        if (attns.length > 0) h = attns[j]!({ x: h, context });
      });
      if (i < n - 1) h = b.add('Upsample', `${p}.upsamplers.0`, { use_conv: true }, { x: h });
    }),
  );

  h = b.add('GroupNorm', 'conv_norm_out', { groups, eps: k.norm_eps }, { x: h });
  h = b.add('SiLU', 'conv_act', {}, { x: h });
  h = conv('conv_out', h, k.out_channels, k.conv_out_kernel);
  b.add('Output', 'output', {}, { x: h });

  const notes = diffusersCondConfigNotes(configIn);
  const desc =
    `${CLASS}(block_out_channels=(${boc.join(', ')}), layers_per_block=${String(k.layers_per_block)}, cross_attention_dim=${contextDim}, ` +
    `attention_head_dim=${String(k.attention_head_dim)}, down_block_types=(${k.down_block_types.join(', ')}))${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
  const built = b.build(`diffusers-unet2d-condition-${boc[0]}ch-${height}x${width}`, desc);
  if (midCount === 0) return built;
  const start = built.nodes.findIndex((nd) => nd.name.startsWith('mid_block.'));
  const mid = built.nodes.slice(start, start + midCount);
  const rest = [...built.nodes.slice(0, start), ...built.nodes.slice(start + midCount)];
  const at = rest.findIndex((nd) => nd.name === 'conv_norm_out');
  return { ...built, nodes: [...rest.slice(0, at), ...mid, ...rest.slice(at)] };
}
