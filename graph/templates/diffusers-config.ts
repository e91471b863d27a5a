/**
 * The inverse of `diffusersUNet2D` (./diffusers.ts): the `UNet2DModel` config that a graph is, read
 * from its nodes under diffusers' module paths, and then proved by rebuilding: `diffusersUNet2D(config)`
 * must give the same nodes (names, types, every parameter) wired the same way (edges up to ids).
 * A graph diffusers cannot express (a block the user added, a changed parameter, a rewired edge) is a
 * {@link DiffusersConfigError} naming the first node that differs and how.
 *
 * Some config keys leave no trace in the module tree; they get one canonical value, so the same graph
 * always gives the same config (and a config imported from the Hub comes back unchanged for every key
 * its graph shows; the parity cases and the published DDPM configs come back byte for byte):
 * - `downsample_type`/`upsample_type` without an AttnDown/AttnUp block that resamples, and the type of
 *   the last down block (no downsampler: `DownBlock2D` ≡ `ResnetDownsampleBlock2D`) and of the last up
 *   block (`UpBlock2D` ≡ `ResnetUpsampleBlock2D`): "resnet" style when every resampler the graph has is
 *   a ResnetBlock2D (OpenAI-style `resblock_updown` models), otherwise the conv style, diffusers' default;
 * - `downsample_padding` without a conv downsampler: 1; `attention_head_dim` without attention: 8;
 *   `add_attention` and `mid_block_scale_factor` without a middle block: true, 1 (diffusers' defaults);
 * - `attention_head_dim` null when every attention has one head of all its channels;
 *   `time_embedding_dim` null when it is 4 × block_out_channels[0]; `attn_norm_num_groups` null when
 *   null gives the same middle attention; `act_fn` "silu" (≡ "swish").
 * Pure: no tfjs.
 */
import type { ParamValue } from '../../blocks/types';
import type { BlockType } from '../../blocks/registry';
import type { Graph, GraphNode } from '../model';
import { resolveParams } from '../params';
import { TemplateError } from './common';
import { diffusersUNet2D } from './diffusers';

/** A graph that is not a diffusers UNet2DModel; `node` is the name of the node the message is about. */
export class DiffusersConfigError extends Error {
  override name = 'DiffusersConfigError';
  constructor(
    message: string,
    readonly node?: string,
  ) {
    super(message);
  }
}

/** A JSON value as diffusers' `save_config` writes it. */
export type ConfigValue = string | number | boolean | null | readonly ConfigValue[];

/**
 * Every key `UNet2DModel.save_config` writes (diffusers 0.40), `_class_name` and `_diffusers_version`
 * included, with the values for this graph.
 */
export type DiffusersSavedConfig = Readonly<Record<string, ConfigValue>>;

/** The diffusers version whose `save_config` output the export reproduces (its key set, its JSON). */
export const DIFFUSERS_VERSION = '0.40.0.dev0';

const q = JSON.stringify;

