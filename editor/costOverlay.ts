/**
 * Colours for the canvas (no React): each block tinted by what it costs (parameters, FLOPs, the
 * bytes of its output at batch 1, or its last measured time) on a perceptual scale, with the
 * legend that explains it; and the diff's colours (added, changed; removed blocks are listed, as
 * they are not in the graph shown). A collapsed group is coloured too, on the same scale as the
 * blocks drawn: its blocks' sum (the largest output for activation memory), or for the diff
 * "changed" / "added" by what is inside. BlockNode and GroupNode draw `data.tint`; App.tsx
 * computes it with these (through VariantTools.tsx).
 */
import type { Analysis } from '../graph/analyze';
import { blockCosts, type BlockCost } from '../graph/compare';
import type { GraphDiff } from '../graph/diff';
import { formatBytes } from '../graph/estimate';
import type { Graph } from '../graph/model';
import type { CanvasItems } from './groupView';

export type CostMetric = 'none' | 'parameters' | 'flops' | 'activation' | 'time';

export const COST_METRICS: readonly { readonly key: CostMetric; readonly label: string }[] = [
  { key: 'none', label: 'none' },
  { key: 'parameters', label: 'parameters' },
  { key: 'flops', label: 'FLOPs' },
  { key: 'activation', label: 'activation memory' },
  { key: 'time', label: 'last measured time' },
];

export const isCostMetric = (s: string): s is CostMetric => COST_METRICS.some((m) => m.key === s);

/**
 * Viridis (matplotlib's perceptually uniform map, CC0), 9 evenly spaced stops, from low to high.
 * Lightness rises monotonically along it, so the order reads in grey too and for colour-blind eyes.
 */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

