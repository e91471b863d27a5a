/**
 * Canvas layouts (framework-free). `templateLayout` is a deterministic "U": the feature path runs
 * left to right along the top until the first skip join (the encoder and the bottleneck), then the
 * decoder comes back right to left below it, so skip edges drop straight down; embeddings and other
 * non-image inputs sit on a row above. `elkLayout` is the layered auto-layout (one click in the app).
 */
import { blockDef, isBlockType } from '../blocks/registry';
import { analyze } from '../graph/analyze';
import type { Graph, GraphNode } from '../graph/model';
import { indexGroups } from '../graph/groups';
import { canvasEdges, canvasItems } from './groupView';

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

/** What elk reads and returns (the part of its JSON graph used here). */
interface ElkNode {
  id: string;
  width?: number;
  height?: number;
  x?: number;
  y?: number;
  layoutOptions?: Record<string, string>;
  children?: ElkNode[];
  edges?: { id: string; sources: string[]; targets: string[] }[];
}

/**
 * elkjs layered layout, direction RIGHT, of what the canvas draws: blocks outside collapsed groups
 * and collapsed groups as single nodes, each expanded group a compound node around its members (so
 * frames do not overlap). Sizes are the rendered sizes where known. Returns positions for the blocks
 * and collapsed groups drawn (a collapsed group's blocks follow it: see `moveItems`).
 */
export async function elkLayout(
  graph: Graph,
  sizes: ReadonlyMap<string, { width: number; height: number }>,
  collapsed: readonly string[] = [],
): Promise<Record<string, Position>> {
  const { default: ELK } = await import('elkjs/lib/elk.bundled.js');
  const elk = new ELK();
  const items = canvasItems(graph, collapsed);
  const idx = indexGroups(graph);
  const root: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': '40',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70',
      'elk.edgeRouting': 'POLYLINE',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
    },
    children: [],
    edges: [],
  };
  // Compound nodes for the frames (parents first), then the leaves in their innermost frame.
  const compound = new Map<string | undefined, ElkNode>([[undefined, root]]);
  for (const id of items.frames) {
    const node: ElkNode = { id, children: [], edges: [], layoutOptions: { 'elk.padding': '[top=48,left=18,bottom=18,right=18]' } };
    compound.set(id, node);
    (compound.get(idx.byId.get(id)?.parent) ?? root).children!.push(node);
  }
  const container = new Map<string, string | undefined>();
  const leaf = (id: string, parent: string | undefined, est: { width: number; height: number }) => {
    const size = sizes.get(id) ?? est;
    container.set(id, parent);
    (compound.get(parent) ?? root).children!.push({ id, width: size.width, height: size.height });
  };
  for (const n of graph.nodes) if (!items.hiddenIn.has(n.id)) leaf(n.id, idx.groupOfNode.get(n.id), { width: 190, height: 90 });
  for (const id of items.collapsed) leaf(id, idx.byId.get(id)?.parent, { width: 220, height: 110 });
  // Each edge goes in the innermost compound holding both ends.
  const chain = (frame: string | undefined): (string | undefined)[] => {
    const out: (string | undefined)[] = [];
    for (let g = frame; g !== undefined && out.length < 64; g = idx.byId.get(g)?.parent) out.push(g);
    out.push(undefined);
    return out.reverse();
  };
  for (const e of canvasEdges(graph, analyze(graph), items)) {
    if (!container.has(e.source) || !container.has(e.target)) continue;
    const a = chain(container.get(e.source));
    const b = chain(container.get(e.target));
    let k = 0;
    while (k + 1 < a.length && k + 1 < b.length && a[k + 1] === b[k + 1]) k++;
    (compound.get(a[k]) ?? root).edges!.push({ id: e.id, sources: [e.source], targets: [e.target] });
  }
  const res = (await elk.layout(root as Parameters<typeof elk.layout>[0])) as ElkNode;
  const out: Record<string, Position> = {};
  const walk = (n: ElkNode, ox: number, oy: number) => {
    for (const c of n.children ?? []) {
      const x = ox + (c.x ?? 0);
      const y = oy + (c.y ?? 0);
      if (container.has(c.id)) out[c.id] = { x, y };
      walk(c, x, y);
    }
  };
  walk(res, 0, 0);
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
