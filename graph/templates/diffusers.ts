/**
 * `diffusers`: Hugging Face diffusers' `UNet2DModel` (models/unets/unet_2d.py) from its config.json as
 * the Hub serves it (`save_config`'s keys, `_class_name` and `_diffusers_version` included), with
 * diffusers' module paths as node names, so `diffusion_pytorch_model.safetensors` loads as it is.
 *
 * Nodes are added in PyTorch's registration order (so the graph's weights list in `state_dict()`
 * order): conv_in, time_proj, time_embedding, class_embedding, then per block its attentions
 * before its resnets and then its down/upsamplers, mid_block after up_blocks, conv_norm_out, conv_out.
 * `center_input_sample` adds a weightless `Rescale` node (2·x − 1) named `center_input_sample`
 * between the input and conv_in.
 */
import { z } from 'zod';
import type { Graph } from '../model';
import { GraphBuilder } from '../builder';
import { addThenWire, defineTemplate, hw, int, list, numberError, parseOrThrow, TEMPLATE_LIMITS as L, TemplateError, type ImageSize, type TemplatePreset } from './common';
import type { BlockType } from '../../blocks/registry';
import type { ParamValue } from '../../blocks/types';
import { DIFFUSERS_META_KEYS, oneOf, positiveFloat, sampleSize, shown } from './diffusers-schema';
import { DIFFUSERS_COND_PRESETS, diffusersUNet2DCondition, isCondConfig } from './diffusers-cond';

const DOWN_BLOCK_TYPES = ['DownBlock2D', 'AttnDownBlock2D', 'ResnetDownsampleBlock2D'] as const;
const UP_BLOCK_TYPES = ['UpBlock2D', 'AttnUpBlock2D', 'ResnetUpsampleBlock2D'] as const;

/** The keys diffusers' config.json carries that say nothing about the model's structure (num_train_timesteps: unless the time embedding is learned). */
const IGNORED_KEYS = ['_diffusers_version', '_name_or_path', '_use_default_values', 'num_train_timesteps'] as const;

/** Rows of the learned time embedding (num_train_timesteps): the LearnedTimesteps block's limit. */
const MAX_TRAIN_TIMESTEPS = 1_000_000;

