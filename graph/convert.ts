/**
 * Converting a graph and its weights between the two naming worlds of diffusion UNets:
 *
 * - **openai**: improved/guided-diffusion's `UNetModel` (`input_blocks.K.M`, `middle_block.M`,
 *   `output_blocks.K.M`, `time_embed`, `out.2`; `ResBlock`, `AttentionBlock` with one fused `qkv`
 *   Conv1d, `Downsample` with its `op`);
 * - **diffusers**: Hugging Face diffusers' `UNet2DModel` (`down_blocks.L.resnets.J`, `mid_block`,
 *   `up_blocks.L.upsamplers.0`, `time_embedding`, `conv_out`; `ResnetBlock2D`, `Attention` with
 *   separate `to_q`/`to_k`/`to_v`, `Downsample2D` with its `conv`).
 *
 * Block by block: each node keeps its id and its edges; its name, type and parameters become its
 * counterpart's, and each of its weights a rule saying which rows of which source tensors make it
 * (a rename, a reshape of a 1×1 Conv1d into a Linear, or the q|k|v split of a fused `qkv`). A block
 * with no counterpart (diffusers' `norm_eps` 1e-6 against OpenAI's fixed GroupNorm32, the DDPM
 * checkpoints' `[sin | cos]` embedding, a `Rescale`, a 3×3 skip conv…) makes the whole conversion
 * fail with one error that lists every such block by name and says why; nothing is half-converted.
 *
 * The attention detail that bites: OpenAI's legacy `QKVAttentionLegacy` lays `qkv`'s 3C output
 * channels out per head (`[head 0: q k v | head 1: q k v | …]`), `QKVAttention`
 * (`use_new_attention_order`) as `[q: all heads | k | v]`; diffusers has one projection each with the
 * heads side by side. And OpenAI counts heads (`num_heads`, or `num_head_channels` per head) where
 * diffusers gives the head size (`attention_head_dim`). Converting to OpenAI names writes the legacy
 * order (what improved-diffusion reads, and guided-diffusion by default), so an OpenAI graph in the
 * legacy order comes back byte for byte after a round trip.
 *
 * Pure: no tfjs. Weights are the decoded `.safetensors` tensors (any float dtype, which is kept).
 */
import type { Graph, GraphGroup, GraphNode } from './model';
import { analyze, nodeLabel, nodeWeights, type NodeInfo } from './analyze';
import { expectedWeights, type ExpectedWeight } from './weights';
import type { ParamValue } from '../blocks/types';
import type { BlockType } from '../blocks/registry';
import type { SafetensorsTensor } from '../weights/safetensors';
import { checkStateDict } from '../weights/pytorch';
import { withLegacyNames } from '../weights/legacy';

export type Naming = 'openai' | 'diffusers';
export const NAMINGS: readonly Naming[] = ['openai', 'diffusers'];
export const NAMING_LABEL: Readonly<Record<Naming, string>> = {
  openai: "OpenAI's UNetModel (improved/guided-diffusion)",
  diffusers: "diffusers' UNet2DModel",
};

export class ConversionError extends Error {
  override name = 'ConversionError';
}

/** Rows `[start, end)` along dimension 0 of the source tensor `from`. */
export interface WeightPiece {
  readonly from: string;
  readonly start: number;
  readonly end: number;
}

/** A target weight: its pieces, concatenated along dimension 0 and viewed as `shape`. */
export interface WeightRule {
  readonly to: string;
  readonly shape: readonly number[];
  readonly pieces: readonly WeightPiece[];
}

export interface NamingConversion {
  readonly from: Naming;
  readonly to: Naming;
  readonly graph: Graph;
  /** One per weight of the converted graph, in its state_dict order. */
  readonly weights: readonly WeightRule[];
  /** What the source graph owns (for the strict check of the weights given). */
  readonly source: readonly ExpectedWeight[];
  /** Old name → new name for every node. */
  readonly renamed: ReadonlyMap<string, string>;
}

/** Block types only one world has: the graph's naming by its blocks, or null when it has none of them. */
const OPENAI_TYPES: ReadonlySet<BlockType> = new Set(['ResBlock', 'AttentionBlock', 'TimestepEmbedding', 'TimeEmbedMLP', 'Downsample']);
const DIFFUSERS_TYPES: ReadonlySet<BlockType> = new Set(['ResnetBlock2D', 'Attention', 'Timesteps', 'DiffusersTimestepEmbedding', 'Downsample2D', 'LearnedTimesteps', 'Rescale']);