/** The config of the UNet2DModel this graph is; a DiffusersConfigError names the node when it is none. */
export function diffusersConfigFromGraph(graph: Graph): DiffusersSavedConfig {
  const byName = new Map<string, GraphNode>();
  for (const n of graph.nodes) {
    if (byName.has(n.name)) throw new DiffusersConfigError(`two nodes are named ${q(n.name)}; UNet2DModel's module paths are unique`, n.name);
    byName.set(n.name, n);
  }
  const has = (name: string) => byName.has(name);
  const params = (name: string, type: BlockType): Readonly<Record<string, ParamValue>> => {
    const n = byName.get(name);
    if (!n) throw new DiffusersConfigError(`the graph has no node ${q(name)}, which every UNet2DModel has (diffusers' module paths are the node names)`, name);
    if (n.type !== type) throw new DiffusersConfigError(`${q(name)} is a ${n.type}; in UNet2DModel it is a ${type}`, name);
    return resolveParams(type, n.params).values;
  };
  const num = (v: ParamValue | undefined): number => v as number;

  const x = params('x', 'ImageInput');
  const height = num(x.height);
  const width = num(x.width);
  const c0 = num(params('conv_in', 'Conv2d').out_channels);
  // time_proj: the sinusoid (Timesteps) or, for time_embedding_type "learned", an nn.Embedding;
  // the sinusoid's flip and shift leave no trace then, and take diffusers' defaults.
  const learned = byName.get('time_proj')?.type === 'LearnedTimesteps';
  const proj = learned ? null : params('time_proj', 'Timesteps');
  const trainSteps = learned ? num(params('time_proj', 'LearnedTimesteps').num_embeddings) : null;
  const temb = num(params('time_embedding', 'DiffusersTimestepEmbedding').dim);
  const norm = params('conv_norm_out', 'GroupNorm');
  const outChannels = num(params('conv_out', 'Conv2d').out_channels);
  const numClasses = has('class_embedding') ? num(params('y', 'ClassLabelInput').num_classes) : null;

  let levels = 0;
  while (has(`down_blocks.${levels}.resnets.0`)) levels++;
  if (levels === 0) throw new DiffusersConfigError('the graph has no node "down_blocks.0.resnets.0", which every UNet2DModel has (diffusers\' module paths are the node names)', 'down_blocks.0.resnets.0');
  let layers = 0;
  while (has(`down_blocks.0.resnets.${layers}`)) layers++;
  const r0 = params('down_blocks.0.resnets.0', 'ResnetBlock2D');
  const boc = Array.from({ length: levels }, (_, i) => num(params(`down_blocks.${i}.resnets.0`, 'ResnetBlock2D').out_channels));

  // Resamplers: which kind each level has (undefined: none, as at the last level).
  let resnetSeen = false;
  let convSeen = false;
  let downsampleType: 'conv' | 'resnet' | undefined;
  let upsampleType: 'conv' | 'resnet' | undefined;
  let padding: number | undefined;
  const resampler = (name: string): 'conv' | 'resnet' | undefined => {
    const n = byName.get(name);
    if (!n) return undefined;
    const kind = n.type === 'ResnetBlock2D' ? 'resnet' : 'conv';
    if (kind === 'resnet') resnetSeen = true;
    else convSeen = true;
    if (n.type === 'Downsample2D' && padding === undefined) padding = num(resolveParams('Downsample2D', n.params).values.padding);
    return kind;
  };
  const down = Array.from({ length: levels }, (_, i) => {
    const attn = has(`down_blocks.${i}.attentions.0`);
    const kind = resampler(`down_blocks.${i}.downsamplers.0`);
    if (attn && kind !== undefined) downsampleType ??= kind;
    return { attn, kind };
  });
  const up = Array.from({ length: levels }, (_, i) => {
    const attn = has(`up_blocks.${i}.attentions.0`);
    const kind = resampler(`up_blocks.${i}.upsamplers.0`);
    if (attn && kind !== undefined) upsampleType ??= kind;
    return { attn, kind };
  });
  const style = resnetSeen && !convSeen ? 'resnet' : 'conv';
  const downBlockTypes = down.map(({ attn, kind }) => (attn ? 'AttnDownBlock2D' : (kind ?? style) === 'resnet' ? 'ResnetDownsampleBlock2D' : 'DownBlock2D'));
  const upBlockTypes = up.map(({ attn, kind }) => (attn ? 'AttnUpBlock2D' : (kind ?? style) === 'resnet' ? 'ResnetUpsampleBlock2D' : 'UpBlock2D'));

  // Attention: head size (null: one head of all channels everywhere).
  const heads: { dim: number; channels: number }[] = [];
  for (const [prefix, channels] of [
    ...boc.map((c, i) => [`down_blocks.${i}`, c] as const),
    ...[...boc].reverse().map((c, i) => [`up_blocks.${i}`, c] as const),
    ['mid_block', boc[levels - 1]] as const,
  ]) {
    const name = `${prefix}.attentions.0`;
    if (has(name)) heads.push({ dim: num(params(name, 'Attention').attention_head_dim), channels });
  }
  const headDim = heads.length === 0 ? 8 : heads.every((h) => h.dim === h.channels) ? null : heads[0].dim;

  const shift = r0.time_embedding_norm as string;
  const groups = num(norm.groups);
  const hasMid = has('mid_block.resnets.0');
  const midAttn = hasMid && has('mid_block.attentions.0');
  let attnGroups: number | null = null;
  if (midAttn) {
    const a = params('mid_block.attentions.0', 'Attention');
    if (a.group_norm === true && !(shift === 'default' && num(a.norm_groups) === groups)) attnGroups = num(a.norm_groups);
  }

  const config: Record<string, ConfigValue> = {
    _class_name: 'UNet2DModel',
    _diffusers_version: DIFFUSERS_VERSION,
    act_fn: r0.act_fn === 'mish' ? 'mish' : 'silu',
    add_attention: hasMid ? midAttn : true,
    attention_head_dim: headDim,
    attn_norm_num_groups: attnGroups,
    block_out_channels: boc,
    center_input_sample: has('center_input_sample'),
    class_embed_type: null,
    down_block_types: downBlockTypes,
    downsample_padding: padding ?? 1,
    downsample_type: downsampleType ?? style,
    dropout: num(r0.dropout),
    flip_sin_to_cos: proj ? (proj.flip_sin_to_cos as boolean) : true,
    freq_shift: proj ? num(proj.downscale_freq_shift) : 0,
    in_channels: num(x.channels),
    layers_per_block: layers,
    mid_block_scale_factor: hasMid ? num(params('mid_block.resnets.0', 'ResnetBlock2D').output_scale_factor) : 1,
    mid_block_type: hasMid ? 'UNetMidBlock2D' : null,
    norm_eps: num(norm.eps),
    norm_num_groups: groups,
    num_class_embeds: numClasses,
    num_train_timesteps: trainSteps,
    out_channels: outChannels,
    resnet_time_scale_shift: shift,
    sample_size: height === width ? height : [height, width],
    time_embedding_dim: temb === 4 * c0 ? null : temb,
    time_embedding_type: learned ? 'learned' : 'positional',
    up_block_types: upBlockTypes,
    upsample_type: upsampleType ?? style,
  };
  proveSame(graph, config, { height, width });
  return config;
}