/** UNet2DModel's config (diffusers' defaults where a key is missing). */
export const DiffusersConfig = z
  .object({
    _class_name: z
      .literal('UNet2DModel', { error: (iss) => `${shown(iss.input)} is not supported; only UNet2DModel configs are` })
      .optional()
      .describe('The model class the config is for; must be UNet2DModel.'),
    ...DIFFUSERS_META_KEYS,
    sample_size: sampleSize('Height and width of the image in pixels (one number, or [height, width]); --image-size overrides it.'),
    in_channels: int(1, L.io_channels).default(3).describe('Channels of the input image.'),
    out_channels: int(1, L.io_channels).default(3).describe('Channels of the output.'),
    center_input_sample: z
      .boolean({ error: (iss) => `${shown(iss.input)} is not supported; supported: true, false` })
      .default(false)
      .describe('Map the input from [0, 1] to [-1, 1] first (2·x − 1 before conv_in).'),
    time_embedding_type: oneOf(['positional', 'learned'], ' (the Fourier time embedding has no block yet)')
      .default('positional')
      .describe('How timesteps are embedded: "positional" (sinusoidal) or "learned" (an nn.Embedding of num_train_timesteps rows).'),
    time_embedding_dim: int(1, L.channels).nullable().default(null).describe('Width of the time embedding; empty means 4 × block_out_channels[0].'),
    freq_shift: z.number({ error: numberError }).min(-1000).max(1000).default(0).describe('downscale_freq_shift of the sinusoidal embedding (the google/ddpm checkpoints use 1).'),
    flip_sin_to_cos: z.boolean().default(true).describe('Sinusoidal embedding as [cos | sin] (true) or [sin | cos] (false, the google/ddpm checkpoints).'),
    down_block_types: list(oneOf(DOWN_BLOCK_TYPES), L.levels)
      .nonempty({ error: 'must have at least one entry' })
      .default(['DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D'])
      .describe('The down block of each level, highest resolution first.')
      .meta({ formLengthOf: 'block_out_channels' }),
    mid_block_type: oneOf(['UNetMidBlock2D']).nullable().default('UNetMidBlock2D').describe('The middle block; empty for none.'),
    up_block_types: list(oneOf(UP_BLOCK_TYPES), L.levels)
      .nonempty({ error: 'must have at least one entry' })
      .default(['AttnUpBlock2D', 'AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'])
      .describe('The up block of each level, lowest resolution first.')
      .meta({ formLengthOf: 'block_out_channels' }),
    block_out_channels: list(int(1, L.channels), L.levels)
      .nonempty({ error: 'must have at least one entry' })
      .default([224, 448, 672, 896])
      .describe('Output channels of each level, highest resolution first.'),
    layers_per_block: int(1, L.num_res_blocks).default(2).describe('Residual blocks per down block (up blocks have one more).'),
    mid_block_scale_factor: positiveFloat(1e6).default(1).describe("The middle block's output_scale_factor (its resnets' and attention's outputs are divided by it)."),
    downsample_padding: int(0, 10).default(1).describe('Padding of the downsampling conv; 0 pads right and bottom by one (the google/ddpm checkpoints).'),
    downsample_type: oneOf(['conv', 'resnet']).default('conv').describe('AttnDownBlock2D downsampling: a stride-2 conv, or a ResnetBlock2D with down=True.'),
    upsample_type: oneOf(['conv', 'resnet']).default('conv').describe('AttnUpBlock2D upsampling: nearest ×2 and a conv, or a ResnetBlock2D with up=True.'),
    dropout: z.number({ error: numberError }).min(0, { error: 'must be at least 0' }).max(1, { error: 'must be at most 1' }).default(0).describe('Dropout probability in the residual blocks (0 to 1).'),
    act_fn: oneOf(['silu', 'swish', 'mish']).default('silu').describe('Activation of the residual blocks ("silu" and its other name "swish", or "mish"); the time MLP and conv_act stay SiLU.'),
    attention_head_dim: int(1, L.channels).nullable().default(8).describe('Channels per attention head (heads = channels // this); empty for one head.'),
    norm_num_groups: int(1, L.channels).default(32).describe('GroupNorm groups everywhere.'),
    attn_norm_num_groups: int(1, L.channels).nullable().default(null).describe("Groups of the middle attention's GroupNorm; empty: norm_num_groups, and no GroupNorm unless resnet_time_scale_shift is \"default\"."),
    norm_eps: positiveFloat(1).default(1e-5).describe('GroupNorm epsilon everywhere (the google/ddpm checkpoints use 1e-6).'),
    resnet_time_scale_shift: oneOf(['default', 'scale_shift']).default('default').describe('Residual blocks add the time embedding ("default") or scale and shift by it ("scale_shift").'),
    add_attention: z.boolean().default(true).describe('Attention in the middle block.'),
    class_embed_type: z
      .null({
        error: (iss) =>
          `${shown(iss.input)} is not supported ("timestep" and "identity" embed the class labels as timesteps or take them as embeddings, which have no blocks yet); supported: null (an nn.Embedding when num_class_embeds is set)`,
      })
      .default(null)
      .describe('Class conditioning type; only empty (an embedding table, with num_class_embeds) is supported.'),
    num_class_embeds: int(1, L.num_classes).nullable().default(null).describe('Classes of a class-conditional model (adds the label input y); empty for none.'),
    num_train_timesteps: int(1, MAX_TRAIN_TIMESTEPS)
      .nullable()
      .default(null)
      .describe('Rows of the learned time embedding (time_embedding_type "learned"); ignored otherwise.'),
  })
  .loose()
  .superRefine((k, ctx) => {
    const n = k.block_out_channels.length;
    if (k.down_block_types.length !== n) {
      ctx.addIssue({ code: 'custom', path: ['down_block_types'], message: `has ${k.down_block_types.length} entries but block_out_channels has ${n}; give one per level` });
    }
    if (k.up_block_types.length !== k.down_block_types.length) {
      ctx.addIssue({ code: 'custom', path: ['up_block_types'], message: `has ${k.up_block_types.length} entries but down_block_types has ${k.down_block_types.length}; give one per level` });
    }
    if (k.time_embedding_type === 'learned' && k.num_train_timesteps === null) {
      ctx.addIssue({ code: 'custom', path: ['num_train_timesteps'], message: 'is required with time_embedding_type "learned" (the embedding has one row per training timestep, e.g. 1000)' });
    }
  });
export type DiffusersConfig = z.input<typeof DiffusersConfig>;

/** The keys of a config this template reads (everything else is ignored, with a note). */
const KNOWN = new Set(Object.keys(DiffusersConfig.shape));

/**
 * What the template ignores in a config: diffusers' bookkeeping keys that are present and keys it
 * does not know (a newer diffusers' option would be one: check it does not change the model).
 */
