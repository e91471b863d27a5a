/**
 * What the canvas draws of a grouped graph (framework-free): which blocks and groups are visible
 * with some groups collapsed, where a group sits, and the graph's edges re-routed to the handles of
 * the collapsed groups they cross into (identical ones merged). Every result is cached per graph
 * object and collapsed list (both immutable), so re-renders that change neither cost nothing.
 */
import type { Analysis } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { groupPorts, indexGroups, type GroupPorts } from '../graph/groups';

/** Structurally `./layout`'s types (not imported: the layout imports this module). */
interface Position {
  readonly x: number;
  readonly y: number;
}
type Layout = Readonly<Record<string, Position>>;

/** What is drawn with these groups collapsed. */
export interface CanvasItems {
  /** Node id → the outermost collapsed group hiding it; visible nodes are absent. */
  readonly hiddenIn: ReadonlyMap<string, string>;
  /** Collapsed groups drawn as one node each (not inside another collapsed group), in list order. */
  readonly collapsed: readonly string[];
  /** Expanded groups drawn as frames (not inside a collapsed group), parents before children. */
  readonly frames: readonly string[];
  /** Group id → the collapsed group drawn for it (itself, or its outermost collapsed ancestor); absent for a visible expanded group. */
  readonly groupShownAs: ReadonlyMap<string, string>;
}

const itemsCache = new WeakMap<Graph, WeakMap<readonly string[], CanvasItems>>();

/** The visible items (cached per graph and collapsed list). Linear in the graph's size. */
export function canvasItems(graph: Graph, collapsed: readonly string[]): CanvasItems {
  let inner = itemsCache.get(graph);
  if (!inner) itemsCache.set(graph, (inner = new WeakMap()));
  const hit = inner.get(collapsed);
  if (hit) return hit;
  const idx = indexGroups(graph);
  const shut = new Set(collapsed);
  const groupShownAs = new Map<string, string>();
  const collapsedDrawn: string[] = [];
  const frames: string[] = [];
  // Parents are listed before children: a parent's answer is known when its children are reached.
  for (const g of idx.byId.values()) {
    const above = g.parent !== undefined ? groupShownAs.get(g.parent) : undefined;
    if (above !== undefined) {
      groupShownAs.set(g.id, above);
    } else if (shut.has(g.id)) {
      groupShownAs.set(g.id, g.id);
      collapsedDrawn.push(g.id);
    } else {
      frames.push(g.id);
    }
  }
  const hiddenIn = new Map<string, string>();
  for (const [node, g] of idx.groupOfNode) {
    const rep = groupShownAs.get(g);
    if (rep !== undefined) hiddenIn.set(node, rep);
  }
  const items: CanvasItems = { hiddenIn, collapsed: collapsedDrawn, frames, groupShownAs };
  inner.set(collapsed, items);
  return items;
}

/** The sorted, de-duplicated ids of `ids` that are groups of the graph. */
export function normaliseCollapsed(graph: Graph, ids: Iterable<string>): string[] {
  const byId = indexGroups(graph).byId;
  return [...new Set(ids)].filter((id) => byId.has(id)).sort();
}

/** Every group nested in `groupId` (any depth), not the group itself. */
export function nestedGroups(graph: Graph, groupId: string): string[] {
  const idx = indexGroups(graph);
  const out: string[] = [];
  const stack = [...(idx.children.get(groupId) ?? [])];
  while (stack.length > 0) {
    const id = stack.pop()!;
    out.push(id);
    stack.push(...(idx.children.get(id) ?? []));
  }
  return out;
}

/** The ids of the nodes inside the group at any depth (cheaper than groupDescendants for one group: no scan of every node). */
export function nodesInside(graph: Graph, groupId: string): string[] {
  const idx = indexGroups(graph);
  const g = idx.byId.get(groupId);
  if (!g) return [];
  const out = [...g.nodes];
  for (const id of nestedGroups(graph, groupId)) out.push(...(idx.byId.get(id)?.nodes ?? []));
  return out;
}

/** The top-left corner of the positions of the nodes inside the group (the origin when none has one). */
export function membersTopLeft(graph: Graph, layout: Layout, groupId: string): Position {
  let x = Infinity;
  let y = Infinity;
  for (const id of nodesInside(graph, groupId)) {
    const p = layout[id];
    if (!p) continue;
    if (p.x < x) x = p.x;
    if (p.y < y) y = p.y;
  }
  return Number.isFinite(x) ? { x, y } : { x: 0, y: 0 };
}

/**
 * Where a group is: a collapsed group's own position (kept in the layout under its id) or, when it
 * has none or is expanded, its members' top-left.
 */
export function groupPosition(graph: Graph, layout: Layout, collapsed: readonly string[], groupId: string): Position {
  const own = layout[groupId];
  return own && collapsed.includes(groupId) ? own : membersTopLeft(graph, layout, groupId);
}

/**
 * The layout after moving items: a block to its position; a group to its position, with everything
 * inside it (blocks and the positions of nested groups) shifted by the same amount, so expanding it
 * later shows its blocks where the group was. Positions given for blocks win over a shift (a group
 * dragged together with blocks inside it). Only a collapsed group keeps its own position.
 */