/** Throws a DiffusersConfigError naming the first node where `graph` and `diffusersUNet2D(config)` differ. */
function proveSame(graph: Graph, config: DiffusersSavedConfig, size: { height: number; width: number }): void {
  let built: Graph;
  try {
    built = diffusersUNet2D(config, size);
  } catch (e) {
    if (e instanceof TemplateError) throw new DiffusersConfigError(`the graph reads as a UNet2DModel config that diffusers refuses: ${e.message}`);
    throw e;
  }
  const cannot = (node: GraphNode, why: string) =>
    new DiffusersConfigError(`diffusers' UNet2DModel cannot express this graph: ${node.type} ${q(node.name)}: ${why}`, node.name);
  const inputsOf = (g: Graph): Map<string, Map<string, string>> => {
    const names = new Map(g.nodes.map((n) => [n.id, n.name]));
    const out = new Map<string, Map<string, string>>();
    for (const e of g.edges) {
      const to = names.get(e.to.node);
      const from = names.get(e.from.node);
      if (to === undefined || from === undefined) continue; // a dangling edge: the graph's check reports it
      const m = out.get(to) ?? new Map<string, string>();
      m.set(e.to.port, e.from.port === 'out' ? from : `${from}.${e.from.port}`);
      out.set(to, m);
    }
    return out;
  };
  const mine = new Map(graph.nodes.map((n) => [n.name, n]));
  const gotInputs = inputsOf(graph);
  const wantInputs = inputsOf(built);
  const wantNames = new Set(built.nodes.map((n) => n.name));
  // A node UNet2DModel has no module for (a block the user added or renamed) first: it is the one to name.
  const extra = graph.nodes.find((n) => !wantNames.has(n.name));
  const missing = built.nodes.find((n) => !mine.has(n.name));
  if (extra) {
    throw cannot(
      extra,
      missing
        ? `UNet2DModel has no module of that name, and the graph lacks ${q(missing.name)} (${missing.type}), which UNet2DModel(${shortConfig(config)}) has: was it renamed?`
        : 'UNet2DModel has no such module (remove the block, or export to another target)',
    );
  }
  if (missing) {
    throw new DiffusersConfigError(`diffusers' UNet2DModel cannot express this graph: it lacks ${q(missing.name)} (${missing.type}), which UNet2DModel(${shortConfig(config)}) has`, missing.name);
  }
  for (const want of built.nodes) {
    const got = mine.get(want.name)!;
    if (got.type !== want.type) throw cannot(got, `UNet2DModel has a ${want.type} there`);
    const a = resolveParams(got.type, got.params).values;
    const b = resolveParams(want.type, want.params).values;
    for (const key of Object.keys(b)) {
      if (a[key] !== b[key]) throw cannot(got, `${key} is ${q(a[key])}, but UNet2DModel(${shortConfig(config)}) has ${q(b[key])} there`);
    }
    const gi = gotInputs.get(want.name) ?? new Map<string, string>();
    const wi = wantInputs.get(want.name) ?? new Map<string, string>();
    for (const port of new Set([...wi.keys(), ...gi.keys()])) {
      const g = gi.get(port);
      const w = wi.get(port);
      if (g !== w) {
        throw cannot(got, `its input ${q(port)} comes from ${g === undefined ? 'nothing' : q(g)}, but in UNet2DModel from ${w === undefined ? 'nothing' : q(w)}`);
      }
    }
  }
}

const shortConfig = (c: DiffusersSavedConfig) =>
  `block_out_channels=${q(c.block_out_channels)}, layers_per_block=${q(c.layers_per_block)}, down_block_types=${q(c.down_block_types)}`;
