/**
 * The generated module's hierarchy: a grouped graph's groups (graph/model.ts `GraphGroup`) as
 * instances to call and definitions to emit once. Groups only organise, so this decides the order
 * the flat kernels run in and which function each runs inside; what they compute is the flat
 * graph's.
 *
 * - Input and Output blocks always stay at the top level (the forward's own parameters and return).
 * - A group that cannot run as one call (an edge path leaves it and comes back, or two sibling
 *   groups feed each other) is dissolved: its members run in the enclosing scope.
 * - In each scope the items (blocks and groups) run in a topological order that follows the flat
 *   order wherever the groups allow: when every group's blocks are contiguous in the flat order,
 *   the kernels run in exactly the flat order.
 * - A definition is a set of instances with the same structure: member types, parameters and
 *   shapes, internal edges, member order, inputs (order and shapes) and outputs.
 */
import type { Analysis, NodeInfo } from '../../../graph/analyze';
import type { Graph, GraphGroup } from '../../../graph/model';

export type Item = { readonly kind: 'node'; readonly id: string } | { readonly kind: 'group'; readonly group: GroupInstance };

export interface GroupInstance {
  readonly group: GraphGroup;
  /** Blocks and nested groups, in the order they run (set by `planHierarchy`). */
  items: Item[];
  /** Every live block inside, nested ones included. */
  readonly members: ReadonlySet<string>;
  /** `members` in the order they run. */
  order: string[];
  /** Node ids outside the group whose outputs the group reads, in order of first use. */
  inputs: string[];
  /** Member node ids read outside the group, in the order they run. */
  outputs: string[];
  def: Definition | null;
}

export interface Definition {
  /** Position in `Hierarchy.definitions` (nested definitions come first). */
  readonly index: number;
  readonly key: string;
  readonly instances: GroupInstance[];
}

export interface Hierarchy {
  readonly root: readonly Item[];
  readonly definitions: readonly Definition[];
}

/** The groups when they form a forest over existing nodes (parents first, a node in one group at most); else null. */
function wellFormed(graph: Graph): readonly GraphGroup[] | null {
  const groups: unknown = graph.groups;
  if (!Array.isArray(groups) || groups.length === 0) return null;
  const nodeIds = new Set(graph.nodes.map((n) => n.id));
  const seen = new Set<string>();
  const grouped = new Set<string>();
  for (const g of groups as unknown[]) {
    if (typeof g !== 'object' || g === null) return null;
    const { id, name, parent, nodes } = g as Record<string, unknown>;
    if (typeof id !== 'string' || typeof name !== 'string' || seen.has(id) || nodeIds.has(id)) return null;
    if (parent !== undefined && (typeof parent !== 'string' || !seen.has(parent))) return null;
    if (!Array.isArray(nodes)) return null;
    for (const n of nodes as unknown[]) {
      if (typeof n !== 'string' || !nodeIds.has(n) || grouped.has(n)) return null;
      grouped.add(n);
    }
    seen.add(id);
  }
  return groups as readonly GraphGroup[];
}

/** Strongly connected components (Tarjan) of a graph on 0..n-1. */
function components(n: number, next: readonly (readonly number[])[]): number[][] {
  const index = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const out: number[][] = [];
  let counter = 0;
  const visit = (v: number): void => {
    index[v] = low[v] = counter++;
    stack.push(v);
    onStack[v] = true;
    for (const w of next[v]) {
      if (index[w] < 0) {
        visit(w);
        low[v] = Math.min(low[v], low[w]);
      } else if (onStack[w]) low[v] = Math.min(low[v], index[w]);
    }
    if (low[v] === index[v]) {
      const comp: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack[w] = false;
        comp.push(w);
      } while (w !== v);
      out.push(comp);
    }
  };
  for (let v = 0; v < n; v++) if (index[v] < 0) visit(v);
  return out;
}

const nodesOf = (it: Item): Iterable<string> => (it.kind === 'node' ? [it.id] : it.group.members);

/**
 * Orders one scope's items (dissolving groups that cannot run as one call) and then each group's
 * own items. `pos`: each live node's position in the flat order.
 */
function arrange(items: Item[], info: Analysis['info'], pos: ReadonlyMap<string, number>): Item[] {
  for (;;) {
    const owner = new Map<string, number>();
    items.forEach((it, k) => {
      for (const id of nodesOf(it)) owner.set(id, k);
    });
    const next = items.map(() => new Set<number>());
    for (const [id, k] of owner) {
      for (const src of Object.values(info.get(id)!.inputs)) {
        const j = owner.get(src.from);
        if (j !== undefined && j !== k) next[j].add(k);
      }
    }
    const cyclic = new Set<number>();
    for (const comp of components(items.length, next.map((s) => [...s]))) if (comp.length > 1) for (const k of comp) cyclic.add(k);
    const dissolve = [...cyclic].filter((k) => items[k].kind === 'group');
    if (dissolve.length === 0) {
      // Kahn's algorithm, always taking the ready item that comes first in the flat order.
      const first = items.map((it) => Math.min(...[...nodesOf(it)].map((id) => pos.get(id)!)));
      const indegree = items.map(() => 0);
      for (const s of next) for (const k of s) indegree[k]++;
      const done: Item[] = [];
      const ready = new Set(items.map((_, k) => k).filter((k) => indegree[k] === 0));
      while (ready.size > 0) {
        const k = [...ready].reduce((a, b) => (first[b] < first[a] ? b : a));
        ready.delete(k);
        done.push(items[k]);
        for (const j of next[k]) if (--indegree[j] === 0) ready.add(j);
      }
      for (const it of done) if (it.kind === 'group') it.group.items = arrange(it.group.items, info, pos);
      return done;
    }
    const gone = new Set(dissolve);
    items = items.flatMap((it, k) => (gone.has(k) && it.kind === 'group' ? it.group.items : [it]));
  }
}