export function moveItems(graph: Graph, layout: Layout, collapsed: readonly string[], positions: Readonly<Record<string, Position>>): Layout {
  const byId = indexGroups(graph).byId;
  const next: Record<string, Position> = { ...layout };
  const plain: [string, Position][] = [];
  for (const [id, p] of Object.entries(positions)) {
    if (!byId.has(id)) {
      plain.push([id, p]);
      continue;
    }
    const from = groupPosition(graph, next, collapsed, id);
    const dx = p.x - from.x;
    const dy = p.y - from.y;
    if (dx !== 0 || dy !== 0) {
      for (const m of [...nodesInside(graph, id), ...nestedGroups(graph, id)]) {
        const q = next[m];
        if (q) next[m] = { x: q.x + dx, y: q.y + dy };
      }
    }
    if (collapsed.includes(id)) next[id] = { x: p.x, y: p.y };
  }
  for (const [id, p] of plain) next[id] = p;
  return next;
}

// ---------------------------------------------------------------------------------------------
// Edges

/** An edge as the canvas draws it: between visible items, possibly standing for several graph edges. */
export interface CanvasEdge {
  /** The first graph edge's id, or `group:<key>` when it ends at a collapsed group. */
  readonly id: string;
  readonly source: string;
  readonly sourceHandle: string;
  readonly target: string;
  readonly targetHandle: string;
  /** The graph edges it stands for (one for an edge between blocks). */
  readonly edges: readonly string[];
  /** The node whose output it carries (for its kind and shape). */
  readonly from: string;
  /** True when one end is a collapsed group. */
  readonly grouped: boolean;
}

/** Handle ids on a collapsed group's node: inputs and outputs may share a name (`x`). */
export const groupInHandle = (port: string): string => `in:${port}`;
export const groupOutHandle = (port: string): string => `out:${port}`;

const portsCache = new WeakMap<Analysis, Map<string, GroupPorts>>();

/** groupPorts, cached per analysis (one per graph object). */
export function cachedGroupPorts(graph: Graph, analysis: Analysis, groupId: string): GroupPorts {
  let m = portsCache.get(analysis);
  if (!m) portsCache.set(analysis, (m = new Map()));
  let p = m.get(groupId);
  if (!p) m.set(groupId, (p = groupPorts(graph, analysis, groupId)));
  return p;
}

/**
 * The graph's edges as drawn: an edge inside one collapsed group disappears; an edge that crosses
 * into (or out of) a collapsed group ends at the group's port for that tensor; edges that become
 * identical (one tensor feeding several blocks inside a collapsed group) are drawn once.
 * Linear in the number of edges (plus the ports of the collapsed groups drawn).
 */
export function canvasEdges(graph: Graph, analysis: Analysis, items: CanvasItems): CanvasEdge[] {
  if (items.collapsed.length === 0) {
    return graph.edges.map((e) => ({ id: e.id, source: e.from.node, sourceHandle: e.from.port, target: e.to.node, targetHandle: e.to.port, edges: [e.id], from: e.from.node, grouped: false }));
  }
  // For each collapsed group drawn: source (node\0port) → its input port name, and → its output port name.
  const inPort = new Map<string, Map<string, string>>();
  const outPort = new Map<string, Map<string, string>>();
  for (const g of items.collapsed) {
    const ports = cachedGroupPorts(graph, analysis, g);
    inPort.set(g, new Map(ports.inputs.map((p) => [`${p.source.node}\u0000${p.source.port}`, p.name])));
    outPort.set(g, new Map(ports.outputs.map((p) => [`${p.source.node}\u0000${p.source.port}`, p.name])));
  }
  const out: CanvasEdge[] = [];
  const merged = new Map<string, { edge: CanvasEdge; edges: string[] }>();
  for (const e of graph.edges) {
    const a = items.hiddenIn.get(e.from.node);
    const b = items.hiddenIn.get(e.to.node);
    if (a === undefined && b === undefined) {
      out.push({ id: e.id, source: e.from.node, sourceHandle: e.from.port, target: e.to.node, targetHandle: e.to.port, edges: [e.id], from: e.from.node, grouped: false });
      continue;
    }
    if (a !== undefined && a === b) continue; // inside one collapsed group
    const key = `${e.from.node}\u0000${e.from.port}`;
    const sourceHandle = a === undefined ? e.from.port : outPort.get(a)?.get(key);
    const targetHandle = b === undefined ? e.to.port : inPort.get(b)?.get(key);
    // An edge the checker refuses makes no port: it is not drawn while its ends are hidden.
    if (sourceHandle === undefined || targetHandle === undefined) continue;
    const source = a ?? e.from.node;
    const target = b ?? e.to.node;
    const sh = a === undefined ? sourceHandle : groupOutHandle(sourceHandle);
    const th = b === undefined ? targetHandle : groupInHandle(targetHandle);
    const k = `${source}\u0000${sh}\u0000${target}\u0000${th}`;
    const m = merged.get(k);
    if (m) {
      m.edges.push(e.id);
      continue;
    }
    const edges = [e.id];
    const edge: CanvasEdge = { id: `group:${source}:${sh}>${target}:${th}`, source, sourceHandle: sh, target, targetHandle: th, edges, from: e.from.node, grouped: true };
    merged.set(k, { edge, edges });
    out.push(edge);
  }
  return out;
}