/** Which world a graph's blocks (and failing that, its names) belong to; null when neither. */
export function namingOf(graph: Graph): Naming | null {
  const o = graph.nodes.filter((n) => OPENAI_TYPES.has(n.type)).length;
  const d = graph.nodes.filter((n) => DIFFUSERS_TYPES.has(n.type)).length;
  if (o !== d) return o > d ? 'openai' : 'diffusers';
  if (graph.nodes.some((n) => /^(input_blocks|middle_block|output_blocks)\./.test(n.name))) return 'openai';
  if (graph.nodes.some((n) => /^(down_blocks|mid_block|up_blocks)\./.test(n.name))) return 'diffusers';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Names

/** Nodes whose names do not move with the structure, both ways. */
const FIXED: readonly (readonly [openai: string, diffusers: string])[] = [
  ['timestep_embedding', 'time_proj'],
  ['time_embed', 'time_embedding'],
  ['label_emb', 'class_embedding'],
  ['input_blocks.0.0', 'conv_in'],
  ['out.0', 'conv_norm_out'],
  ['out.1', 'conv_act'],
  ['out.2', 'conv_out'],
];
/** Types whose nodes keep their names (inputs and the output). */
const KEEP_NAME: ReadonlySet<BlockType> = new Set(['ImageInput', 'TimestepsInput', 'ClassLabelInput', 'Output']);

const num = (s: string): number => (/^\d+$/.test(s) ? Number(s) : NaN);

/** Problems are collected per node; every one is reported together. */
type Problems = Map<string, string[]>;
const problem = (p: Problems, id: string, msg: string): void => {
  p.set(id, [...(p.get(id) ?? []), msg]);
};

const isDown = (n: NodeInfo): boolean => n.node.type === 'Downsample' || (n.node.type === 'ResBlock' && n.params.resample === 'down');
const isUp = (n: NodeInfo): boolean => n.node.type === 'Upsample' || (n.node.type === 'ResBlock' && n.params.resample === 'up');

/** Nodes by the integer after a prefix (`input_blocks.K.rest`), in K order; the rest of the name kept. */
function byIndex(infos: readonly NodeInfo[], prefix: string): [number, { info: NodeInfo; rest: string }[]][] {
  const m = new Map<number, { info: NodeInfo; rest: string }[]>();
  for (const info of infos) {
    const parts = info.node.name.slice(prefix.length + 1).split('.');
    const k = num(parts[0]);
    m.set(k, [...(m.get(k) ?? []), { info, rest: parts.slice(1).join('.') }]);
  }
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}

const NAME_HINT: Readonly<Record<Naming, string>> = {
  openai: 'input_blocks.K.M, middle_block.M, output_blocks.K.M, timestep_embedding, time_embed, label_emb, out.0–2',
  diffusers: 'conv_in, time_proj, time_embedding, class_embedding, down_blocks.L.(resnets|attentions).J, down_blocks.L.downsamplers.0, mid_block.(resnets|attentions).J, up_blocks.L.(concat|resnets|attentions).J, up_blocks.L.upsamplers.0, conv_norm_out, conv_act, conv_out',
};

/** OpenAI module paths → diffusers'. (`_levels`: diffusers' groups follow from its names alone.) */
function namesToDiffusers(infos: readonly NodeInfo[], p: Problems, _levels: Levels): Map<string, string> {
  const out = new Map<string, string>();
  const fixed = new Map(FIXED);
  const inputs: NodeInfo[] = [];
  const middle: NodeInfo[] = [];
  const outputs: NodeInfo[] = [];
  for (const info of infos) {
    const name = info.node.name;
    if (KEEP_NAME.has(info.node.type)) out.set(info.node.id, name);
    else if (fixed.has(name)) out.set(info.node.id, fixed.get(name)!);
    else if (/^input_blocks\.\d+\.\d+$/.test(name)) inputs.push(info);
    else if (/^middle_block\.\d+$/.test(name)) middle.push(info);
    else if (/^output_blocks\.\d+\.(cat|\d+)$/.test(name)) outputs.push(info);
    else problem(p, info.node.id, `its name is not one of OpenAI's UNetModel module paths (${NAME_HINT.openai}), so it has no place in diffusers' UNet2DModel`);
  }
  let level = 0;
  let j = 0;
  for (const [, entry] of byIndex(inputs, 'input_blocks')) {
    if (entry.some((e) => isDown(e.info))) {
      for (const e of entry) {
        if (entry.length === 1) out.set(e.info.node.id, `down_blocks.${level}.downsamplers.0`);
        else problem(p, e.info.node.id, 'it shares its input_blocks entry with a downsampler; diffusers keeps a downsampler alone at the end of a down block');
      }
      level++;
      j = 0;
      continue;
    }
    for (const e of entry) {
      const t = e.info.node.type;
      if (t === 'ResBlock' && e.rest === '0') out.set(e.info.node.id, `down_blocks.${level}.resnets.${j}`);
      else if (t === 'AttentionBlock' && e.rest === '1') out.set(e.info.node.id, `down_blocks.${level}.attentions.${j}`);
      else problem(p, e.info.node.id, `diffusers' down blocks hold a resnet (.0) and an attention (.1) per layer, not a ${t} at .${e.rest}`);
    }
    j++;
  }
  let r = 0;
  let a = 0;
  for (const info of [...middle].sort((x, y) => num(x.node.name.split('.')[1]) - num(y.node.name.split('.')[1]))) {
    if (info.node.type === 'ResBlock' && !isDown(info) && !isUp(info)) out.set(info.node.id, `mid_block.resnets.${r++}`);
    else if (info.node.type === 'AttentionBlock') out.set(info.node.id, `mid_block.attentions.${a++}`);
    else problem(p, info.node.id, `diffusers' mid block holds resnets and attentions only, not a ${info.node.type}`);
  }
  level = 0;
  j = 0;
  for (const [, entry] of byIndex(outputs, 'output_blocks')) {
    let ends = false;
    for (const e of entry) {
      const t = e.info.node.type;
      if (isUp(e.info)) {
        out.set(e.info.node.id, `up_blocks.${level}.upsamplers.0`);
        ends = true;
      } else if (t === 'Concat' && e.rest === 'cat') out.set(e.info.node.id, `up_blocks.${level}.concat.${j}`);
      else if (t === 'ResBlock' && e.rest === '0') out.set(e.info.node.id, `up_blocks.${level}.resnets.${j}`);
      else if (t === 'AttentionBlock' && e.rest === '1') out.set(e.info.node.id, `up_blocks.${level}.attentions.${j}`);
      else problem(p, e.info.node.id, `diffusers' up blocks hold a concat, a resnet (.0), an attention (.1) and a last upsampler, not a ${t} at .${e.rest}`);
    }
    j++;
    if (ends) {
      level++;
      j = 0;
    }
  }
  return out;
}

/** Where a node sits among a UNet's levels (for the groups of the converted graph). */
type Levels = Map<string, { readonly side: 'encoder' | 'decoder'; readonly level: number }>;

/** diffusers module paths → OpenAI's; `levels` receives each encoder/decoder node's level (0 = full resolution). */
function namesToOpenai(infos: readonly NodeInfo[], p: Problems, levels: Levels): Map<string, string> {
  const out = new Map<string, string>();
  const fixed = new Map(FIXED.map(([o, d]) => [d, o] as const));
  /** down/up: level → layer → part → node */
  interface Down {
    resnets: Map<number, NodeInfo>;
    attentions: Map<number, NodeInfo>;
    sampler?: NodeInfo;
  }
  interface Up extends Down {
    concat: Map<number, NodeInfo>;
  }
  const down = new Map<number, Down>();
  const up = new Map<number, Up>();
  const newDown = (): Down => ({ resnets: new Map(), attentions: new Map() });
  const newUp = (): Up => ({ resnets: new Map(), attentions: new Map(), concat: new Map() });
  const mid = { resnets: new Map<number, NodeInfo>(), attentions: new Map<number, NodeInfo>() };
  const level = <T>(m: Map<number, T>, k: number, make: () => T): T => {
    if (!m.has(k)) m.set(k, make());
    return m.get(k)!;
  };
  for (const info of infos) {
    const name = info.node.name;
    const id = info.node.id;
    let mm: RegExpExecArray | null;
    if (KEEP_NAME.has(info.node.type)) out.set(id, name);
    else if (fixed.has(name)) {
      out.set(id, fixed.get(name)!);
      if (name === 'conv_in') levels.set(id, { side: 'encoder', level: 0 });
    } else if ((mm = /^down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)$/.exec(name))) {
      level(down, num(mm[1]), newDown)[mm[2] as 'resnets' | 'attentions'].set(num(mm[3]), info);
    } else if ((mm = /^down_blocks\.(\d+)\.downsamplers\.0$/.exec(name))) {
      level(down, num(mm[1]), newDown).sampler = info;
    } else if ((mm = /^up_blocks\.(\d+)\.(resnets|attentions|concat)\.(\d+)$/.exec(name))) {
      level(up, num(mm[1]), newUp)[mm[2] as 'resnets' | 'attentions' | 'concat'].set(num(mm[3]), info);
    } else if ((mm = /^up_blocks\.(\d+)\.upsamplers\.0$/.exec(name))) {
      level(up, num(mm[1]), newUp).sampler = info;
    } else if ((mm = /^mid_block\.(resnets|attentions)\.(\d+)$/.exec(name))) {
      mid[mm[1] as 'resnets' | 'attentions'].set(num(mm[2]), info);
    } else problem(p, id, `its name is not one of diffusers' UNet2DModel module paths (${NAME_HINT.diffusers}), so it has no place in OpenAI's UNetModel`);
  }
  const layers = (...ms: Map<number, NodeInfo>[]): number[] => [...new Set(ms.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  for (const [l, lv] of down) for (const nd of [...lv.resnets.values(), ...lv.attentions.values(), ...(lv.sampler ? [lv.sampler] : [])]) levels.set(nd.node.id, { side: 'encoder', level: l });
  const ups = Math.max(-1, ...up.keys()) + 1;
  for (const [l, lv] of up) for (const nd of [...lv.resnets.values(), ...lv.attentions.values(), ...lv.concat.values(), ...(lv.sampler ? [lv.sampler] : [])]) levels.set(nd.node.id, { side: 'decoder', level: ups - 1 - l });
  let k = 1;
  for (const [, lv] of [...down.entries()].sort((a, b) => a[0] - b[0])) {
    for (const j of layers(lv.resnets, lv.attentions)) {
      const r = lv.resnets.get(j);
      const at = lv.attentions.get(j);
      if (r) out.set(r.node.id, `input_blocks.${k}.0`);
      if (at) out.set(at.node.id, `input_blocks.${k}.${r ? 1 : 0}`);
      k++;
    }
    if (lv.sampler) out.set(lv.sampler.node.id, `input_blocks.${k++}.0`);
  }
  let m = 0;
  for (const j of layers(mid.resnets, mid.attentions)) {
    const r = mid.resnets.get(j);
    const at = mid.attentions.get(j);
    if (r) out.set(r.node.id, `middle_block.${m++}`);
    if (at) out.set(at.node.id, `middle_block.${m++}`);
  }
  k = 0;
  for (const [, lv] of [...up.entries()].sort((a, b) => a[0] - b[0])) {
    const js = layers(lv.resnets, lv.attentions, lv.concat);
    js.forEach((j, idx) => {
      const cat = lv.concat.get(j);
      const r = lv.resnets.get(j);
      const at = lv.attentions.get(j);
      let sub = 0;
      if (cat) out.set(cat.node.id, `output_blocks.${k}.cat`);
      if (r) out.set(r.node.id, `output_blocks.${k}.${sub++}`);
      if (at) out.set(at.node.id, `output_blocks.${k}.${sub++}`);
      if (idx === js.length - 1 && lv.sampler) out.set(lv.sampler.node.id, `output_blocks.${k}.${sub}`);
      k++;
    });
    if (js.length === 0 && lv.sampler) out.set(lv.sampler.node.id, `output_blocks.${k++}.0`);
  }
  return out;
}

/** Where a node sits in its world's registration order (PyTorch's `state_dict()` order): a sort key. */
function orderKey(to: Naming, node: GraphNode, original: number): (number | string)[] {
  const parts = node.name.split('.');
  const n = (s: string | undefined): number => (s === undefined ? -1 : s === 'cat' ? -0.5 : num(s));
  if (KEEP_NAME.has(node.type)) {
    const rank: Partial<Record<BlockType, number>> = to === 'openai' ? { ImageInput: 0, TimestepsInput: 1, ClassLabelInput: 4, Output: 99 } : { ImageInput: 0, TimestepsInput: 1, ClassLabelInput: 2, Output: 99 };
    return [rank[node.type] ?? 0, original];
  }
  if (to === 'openai') {
    const top: Record<string, number> = { timestep_embedding: 2, time_embed: 3, label_emb: 5, input_blocks: 6, middle_block: 7, output_blocks: 8, out: 9 };
    return [top[parts[0]] ?? 98, n(parts[1]), n(parts[2]), original];
  }
  const top: Record<string, number> = { center_input_sample: 3, conv_in: 4, time_proj: 5, time_embedding: 6, class_embedding: 7, down_blocks: 8, up_blocks: 9, mid_block: 10, conv_norm_out: 11, conv_act: 12, conv_out: 13 };
  const part: Record<string, number> = { attentions: 0, resnets: 1, concat: 2, downsamplers: 3, upsamplers: 3 };
  if (parts[0] === 'mid_block') return [10, 0, part[parts[1]] ?? 9, n(parts[2]), original];
  return [top[parts[0]] ?? 98, n(parts[1]), part[parts[2]] ?? 9, n(parts[3]), original];
}

function compareKeys(a: readonly (number | string)[], b: readonly (number | string)[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? -Infinity;
    const y = b[i] ?? -Infinity;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * The converted graph's groups, as its world's template makes them (graph/templates): diffusers'
 * modules `down_blocks.L`, `mid_block`, `up_blocks.L`; or OpenAI's levels `encoder.k` / `decoder.k`
 * holding their `input_blocks.N` / `output_blocks.N` where those hold more than one block, then
 * `middle_block` and `out`. The source's own groups do not survive a renaming of every block.
 */
function convertedGroups(nodes: readonly GraphNode[], to: Naming, levels: Levels): GraphGroup[] {
  const specs: { name: string; parent?: string; members: string[] }[] = [];
  const spec = (name: string, parent?: string) => {
    let g = specs.find((x) => x.name === name);
    if (!g) specs.push((g = { name, ...(parent !== undefined ? { parent } : {}), members: [] }));
    return g;
  };
  const index = (name: string) => num(name.split('.')[1]);
  if (to === 'diffusers') {
    const of = (nd: GraphNode) => /^(down_blocks\.\d+|up_blocks\.\d+|mid_block)\./.exec(nd.name)?.[1];
    const names = [...new Set(nodes.map(of).filter((x): x is string => x !== undefined))];
    const rank = (n: string) => (n.startsWith('down') ? 0 : n === 'mid_block' ? 1 : 2);
    for (const n of names.sort((a, b) => rank(a) - rank(b) || index(a) - index(b))) spec(n);
    for (const nd of nodes) {
      const g = of(nd);
      if (g) spec(g).members.push(nd.id);
    }
  } else {
    const enc = [...new Set([...levels.values()].filter((l) => l.side === 'encoder').map((l) => l.level))].sort((a, b) => a - b);
    const dec = [...new Set([...levels.values()].filter((l) => l.side === 'decoder').map((l) => l.level))].sort((a, b) => b - a);
    const entries = new Map<string, string[]>();
    for (const nd of nodes) {
      const m = /^((?:input|output)_blocks\.\d+)\./.exec(nd.name);
      if (m) entries.set(m[1], [...(entries.get(m[1]) ?? []), nd.id]);
    }
    const level = (side: 'encoder' | 'decoder', l: number) => {
      const parent = `${side}.${l}`;
      spec(parent);
      for (const nd of nodes) {
        const at = levels.get(nd.id);
        if (!at || at.side !== side || at.level !== l) continue;
        const entry = /^((?:input|output)_blocks\.\d+)\./.exec(nd.name)?.[1];
        (entry && (entries.get(entry)?.length ?? 0) > 1 ? spec(entry, parent) : spec(parent)).members.push(nd.id);
      }
    };
    for (const l of enc) level('encoder', l);
    for (const nd of nodes) if (nd.name.startsWith('middle_block.')) spec('middle_block').members.push(nd.id);
    for (const l of dec) level('decoder', l);
    for (const nd of nodes) if (/^out\.\d+$/.test(nd.name)) spec('out').members.push(nd.id);
  }
  const kept = specs.filter((g) => g.members.length > 0 || specs.some((c) => c.parent === g.name));
  const ids = new Map(kept.map((g, i) => [g.name, `g${i + 1}`]));
  return kept.map((g) => ({ id: ids.get(g.name)!, name: g.name, ...(g.parent !== undefined ? { parent: ids.get(g.parent)! } : {}), nodes: g.members }));
}

// ---------------------------------------------------------------------------------------------
// Blocks

type Params = Record<string, ParamValue>;
/** A node's counterpart: its type and parameters, and its weights' sub-keys (source → target, with the row pieces). */
interface Counterpart {
  readonly type: BlockType;
  readonly params: Params;
  /** For each target sub-key: its shape and the pieces (source sub-keys and rows). */
  readonly weights: (src: (key: string) => readonly number[]) => readonly { key: string; shape: readonly number[]; pieces: readonly { key: string; start: number; end: number }[] }[];
}

/** Renamed sub-keys, each tensor whole (a 1×1 Conv1d and a Linear have the same rows). */
const renames =
  (pairs: readonly (readonly [from: string, to: string])[], reshape: Readonly<Record<string, (s: readonly number[]) => readonly number[]>> = {}) =>
  (src: (key: string) => readonly number[]) =>
    pairs.flatMap(([from, to]) => {
      let shape: readonly number[];
      try {
        shape = src(from);
      } catch {
        return []; // a weight the node does not have (a bias-less conv, no skip conv)
      }
      return [{ key: to, shape: reshape[to]?.(shape) ?? shape, pieces: [{ key: from, start: 0, end: shape[0] }] }];
    });

const both = (pre: string, to: string): [string, string][] => [
  [`${pre}.weight`, `${to}.weight`],
  [`${pre}.bias`, `${to}.bias`],
];
const swap = (pairs: [string, string][]): [string, string][] => pairs.map(([a, b]) => [b, a]);

const RES_PAIRS: [string, string][] = [
  ...both('in_layers.0', 'norm1'),
  ...both('in_layers.2', 'conv1'),
  ...both('emb_layers.1', 'time_emb_proj'),
  ...both('out_layers.0', 'norm2'),
  ...both('out_layers.3', 'conv2'),
  ...both('skip_connection', 'conv_shortcut'),
];

/**
 * The rows of q, k and v inside OpenAI's fused qkv (3C rows) for `heads` heads of `ch` channels:
 * legacy `[head h: q k v]` or new order `[q: heads | k: heads | v: heads]`. Each is a list of row
 * ranges, head 0 first (diffusers' to_q/to_k/to_v rows in order).
 */
export function qkvRows(c: number, heads: number, newOrder: boolean): Record<'q' | 'k' | 'v', { start: number; end: number }[]> {
  const ch = c / heads;
  const out = { q: [] as { start: number; end: number }[], k: [] as { start: number; end: number }[], v: [] as { start: number; end: number }[] };
  (['q', 'k', 'v'] as const).forEach((which, i) => {
    if (newOrder) out[which].push({ start: i * c, end: (i + 1) * c });
    else for (let h = 0; h < heads; h++) out[which].push({ start: h * 3 * ch + i * ch, end: h * 3 * ch + (i + 1) * ch });
  });
  return out;
}

const same = (v: ParamValue, w: ParamValue): boolean => v === w;

/** OpenAI block → diffusers counterpart (or the reason there is none). */
function toDiffusers(info: NodeInfo): Counterpart | string {
  if (SAME_IN_BOTH.has(info.node.type)) return identity(info);
  const p = info.params;
  const c = info.inputs.x?.shape?.dims[0] ?? 0;
  switch (info.node.type) {
    case 'TimestepEmbedding':
      return {
        type: 'Timesteps',
        params: { num_channels: p.dim, flip_sin_to_cos: true, downscale_freq_shift: 0, scale: 1, max_period: p.max_period },
        weights: () => [],
      };
    case 'TimeEmbedMLP':
      return { type: 'DiffusersTimestepEmbedding', params: { dim: p.dim }, weights: renames([...both('0', 'linear_1'), ...both('2', 'linear_2')]) };
    case 'ResBlock':
      if (p.skip_conv === '3x3' && c !== p.out_channels) return "its 3×3 skip conv has no counterpart (diffusers' conv_shortcut is 1×1)";
      return {
        type: 'ResnetBlock2D',
        params: {
          out_channels: p.out_channels,
          groups: 32,
          eps: 1e-5,
          time_embedding_norm: p.use_scale_shift_norm ? 'scale_shift' : 'default',
          output_scale_factor: 1,
          resample: p.resample,
          skip_time_act: false,
          dropout: p.dropout,
          act_fn: 'silu',
        },
        weights: renames(RES_PAIRS),
      };
    case 'AttentionBlock': {
      const heads = (p.num_head_channels as number) > 0 ? c / (p.num_head_channels as number) : (p.num_heads as number);
      const rows = qkvRows(c, heads, p.use_new_attention_order === true);
      return {
        type: 'Attention',
        params: { attention_head_dim: c / heads, group_norm: true, norm_groups: 32, eps: 1e-5, residual_connection: true, rescale_output_factor: 1 },
        weights: (src) => [
          ...renames(both('norm', 'group_norm'))(src),
          ...(['q', 'k', 'v'] as const).flatMap((which) => [
            { key: `to_${which}.weight`, shape: [c, c], pieces: rows[which].map((r) => ({ key: 'qkv.weight', ...r })) },
            { key: `to_${which}.bias`, shape: [c], pieces: rows[which].map((r) => ({ key: 'qkv.bias', ...r })) },
          ]),
          ...renames(both('proj_out', 'to_out.0'), { 'to_out.0.weight': (s) => [s[0], s[1]] })(src),
        ],
      };
    }
    case 'Downsample':
      return { type: 'Downsample2D', params: { use_conv: p.use_conv, padding: 1 }, weights: renames(both('op', 'conv')) };
    case 'Conv2d':
      // OpenAI zero-initialises its output conv; diffusers does not (initialisation only).
      return { type: 'Conv2d', params: { ...p, zero_init: false }, weights: renames([['weight', 'weight'], ['bias', 'bias']]) };
    default:
      return `a ${info.node.type} has no counterpart in ${NAMING_LABEL.diffusers}`;
  }
}

/** Blocks both worlds use as they are (Conv2d too, but its zero_init follows each world's convention). */
const SAME_IN_BOTH: ReadonlySet<BlockType> = new Set(['Upsample', 'LabelEmbedding', 'GroupNorm', 'SiLU', 'Concat', 'ImageInput', 'TimestepsInput', 'ClassLabelInput', 'Output']);

/** The same block in both worlds: parameters and weights unchanged. */
function identity(info: NodeInfo): Counterpart {
  return {
    type: info.node.type,
    params: { ...info.params },
    weights: (src) => {
      return nodeWeights(info).map(({ key: k }) => {
        const shape = src(k);
        return { key: k, shape, pieces: [{ key: k, start: 0, end: shape[0] }] };
      });
    },
  };
}

/** diffusers block → OpenAI counterpart (or the reason there is none). */
function toOpenai(info: NodeInfo, newName: string): Counterpart | string {
  if (SAME_IN_BOTH.has(info.node.type)) return identity(info);
  const p = info.params;
  const c = info.inputs.x?.shape?.dims[0] ?? 0;
  const why: string[] = [];
  const need = (key: string, want: ParamValue, what: string): void => {
    if (!same(p[key], want)) why.push(`${key} ${JSON.stringify(p[key])} (${what})`);
  };
  switch (info.node.type) {
    case 'Timesteps':
      need('flip_sin_to_cos', true, 'OpenAI\'s timestep_embedding is always [cos | sin]');
      need('downscale_freq_shift', 0, 'OpenAI shifts no frequency');
      need('scale', 1, 'OpenAI does not scale');
      if (why.length > 0) return `no counterpart in OpenAI's timestep_embedding: ${why.join('; ')}`;
      return { type: 'TimestepEmbedding', params: { dim: p.num_channels, max_period: p.max_period }, weights: () => [] };
    case 'DiffusersTimestepEmbedding':
      return { type: 'TimeEmbedMLP', params: { dim: p.dim }, weights: renames(swap([...both('0', 'linear_1'), ...both('2', 'linear_2')])) };
    case 'ResnetBlock2D':
      need('groups', 32, "OpenAI's ResBlock normalises with GroupNorm32: 32 groups");
      need('eps', 1e-5, "GroupNorm32's eps is 1e-5");
      need('output_scale_factor', 1, 'OpenAI does not rescale');
      need('skip_time_act', false, 'OpenAI applies SiLU to the embedding');
      need('act_fn', 'silu', 'OpenAI uses SiLU');
      if (why.length > 0) return `no counterpart in OpenAI's ResBlock: ${why.join('; ')}`;
      return {
        type: 'ResBlock',
        params: { out_channels: p.out_channels, use_scale_shift_norm: p.time_embedding_norm === 'scale_shift', skip_conv: '1x1', resample: p.resample, dropout: p.dropout },
        weights: renames(swap(RES_PAIRS)),
      };
    case 'Attention': {
      const dh = p.attention_head_dim as number;
      const heads = dh > 0 ? Math.floor(c / dh) : 1;
      const size = dh > 0 ? dh : c;
      need('group_norm', true, "OpenAI's AttentionBlock always normalises first");
      if (p.group_norm === true) need('norm_groups', 32, 'GroupNorm32: 32 groups');
      if (p.group_norm === true) need('eps', 1e-5, "GroupNorm32's eps is 1e-5");
      need('residual_connection', true, 'OpenAI adds the input back');
      need('rescale_output_factor', 1, 'OpenAI does not rescale');
      if (heads * size !== c) why.push(`attention_head_dim ${dh} does not divide the ${c} channels (OpenAI's heads split all of them)`);
      if (why.length > 0) return `no counterpart in OpenAI's AttentionBlock: ${why.join('; ')}`;
      const rows = qkvRows(c, heads, false);
      return {
        type: 'AttentionBlock',
        params: { num_heads: heads, num_head_channels: -1, use_new_attention_order: false },
        weights: (src) => {
          // Target row r of qkv comes from one of to_q/to_k/to_v: walk the legacy layout in order.
          const pieces = (suffix: string) => {
            const all = (['q', 'k', 'v'] as const).flatMap((which) => rows[which].map((r, h) => ({ which, h, ...r })));
            all.sort((a, b) => a.start - b.start);
            return all.map((r) => ({ key: `to_${r.which}.${suffix}`, start: r.h * size, end: (r.h + 1) * size }));
          };
          return [
            ...renames(swap(both('norm', 'group_norm')))(src),
            { key: 'qkv.weight', shape: [3 * c, c, 1], pieces: pieces('weight') },
            { key: 'qkv.bias', shape: [3 * c], pieces: pieces('bias') },
            ...renames(swap(both('proj_out', 'to_out.0')), { 'proj_out.weight': (s) => [s[0], s[1], 1] })(src),
          ];
        },
      };
    }
    case 'Downsample2D':
      if (p.use_conv === true && p.padding !== 1) return `no counterpart in OpenAI's Downsample: padding ${JSON.stringify(p.padding)} (OpenAI pads the stride-2 conv by 1 on every side)`;
      return { type: 'Downsample', params: { use_conv: p.use_conv }, weights: renames(swap(both('op', 'conv'))) };
    case 'Conv2d':
      return { type: 'Conv2d', params: { ...p, zero_init: newName === 'out.2' }, weights: renames([['weight', 'weight'], ['bias', 'bias']]) };
    default:
      return `a ${info.node.type} has no counterpart in ${NAMING_LABEL.openai}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The conversion

const MAX_LINES = 20;

/**
 * The graph in the other naming, and the rules that make its weights. Throws a
 * {@link ConversionError} listing every block without a counterpart (and why), or naming the
 * graph's problems when it is not valid.
 */
export function convertNaming(graph: Graph, to: Naming): NamingConversion {
  const a = analyze(graph);
  if (!a.ok) {
    const errs = a.problems.filter((p) => p.severity === 'error').map((p) => `  ${p.message}`);
    throw new ConversionError(`graph ${JSON.stringify(graph.name)} is not valid, so it was not converted:\n${errs.slice(0, MAX_LINES).join('\n')}`);
  }
  const from = namingOf(graph);
  if (from === null) throw new ConversionError(`graph ${JSON.stringify(graph.name)} has no block of either ${NAMING_LABEL.openai} or ${NAMING_LABEL.diffusers}, so there is nothing to convert`);
  if (from === to) throw new ConversionError(`graph ${JSON.stringify(graph.name)} already has ${NAMING_LABEL[to]} names; nothing to convert`);

  const infos = a.order.map((id) => a.info.get(id)!);
  const problems: Problems = new Map();
  const nameProblems: Problems = new Map();
  const levels: Levels = new Map();
  const names = to === 'diffusers' ? namesToDiffusers(infos, nameProblems, levels) : namesToOpenai(infos, nameProblems, levels);
  const parts = new Map<string, Counterpart>();
  for (const info of infos) {
    const cp = to === 'diffusers' ? toDiffusers(info) : toOpenai(info, names.get(info.node.id) ?? '');
    // A block without a counterpart says so; where it would go matters only for one that has one.
    if (typeof cp === 'string') problem(problems, info.node.id, cp);
    else {
      parts.set(info.node.id, cp);
      for (const m of nameProblems.get(info.node.id) ?? []) problem(problems, info.node.id, m);
    }
  }
  // Two nodes given one name (a graph whose names repeat an index).
  const seen = new Map<string, string>();
  for (const [id, name] of names) {
    const other = seen.get(name);
    if (other !== undefined) problem(problems, id, `it would be named ${JSON.stringify(name)} like ${nodeLabel(a.info.get(other)!.node)}`);
    seen.set(name, id);
  }
  if (problems.size > 0) {
    const lines = a.order.flatMap((id) => (problems.get(id) ?? []).map((m) => `  ${nodeLabel(a.info.get(id)!.node)}: ${m}`));
    const shown = lines.slice(0, MAX_LINES);
    if (lines.length > MAX_LINES) shown.push(`  … and ${lines.length - MAX_LINES} more`);
    throw new ConversionError(
      `graph ${JSON.stringify(graph.name)} cannot be converted to ${NAMING_LABEL[to]} names: ${problems.size === 1 ? 'a block has' : `${problems.size} blocks have`} no counterpart there (nothing was converted):\n${shown.join('\n')}`,
    );
  }

  const byId = new Map(graph.nodes.map((nd, i) => [nd.id, { nd, i }]));
  const nodes = graph.nodes.map((nd) => {
    const cp = parts.get(nd.id)!;
    return { id: nd.id, name: names.get(nd.id)!, type: cp.type, params: cp.params } satisfies GraphNode;
  });
  const sorted = [...nodes].sort((x, y) => compareKeys(orderKey(to, x, byId.get(x.id)!.i), orderKey(to, y, byId.get(y.id)!.i)));
  const groups = convertedGroups(sorted, to, levels);
  const converted: Graph = {
    name: graph.name,
    ...(graph.description !== undefined ? { description: graph.description } : {}),
    nodes: sorted,
    edges: graph.edges,
    ...(groups.length > 0 ? { groups } : {}),
  };

  // Weight rules, checked against what the converted graph owns.
  const source = expectedWeights(a);
  const srcShape = new Map(source.map((w) => [w.fullKey, w.shape]));
  const ca = analyze(converted);
  if (!ca.ok) throw new Error(`convertNaming: the converted graph is not valid: ${ca.problems.map((p) => p.message).join('; ')}`);
  const rules = new Map<string, WeightRule>();
  for (const info of infos) {
    const oldName = info.node.name;
    const get = (key: string): readonly number[] => {
      const s = srcShape.get(`${oldName}.${key}`);
      if (!s) throw new Error(`no weight ${oldName}.${key}`);
      return s;
    };
    for (const w of parts.get(info.node.id)!.weights(get)) {
      const to = `${names.get(info.node.id)!}.${w.key}`;
      rules.set(to, { to, shape: w.shape, pieces: w.pieces.map((pc) => ({ from: `${oldName}.${pc.key}`, start: pc.start, end: pc.end })) });
    }
  }
  const target = expectedWeights(ca);
  const ordered = target.map((w) => {
    const r = rules.get(w.fullKey);
    if (!r || r.shape.join(',') !== w.shape.join(',')) throw new Error(`convertNaming: no rule for ${w.fullKey} [${w.shape.join(', ')}]`);
    return r;
  });
  if (rules.size !== target.length) throw new Error(`convertNaming: ${rules.size} rules for ${target.length} weights`);
  return { from, to, graph: converted, weights: ordered, source, renamed: new Map([...names].map(([id, n]) => [byId.get(id)!.nd.name, n])) };
}

/**
 * The converted weights: the given tensors (the source graph's state_dict, checked strictly like
 * `load_state_dict`; diffusers' legacy attention names accepted) cut and joined by the rules. Every
 * tensor keeps its dtype (F16 stays F16, byte for byte); pieces of different dtypes are refused.
 */
export function convertWeights(c: NamingConversion, tensors: ReadonlyMap<string, SafetensorsTensor>, source = 'the weights'): Map<string, SafetensorsTensor> {
  const keys = c.source.map((w) => w.fullKey);
  const given = withLegacyNames(keys, tensors);
  checkStateDict(c.source, new Map([...given].map(([k, t]) => [k, t.shape])), source);
  const out = new Map<string, SafetensorsTensor>();
  for (const rule of c.weights) {
    const first = given.get(rule.pieces[0].from)!;
    const count = rule.shape.reduce((x, y) => x * y, 1);
    // A whole tensor, renamed (and perhaps reshaped: a 1×1 Conv1d's [C, C, 1] is a Linear's [C, C]).
    if (rule.pieces.length === 1 && rule.pieces[0].start === 0 && first.data.length === count) {
      out.set(rule.to, { name: rule.to, dtype: first.dtype, shape: [...rule.shape], data: first.data });
      continue;
    }
    const data = new Float32Array(count);
    let at = 0;
    for (const pc of rule.pieces) {
      const t = given.get(pc.from)!;
      if (t.dtype !== first.dtype) throw new ConversionError(`${source}: ${rule.to} would join ${first.dtype} and ${t.dtype} tensors (${rule.pieces[0].from}, ${pc.from}); give them one dtype first`);
      if (!(t.data instanceof Float32Array)) throw new ConversionError(`${source}: ${rule.to} would be cut from ${t.dtype} tensor ${pc.from}; only float tensors are cut`);
      const row = t.shape.slice(1).reduce((x, y) => x * y, 1);
      data.set(t.data.subarray(pc.start * row, pc.end * row), at);
      at += (pc.end - pc.start) * row;
    }
    if (at !== count) throw new Error(`convertWeights: ${rule.to} got ${at} values for ${count}`);
    out.set(rule.to, { name: rule.to, dtype: first.dtype, shape: [...rule.shape], data });
  }
  return out;
}

