/**
 * Canvas layouts (framework-free). `templateLayout` is a deterministic "U": the feature path runs
 * left to right along the top until the first skip join (the encoder and the bottleneck), then the
 * decoder comes back right to left below it, so skip edges drop straight down; embeddings and other
 * non-image inputs sit on a row above. `elkLayout` is the layered auto-layout (one click in the app).
 */
import { blockDef, isBlockType } from '../blocks/registry';
import { analyze } from '../graph/analyze';
import type { Graph, GraphNode } from '../graph/model';

export interface Position {
  readonly x: number;
  readonly y: number;
}
export type Layout = Readonly<Record<string, Position>>;

const COL = 230;
const DEPTH_STEP = 30;
const STACK_DY = 125;
const DECODER_Y = 560;
const AUX_Y = -230;

function isFeatureNode(n: GraphNode | undefined): boolean {
  if (!n || !isBlockType(n.type)) return true;
  const out = blockDef(n.type).output;
  return out === null || out.kind === 'feature';
}

/** Linear in the graph's size (documents may have thousands of blocks). */
export function templateLayout(graph: Graph): Record<string, Position> {
  const a = analyze(graph);
  const order = [...a.order];
  const ordered = new Set(order);
  for (const n of graph.nodes) if (!ordered.has(n.id)) order.push(n.id);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const feature = order.filter((id) => isFeatureNode(byId.get(id)));
  const aux = order.filter((id) => !isFeatureNode(byId.get(id)));
  // Resolution depth from the spatial size of each node's output (the first image's H is depth 0).
  let h0 = 0;
  for (const id of feature) {
    const s = a.info.get(id)?.out;
    if (s && s.kind === 'feature') { h0 = s.dims[1]; break; }
  }
  const depth = (id: string): number => {
    const s = a.info.get(id)?.out;
    if (!s || s.kind !== 'feature' || h0 === 0 || s.dims[1] <= 0) return 0;
    return Math.max(0, Math.round(Math.log2(h0 / s.dims[1])));
  };
  let split = feature.findIndex((id) => {
    const t = byId.get(id)?.type;
    return t === 'Concat' || t === 'Add';
  });
  if (split < 0) split = feature.length;
  const out: Record<string, Position> = {};
  const typeOf = (id: string) => byId.get(id)?.type;
  // Attention sits under the block before it and a Concat over the block after it, so each
  // resolution level takes a few columns only.
  const place = (seq: readonly string[], firstCol: number, dir: 1 | -1, mainY: (id: string) => number): number => {
    let col = firstCol - dir;
    let prev: string | undefined;
    for (const id of seq) {
      const t = typeOf(id);
      const pt = prev === undefined ? undefined : typeOf(prev);
      if (t === 'AttentionBlock' && prev !== undefined && pt !== 'AttentionBlock' && pt !== 'Concat') {
        out[id] = { x: col * COL, y: mainY(id) + STACK_DY };
      } else if (pt === 'Concat') {
        out[id] = { x: col * COL, y: mainY(id) };
      } else {
        col += dir;
        out[id] = { x: col * COL, y: t === 'Concat' ? mainY(id) - STACK_DY : mainY(id) };
      }
      prev = id;
    }
    return col;
  };
  const lastCol = place(feature.slice(0, split), 0, 1, (id) => depth(id) * DEPTH_STEP);
  place(feature.slice(split), lastCol, -1, (id) => DECODER_Y - depth(id) * DEPTH_STEP);
  aux.forEach((id, i) => {
    out[id] = { x: i * COL, y: AUX_Y };
  });
  return out;
}

/** Positions for nodes that have none (e.g. a document saved without layout), appended below. */
export function completeLayout(graph: Graph, layout: Layout): Layout {
  const missing = graph.nodes.filter((n) => !layout[n.id]);
  if (missing.length === 0) return layout;
  if (missing.length === graph.nodes.length) return templateLayout(graph);
  // A loop, not Math.max(...list): a spread of thousands of values can overflow the stack.
  let maxY = 0;
  for (const n of graph.nodes) {
    const p = layout[n.id];
    if (p && p.y > maxY) maxY = p.y;
  }
  const next: Record<string, Position> = { ...layout };
  missing.forEach((n, i) => {
    next[n.id] = { x: (i % 8) * COL, y: maxY + 200 + Math.floor(i / 8) * 150 };
  });
  return next;
}

/** elkjs layered layout, direction RIGHT. Sizes are the rendered node sizes where known. */
export async function elkLayout(graph: Graph, sizes: ReadonlyMap<string, { width: number; height: number }>): Promise<Record<string, Position>> {
  const { default: ELK } = await import('elkjs/lib/elk.bundled.js');
  const elk = new ELK();
  const ids = new Set(graph.nodes.map((n) => n.id));
  const res = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': '40',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70',
      'elk.edgeRouting': 'POLYLINE',
    },
    children: graph.nodes.map((n) => ({ id: n.id, width: sizes.get(n.id)?.width ?? 190, height: sizes.get(n.id)?.height ?? 90 })),
    edges: graph.edges
      .filter((e) => ids.has(e.from.node) && ids.has(e.to.node))
      .map((e) => ({ id: e.id, sources: [e.from.node], targets: [e.to.node] })),
  });
  const out: Record<string, Position> = {};
  for (const c of res.children ?? []) out[c.id] = { x: c.x ?? 0, y: c.y ?? 0 };
  return out;
}

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * The edges worth drawing in the view `view` (flow coordinates), at most `max`: those with an end
 * inside the view first, then those that only cross it, in the order given. React Flow draws every
 * edge whose box meets the view, and in a big graph with long edges (a time embedding feeding every
 * ResBlock) that can be thousands, each one costing work on every change; this bounds it.
 * Linear in the graph's size.
 */
export function edgesInView<E extends { readonly source: string; readonly target: string }>(
  edges: readonly E[],
  rects: ReadonlyMap<string, Rect>,
  view: Rect,
  max: number,
): E[] {
  const x2 = view.x + view.width;
  const y2 = view.y + view.height;
  const inside = new Map<string, boolean>();
  const isInside = (id: string): boolean => {
    let v = inside.get(id);
    if (v === undefined) {
      const r = rects.get(id);
      v = !!r && r.x < x2 && r.x + r.width > view.x && r.y < y2 && r.y + r.height > view.y;
      inside.set(id, v);
    }
    return v;
  };
  const ends: E[] = [];
  const crossing: E[] = [];
  for (const e of edges) {
    if (isInside(e.source) || isInside(e.target)) {
      ends.push(e);
      continue;
    }
    const a = rects.get(e.source);
    const b = rects.get(e.target);
    if (!a || !b) continue;
    const left = Math.min(a.x, b.x);
    const top = Math.min(a.y, b.y);
    const right = Math.max(a.x + a.width, b.x + b.width);
    const bottom = Math.max(a.y + a.height, b.y + b.height);
    if (left < x2 && right > view.x && top < y2 && bottom > view.y) crossing.push(e);
  }
  if (ends.length >= max) return ends.slice(0, max);
  return crossing.length > max - ends.length ? [...ends, ...crossing.slice(0, max - ends.length)] : [...ends, ...crossing];
}
