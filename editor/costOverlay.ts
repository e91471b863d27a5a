/**
 * Colours for the canvas (no React): each block tinted by what it costs (parameters, FLOPs, the
 * bytes of its output at batch 1, or its last measured time) on a perceptual scale, with the
 * legend that explains it; and the diff's colours (added, changed; removed blocks are listed, as
 * they are not in the graph shown). BlockNode draws `data.tint`; App.tsx computes it with these.
 */
import type { Analysis } from '../graph/analyze';
import { blockCosts, type BlockCost } from '../graph/compare';
import type { GraphDiff } from '../graph/diff';
import { formatBytes } from '../graph/estimate';
import type { Graph } from '../graph/model';

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
  /** Blocks that have a value / all blocks. */
  readonly count: number;
  /** Shown when there is nothing to colour (no measured times yet). */
  readonly empty: string | null;
}

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