const hex = (c: readonly number[]) => `#${c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;

/**
 * The scale's colour at t ∈ [0, 1], mixed half with white so a block's dark text stays readable
 * (mixing with white keeps the lightness order).
 */
export function scaleColour(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const c = VIRIDIS[i].map((v, k) => v + (VIRIDIS[i + 1][k] - v) * f);
  return hex(c.map((v) => v + (255 - v) * 0.5));
}

/** Each block's value for a metric, by node id; `times` is ms by block name (the Run panel's profile). */
export function costValues(a: Analysis, metric: CostMetric, times?: ReadonlyMap<string, number>, costs: ReadonlyMap<string, BlockCost> = blockCosts(a)): Map<string, number> {
  const out = new Map<string, number>();
  if (metric === 'none') return out;
  for (const [id, c] of costs) {
    if (metric === 'time') {
      const name = a.info.get(id)?.node.name;
      const ms = name === undefined ? undefined : times?.get(name);
      if (ms !== undefined) out.set(id, ms);
    } else out.set(id, metric === 'parameters' ? c.parameters : metric === 'flops' ? c.flops : c.outputBytes);
  }
  return out;
}

/**
 * Position on the scale: logarithmic (log(1 + v) / log(1 + max)), because block costs span orders
 * of magnitude (a SiLU's 0 parameters, a ResBlock's millions) and a linear scale would show one hot
 * block and the rest alike.
 */
export const scalePosition = (v: number, max: number): number => (max > 0 ? Math.log1p(Math.max(0, v)) / Math.log1p(max) : 0);

/** Tints by node id for a metric (blocks without a value, e.g. not measured, are left alone). */
export function costTints(values: ReadonlyMap<string, number>): Map<string, string> {
  let max = 0;
  for (const v of values.values()) max = Math.max(max, v);
  return new Map([...values].map(([id, v]) => [id, scaleColour(scalePosition(v, max))]));
}

/** What the canvas draws, as far as colouring goes (editor/groupView.ts's CanvasItems). */
export type ShownItems = Pick<CanvasItems, 'hiddenIn' | 'collapsed'>;

/**
 * A collapsed group's value from its members' values: the sum for parameters, FLOPs and time (what
 * the group costs as a whole), the largest for activation memory (a block's output is freed as the
 * next ones run, so the sum of outputs would be no memory anyone needs; the largest is a floor).
 */
export const groupAggregate = (metric: CostMetric): 'sum' | 'max' => (metric === 'activation' ? 'max' : 'sum');

/**
 * The values of what is drawn: each visible block's own value (by node id) and each collapsed
 * group's aggregate of its member blocks at any depth (by group id; see {@link groupAggregate}).
 * A group none of whose members has a value (no measured time) gets none. Blocks hidden in a
 * collapsed group are absent, so one scale over the result spans exactly what is on screen.
 */
export function shownCostValues(blockValues: ReadonlyMap<string, number>, metric: CostMetric, items: ShownItems): Map<string, number> {
  const out = new Map<string, number>();
  if (metric === 'none') return out;
  const max = groupAggregate(metric) === 'max';
  const groups = new Map<string, number>();
  for (const [id, v] of blockValues) {
    const g = items.hiddenIn.get(id);
    if (g === undefined) {
      out.set(id, v);
      continue;
    }
    const prev = groups.get(g);
    groups.set(g, prev === undefined ? v : max ? Math.max(prev, v) : prev + v);
  }
  // In the canvas's order of collapsed groups (deterministic).
  for (const g of items.collapsed) {
    const v = groups.get(g);
    if (v !== undefined) out.set(g, v);
  }
  return out;
}

/**
 * Tooltips for the collapsed groups that have a value: what the number is and how it was made
 * (`Parameters: 1.23M (sum of its 12 blocks)`). `values` is {@link shownCostValues}'s result,
 * `blockValues` what it was made from (to count the measured blocks of a group).
 */
export function groupCostTitles(values: ReadonlyMap<string, number>, metric: CostMetric, items: ShownItems, blockValues: ReadonlyMap<string, number>): Map<string, string> {
  const out = new Map<string, string>();
  if (metric === 'none') return out;
  const members = new Map<string, number>();
  const valued = new Map<string, number>();
  for (const [id, g] of items.hiddenIn) {
    members.set(g, (members.get(g) ?? 0) + 1);
    if (blockValues.has(id)) valued.set(g, (valued.get(g) ?? 0) + 1);
  }
  const label = COST_METRICS.find((m) => m.key === metric)!.label;
  for (const g of items.collapsed) {
    const v = values.get(g);
    if (v === undefined) continue;
    const n = members.get(g) ?? 0;
    const how =
      metric === 'activation' ? `the largest output of its ${n} blocks, batch 1` : metric === 'time' ? `sum of its ${valued.get(g) ?? 0} measured blocks of ${n}` : `sum of its ${n} blocks`;
    out.set(g, `${label[0].toUpperCase()}${label.slice(1)}: ${formatCost(metric, v)} (${how})`);
  }
  return out;
}

export function formatCost(metric: CostMetric, v: number): string {
  switch (metric) {
    case 'parameters':
      return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)}k` : v.toLocaleString('en-US');
    case 'flops':
      return v >= 1e9 ? `${(v / 1e9).toFixed(2)} GFLOP` : v >= 1e6 ? `${(v / 1e6).toFixed(1)} MFLOP` : `${v.toLocaleString('en-US')} FLOP`;
    case 'activation':
      return formatBytes(v);
    case 'time':
      return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
    case 'none':
      return '';
  }
}

export interface Legend {
  readonly title: string;
  /** A CSS linear-gradient through the scale, low → high. */
  readonly gradient: string;
  readonly min: string;
  readonly max: string;
  /** Items drawn (blocks and collapsed groups) that have a value. */
  readonly count: number;
  /** How a collapsed group's value is made from its blocks'. */
  readonly groups: string;
  /** Shown when there is nothing to colour (no measured times yet). */
  readonly empty: string | null;
}

/**
 * The legend of the values coloured. `values` should be what is drawn ({@link shownCostValues}): the
 * range then covers visible blocks and collapsed groups alike, the same range {@link costTints} uses.
 */
export function legendFor(metric: CostMetric, values: ReadonlyMap<string, number>): Legend | null {
  if (metric === 'none') return null;
  let min = Infinity;
  let max = 0;
  for (const v of values.values()) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const stops = Array.from({ length: 9 }, (_, i) => scaleColour(i / 8));
  const label = COST_METRICS.find((m) => m.key === metric)!.label;
  return {
    title: `${label[0].toUpperCase()}${label.slice(1)} per block${metric === 'activation' ? ' (output, batch 1)' : ''} · log scale`,
    groups: metric === 'activation' ? 'A collapsed group shows the largest output of its blocks.' : 'A collapsed group shows the sum of its blocks.',
    gradient: `linear-gradient(to right, ${stops.join(', ')})`,
    min: values.size > 0 ? formatCost(metric, min) : '',
    max: values.size > 0 ? formatCost(metric, max) : '',
    count: values.size,
    empty: values.size > 0 ? null : metric === 'time' ? 'no per-block times yet: Profile in the Run panel' : 'no block has a known cost',
  };
}