export function diffusersConfigNotes(config: unknown): string[] {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return [];
  const keys = Object.keys(config);
  const notes: string[] = [];
  const c = config as Readonly<Record<string, unknown>>;
  const learned = c.time_embedding_type === 'learned';
  // In IGNORED_KEYS' order, those with a value (a null says nothing).
  const ignored = IGNORED_KEYS.filter((k) => c[k] !== undefined && c[k] !== null && !(learned && k === 'num_train_timesteps'));
  if (ignored.length > 0) notes.push(`ignored ${ignored.join(', ')} (no effect on the model)`);
  const unknown = keys.filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) notes.push(`ignored unknown key${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`);
  return notes;
}

/** google/ddpm-cifar10-32's config.json on the Hub. */
export const DDPM_CIFAR10_32 = {
  _class_name: 'UNet2DModel',
  act_fn: 'silu',
  attention_head_dim: null,
  block_out_channels: [128, 256, 256, 256],
  center_input_sample: false,
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'],
  downsample_padding: 0,
  flip_sin_to_cos: false,
  freq_shift: 1,
  in_channels: 3,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-6,
  norm_num_groups: 32,
  out_channels: 3,
  sample_size: 32,
  time_embedding_type: 'positional',
  up_block_types: ['UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
} satisfies DiffusersConfig;

/** google/ddpm-celebahq-256's config.json on the Hub (the church, bedroom and cat 256 models share it). */
export const DDPM_CELEBAHQ_256 = {
  _class_name: 'UNet2DModel',
  act_fn: 'silu',
  attention_head_dim: null,
  block_out_channels: [128, 128, 256, 256, 512, 512],
  center_input_sample: false,
  down_block_types: ['DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 0,
  flip_sin_to_cos: false,
  freq_shift: 1,
  in_channels: 3,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-6,
  norm_num_groups: 32,
  out_channels: 3,
  sample_size: 256,
  time_embedding_type: 'positional',
  up_block_types: ['UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D'],
} satisfies DiffusersConfig;

export const DIFFUSERS_PRESETS = [
  { name: 'google/ddpm-cifar10-32', imageSize: 32, kwargs: DDPM_CIFAR10_32 },
  { name: 'google/ddpm-celebahq-256', imageSize: 256, kwargs: DDPM_CELEBAHQ_256 },
] as const satisfies readonly TemplatePreset<DiffusersConfig>[];

/** The exact module tree of `UNet2DModel(**config)` for `imageSize` inputs (default: `sample_size`). */
export function diffusersUNet2D(configIn: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(DiffusersConfig, configIn, 'UNet2DModel');
  const sample = imageSize ?? (Array.isArray(k.sample_size) ? { height: k.sample_size[0], width: k.sample_size[1] } : (k.sample_size ?? undefined));
  if (sample === undefined) throw new TemplateError('UNet2DModel: image size missing: put sample_size in the config or pass it (--image-size)');
  const { height, width } = hw(sample, 'UNet2DModel');
  const boc = k.block_out_channels;
  const n = boc.length;
  const ted = k.time_embedding_dim ?? boc[0] * 4;
  const headDim = (channels: number) => k.attention_head_dim ?? channels;
  const b = new GraphBuilder();

  const x = b.add('ImageInput', 'x', { channels: k.in_channels, height, width });
  const t = b.add('TimestepsInput', 'timesteps');
  const y = k.num_class_embeds !== null ? b.add('ClassLabelInput', 'y', { num_classes: k.num_class_embeds }) : null;
  // `sample = 2 * sample - 1.0`, before conv_in.
  const sampleIn = k.center_input_sample ? b.add('Rescale', 'center_input_sample', { scale: 2, shift: -1 }, { x }) : x;
  let h = b.add('Conv2d', 'conv_in', { out_channels: boc[0], kernel_size: 3, stride: 1, padding: 1, bias: true }, { x: sampleIn });
  const proj =
    k.time_embedding_type === 'learned'
      ? // nn.Embedding(num_train_timesteps, block_out_channels[0]); the schema makes num_train_timesteps present.
        b.add('LearnedTimesteps', 'time_proj', { num_embeddings: k.num_train_timesteps ?? 0, num_channels: boc[0] }, { x: t })
      : b.add('Timesteps', 'time_proj', { num_channels: boc[0], flip_sin_to_cos: k.flip_sin_to_cos, downscale_freq_shift: k.freq_shift }, { x: t });
  let emb = b.add('DiffusersTimestepEmbedding', 'time_embedding', { dim: ted }, { x: proj });
  if (y !== null) emb = b.add('LabelEmbedding', 'class_embedding', {}, { x: emb, y });

  const resnetParams = (out: number, resample: 'none' | 'up' | 'down' = 'none', scale = 1) => ({
    out_channels: out,
    groups: k.norm_num_groups,
    eps: k.norm_eps,
    time_embedding_norm: k.resnet_time_scale_shift,
    output_scale_factor: scale,
    resample,
    dropout: k.dropout,
    act_fn: k.act_fn === 'mish' ? ('mish' as const) : ('silu' as const),
  });
  const attnParams = (channels: number, groups: number | null, scale = 1) => ({
    attention_head_dim: headDim(channels),
    group_norm: groups !== null,
    norm_groups: groups ?? k.norm_num_groups,
    eps: k.norm_eps,
    residual_connection: true,
    rescale_output_factor: scale,
  });
  const later = (type: BlockType, name: string, params: Record<string, ParamValue>) => addThenWire(b, type, name, params);

  // Down blocks: (resnet, attention?) × layers_per_block, then the downsampler; every output is a skip.
  const skips: string[] = [h];
  let outC = boc[0];
  // Groups (they only organise): down_blocks.i, mid_block and up_blocks.i, diffusers' own modules.
  k.down_block_types.forEach((type, i) => b.group(`down_blocks.${i}`, () => {
    outC = boc[i];
    const last = i === n - 1;
    const p = `down_blocks.${i}`;
    const attns = type === 'AttnDownBlock2D' ? Array.from({ length: k.layers_per_block }, (_, j) => later('Attention', `${p}.attentions.${j}`, attnParams(outC, k.norm_num_groups))) : [];
    const resnets = Array.from({ length: k.layers_per_block }, (_, j) => later('ResnetBlock2D', `${p}.resnets.${j}`, resnetParams(outC)));
    resnets.forEach((wire, j) => {
      h = wire({ x: h, emb });
      if (attns.length > 0) h = attns[j]({ x: h });
      skips.push(h);
    });
    if (!last) {
      const name = `${p}.downsamplers.0`;
      const resnetDown = type === 'ResnetDownsampleBlock2D' || (type === 'AttnDownBlock2D' && k.downsample_type === 'resnet');
      h = resnetDown
        ? b.add('ResnetBlock2D', name, resnetParams(outC, 'down'), { x: h, emb })
        : b.add('Downsample2D', name, { use_conv: true, padding: k.downsample_padding }, { x: h });
      skips.push(h);
    }
  }));

  // The middle block is registered after the up blocks: its nodes are made here, in forward order,
  // and moved behind the up blocks at the end (`withMidBlockLast`).
  if (k.mid_block_type !== null) b.group('mid_block', () => {
    const c = boc[n - 1];
    const attnGroups = k.attn_norm_num_groups ?? (k.resnet_time_scale_shift === 'default' ? k.norm_num_groups : null);
    const s = k.mid_block_scale_factor;
    const attn = k.add_attention ? later('Attention', 'mid_block.attentions.0', attnParams(c, attnGroups, s)) : null;
    const r0 = later('ResnetBlock2D', 'mid_block.resnets.0', resnetParams(c, 'none', s));
    const r1 = later('ResnetBlock2D', 'mid_block.resnets.1', resnetParams(c, 'none', s));
    h = r0({ x: h, emb });
    if (attn) h = attn({ x: h });
    h = r1({ x: h, emb });
  });
  const midCount = k.mid_block_type === null ? 0 : k.add_attention ? 3 : 2;

  // Up blocks: (concat with the last skip, resnet, attention?) × (layers_per_block + 1), then the upsampler.
  const rev = [...boc].reverse();
  k.up_block_types.forEach((type, i) => b.group(`up_blocks.${i}`, () => {
    outC = rev[i];
    const last = i === n - 1;
    const p = `up_blocks.${i}`;
    const layers = k.layers_per_block + 1;
    const attns = type === 'AttnUpBlock2D' ? Array.from({ length: layers }, (_, j) => later('Attention', `${p}.attentions.${j}`, attnParams(outC, k.norm_num_groups))) : [];
    const resnets = Array.from({ length: layers }, (_, j) => later('ResnetBlock2D', `${p}.resnets.${j}`, resnetParams(outC)));
    resnets.forEach((wire, j) => {
      const skip = skips.pop()!;
      const cat = b.add('Concat', `${p}.concat.${j}`, { order: 'x_first' }, { x: h, skip });
      h = wire({ x: cat, emb });
      if (attns.length > 0) h = attns[j]({ x: h });
    });
    if (!last) {
      const name = `${p}.upsamplers.0`;
      const resnetUp = type === 'ResnetUpsampleBlock2D' || (type === 'AttnUpBlock2D' && k.upsample_type === 'resnet');
      h = resnetUp ? b.add('ResnetBlock2D', name, resnetParams(outC, 'up'), { x: h, emb }) : b.add('Upsample', name, { use_conv: true }, { x: h });
    }
  }));

  h = b.add('GroupNorm', 'conv_norm_out', { groups: k.norm_num_groups, eps: k.norm_eps }, { x: h });
  h = b.add('SiLU', 'conv_act', {}, { x: h });
  h = b.add('Conv2d', 'conv_out', { out_channels: k.out_channels, kernel_size: 3, stride: 1, padding: 1, bias: true }, { x: h });
  b.add('Output', 'output', {}, { x: h });

  const notes = diffusersConfigNotes(configIn);
  const desc = `UNet2DModel(block_out_channels=(${boc.join(', ')}), layers_per_block=${k.layers_per_block}, down_block_types=(${k.down_block_types.join(', ')}))${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
  const built = b.build(`diffusers-unet2d-${boc[0]}ch-${height}x${width}`, desc);
  return midCount === 0 ? built : withMidBlockLast(built, midCount);
}

/**
 * Moves the middle block's nodes (made right after the down blocks, so that their ids follow the
 * forward order) to just before conv_norm_out, where PyTorch registers mid_block: after up_blocks.
 */
function withMidBlockLast(g: Graph, count: number): Graph {
  const start = g.nodes.findIndex((nd) => nd.name.startsWith('mid_block.'));
  const mid = g.nodes.slice(start, start + count);
  const rest = [...g.nodes.slice(0, start), ...g.nodes.slice(start + count)];
  const at = rest.findIndex((nd) => nd.name === 'conv_norm_out');
  return { ...g, nodes: [...rest.slice(0, at), ...mid, ...rest.slice(at)] };
}

/**
 * `template diffusers`: a UNet2DConditionModel config (its `_class_name`) builds that model
 * (graph/templates/diffusers-cond.ts), anything else a UNet2DModel.
 */
export function diffusersUNet(config: unknown, imageSize?: ImageSize): Graph {
  return isCondConfig(config) ? diffusersUNet2DCondition(config, imageSize) : diffusersUNet2D(config, imageSize);
}

/**
 * Every preset `template diffusers --preset NAME` offers: the UNet2DModel ones, then Stable Diffusion's
 * UNet2DConditionModel. The form New… generates from the schema has UNet2DModel's keys only, so a
 * UNet2DConditionModel preset is typed against its own schema and listed here through `unknown`
 * (build dispatches on `_class_name`).
 */
const ALL_PRESETS = [...DIFFUSERS_PRESETS, ...(DIFFUSERS_COND_PRESETS as unknown as readonly TemplatePreset<DiffusersConfig>[])];

export const diffusersTemplate = defineTemplate({
  id: 'diffusers',
  label: 'diffusers UNet2DModel',
  description:
    "Hugging Face diffusers' UNet2DModel, or UNet2DConditionModel (Stable Diffusion) when _class_name says so, from its config.json (as on the Hub), with diffusers' module names (its diffusion_pytorch_model.safetensors loads as it is).",
  schema: DiffusersConfig,
  defaults: { label: 'google/ddpm-cifar10-32', kwargs: DDPM_CIFAR10_32 },
  presets: ALL_PRESETS,
  // Every key of the config (a config.json read into the form comes back out whole).
  formFields: [
    'sample_size', 'in_channels', 'out_channels', 'block_out_channels', 'down_block_types', 'up_block_types', 'mid_block_type', 'layers_per_block',
    'attention_head_dim', 'norm_num_groups', 'attn_norm_num_groups', 'norm_eps', 'act_fn', 'resnet_time_scale_shift', 'time_embedding_type',
    'num_train_timesteps', 'time_embedding_dim', 'freq_shift', 'downsample_padding', 'downsample_type', 'upsample_type', 'mid_block_scale_factor',
    'dropout', 'num_class_embeds', 'class_embed_type', '_class_name', '_diffusers_version', '_name_or_path',
    'flip_sin_to_cos', 'center_input_sample', 'add_attention',
  ],
  build: diffusersUNet,
});