const flatten = (items: readonly Item[]): string[] => items.flatMap((it) => (it.kind === 'node' ? [it.id] : flatten(it.group.items)));

/**
 * The hierarchy to emit, or null when the module is flat: no groups, malformed groups (the graph
 * checker reports those), or none that holds a live block and can run as one call.
 * `live`: the blocks in the flat order (`infos`).
 */
export function planHierarchy(graph: Graph, a: Analysis, live: readonly NodeInfo[]): Hierarchy | null {
  const groups = wellFormed(graph);
  if (!groups) return null;
  const pos = new Map(live.map((inf, i) => [inf.node.id, i]));
  const inGroup = (id: string) => pos.has(id) && !a.info.get(id)!.def.io;
  const children = new Map<string | undefined, GraphGroup[]>();
  for (const g of groups) children.set(g.parent, [...(children.get(g.parent) ?? []), g]);

  const instance = (g: GraphGroup): GroupInstance | null => {
    const nodeItems: Item[] = g.nodes.filter(inGroup).map((id) => ({ kind: 'node', id }));
    const groupItems: Item[] = (children.get(g.id) ?? []).flatMap((c) => {
      const inst = instance(c);
      return inst ? [{ kind: 'group' as const, group: inst }] : [];
    });
    const items = [...nodeItems, ...groupItems];
    if (items.length === 0) return null;
    const members = new Set(items.flatMap((it) => [...nodesOf(it)]));
    return { group: g, items, members, order: [], inputs: [], outputs: [], def: null };
  };
  const top: Item[] = (children.get(undefined) ?? []).flatMap((g) => {
    const inst = instance(g);
    return inst ? [{ kind: 'group' as const, group: inst }] : [];
  });
  const grouped = new Set(top.flatMap((it) => [...nodesOf(it)]));
  const loose: Item[] = live.filter((inf) => !grouped.has(inf.node.id)).map((inf) => ({ kind: 'node', id: inf.node.id }));
  const root = arrange([...loose, ...top], a.info, pos);
  if (root.every((it) => it.kind === 'node')) return null;

  // Ports, then definitions (post-order: a key names its nested groups' definitions).
  const consumers = new Map<string, string[]>();
  for (const inf of live) for (const src of Object.values(inf.inputs)) consumers.set(src.from, [...(consumers.get(src.from) ?? []), inf.node.id]);
  const definitions: Definition[] = [];
  const byKey = new Map<string, Definition>();
  const visit = (items: readonly Item[]): void => {
    for (const it of items) {
      if (it.kind !== 'group') continue;
      const g = it.group;
      visit(g.items);
      g.order = flatten(g.items);
      const inputs: string[] = [];
      for (const id of g.order) {
        for (const src of Object.values(a.info.get(id)!.inputs)) if (!g.members.has(src.from) && !inputs.includes(src.from)) inputs.push(src.from);
      }
      g.inputs = inputs;
      g.outputs = g.order.filter((id) => (consumers.get(id) ?? []).some((c) => !g.members.has(c)));
      const key = structureKey(g, a.info);
      let def = byKey.get(key);
      if (!def) {
        def = { index: definitions.length, key, instances: [] };
        definitions.push(def);
        byKey.set(key, def);
      }
      def.instances.push(g);
      g.def = def;
    }
  };
  visit(root);
  return { root, definitions };
}

/** What two instances of one definition share, as text: equal keys, equal code. */
function structureKey(g: GroupInstance, info: Analysis['info']): string {
  const ref = new Map<string, string>();
  g.inputs.forEach((src, k) => ref.set(src, `i${k}`));
  const body = g.items.map((it, j) => {
    if (it.kind === 'node') {
      const inf = info.get(it.id)!;
      const params = Object.keys(inf.params)
        .sort()
        .map((k) => [k, inf.params[k]]);
      const ins = Object.entries(inf.inputs).map(([port, s]) => [port, ref.get(s.from)!]);
      ref.set(it.id, `n${j}`);
      return { type: inf.def.type, params, ins, out: inf.out };
    }
    const c = it.group;
    const ins = c.inputs.map((s) => ref.get(s)!);
    c.outputs.forEach((o, k) => ref.set(o, `n${j}.${k}`));
    return { def: c.def!.index, ins };
  });
  return JSON.stringify({ ins: g.inputs.map((s) => info.get(s)!.out), body, outs: g.outputs.map((o) => ref.get(o)!) });
}