// ---------------------------------------------------------------------------------------------
// Diff

export const DIFF_COLOURS = { added: '#bbf7d0', changed: '#fde68a', removed: '#fecaca' } as const;

/** Tints by node id of `shown` for a diff whose second graph is the one shown (matched by name). */
export function diffTints(diff: GraphDiff, shown: Graph): Map<string, string> {
  const added = new Set(diff.added.map((b) => b.name));
  const changed = new Set(diff.changed.map((c) => c.name));
  const out = new Map<string, string>();
  for (const n of shown.nodes) {
    if (added.has(n.name)) out.set(n.id, DIFF_COLOURS.added);
    else if (changed.has(n.name)) out.set(n.id, DIFF_COLOURS.changed);
  }
  return out;
}

/** A collapsed group's diff mark: its tint and a title that counts what changed inside it. */
export interface GroupDiffMark {
  readonly tint: string;
  readonly title: string;
}

/**
 * Diff marks of the collapsed groups drawn (the diff's second graph is the one shown): a group
 * holding any added or changed block is "changed", or "added" when every member block is added;
 * a group with neither gets no mark.
 */
export function groupDiffMarks(diff: GraphDiff, shown: Graph, items: ShownItems): Map<string, GroupDiffMark> {
  const added = new Set(diff.added.map((b) => b.name));
  const changed = new Set(diff.changed.map((c) => c.name));
  const count = new Map<string, { added: number; changed: number; blocks: number }>();
  for (const n of shown.nodes) {
    const g = items.hiddenIn.get(n.id);
    if (g === undefined) continue;
    let c = count.get(g);
    if (!c) count.set(g, (c = { added: 0, changed: 0, blocks: 0 }));
    c.blocks++;
    if (added.has(n.name)) c.added++;
    else if (changed.has(n.name)) c.changed++;
  }
  const out = new Map<string, GroupDiffMark>();
  for (const g of items.collapsed) {
    const c = count.get(g);
    if (!c || c.added + c.changed === 0) continue;
    const all = c.added === c.blocks;
    const title = `${all ? 'Added' : 'Changed'}: ${c.added} added, ${c.changed} changed of ${c.blocks} block${c.blocks === 1 ? '' : 's'}`;
    out.set(g, { tint: all ? DIFF_COLOURS.added : DIFF_COLOURS.changed, title });
  }
  return out;
}

/** A group's costs for the inspector, made from its member blocks' as on the canvas. */
export interface GroupCost {
  readonly blocks: number;
  /** Sums over the members. */
  readonly parameters: number;
  readonly flops: number;
  /** The largest member output at batch 1 (what the canvas colours a collapsed group by). */
  readonly largestOutputBytes: number;
  /** The sum of the members' last measured times, or undefined when none was measured. */
  readonly ms: number | undefined;
  /** How many members have a measured time. */
  readonly measured: number;
}

/** `members`: the group's node ids at any depth (groupView's nodesInside); `times`: ms by block name. */
export function groupCost(a: Analysis, members: readonly string[], times?: ReadonlyMap<string, number>, costs: ReadonlyMap<string, BlockCost> = blockCosts(a)): GroupCost {
  let parameters = 0;
  let flops = 0;
  let largestOutputBytes = 0;
  let ms = 0;
  let measured = 0;
  for (const id of members) {
    const c = costs.get(id);
    if (c) {
      parameters += c.parameters;
      flops += c.flops;
      largestOutputBytes = Math.max(largestOutputBytes, c.outputBytes);
    }
    const name = a.info.get(id)?.node.name;
    const t = name === undefined ? undefined : times?.get(name);
    if (t !== undefined) {
      ms += t;
      measured++;
    }
  }
  return { blocks: members.length, parameters, flops, largestOutputBytes, ms: measured > 0 ? ms : undefined, measured };
}
