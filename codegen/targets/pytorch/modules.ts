/**
 * The PyTorch export's module tree for a grouped graph (issue 12): which groups become `nn.Module`
 * classes of their own, where every block is registered, and which groups share one class.
 *
 * A group becomes a module at its own name (`input_blocks.4`, `down_blocks.0`) when it is a module
 * path: every block inside is named `${group.name}.…`, no block outside is, and it nests in the
 * module group around it by name too. The rest (`encoder.0`, a level; a group named `group_1`) are
 * flattened into the enclosing scope, as are groups that cannot run as one call (the tfjs
 * generator's hierarchy.ts decides those and the order things run in). Blocks are registered in
 * each scope by their first appearance in the document, so the tree under every path, and with it
 * `state_dict()`'s keys and order, is the flat export's exactly.
 */
import type { Analysis, NodeInfo } from '../../../graph/analyze';
import { inputShapes } from '../../../graph/analyze';
import type { Graph, GraphGroup } from '../../../graph/model';
import { planHierarchy, type GroupInstance, type Item } from '../tfjs/hierarchy';

/** What a scope (the model, or a group's class) registers in `__init__`, in order. */
export type Entry =
  | { readonly kind: 'node'; readonly inf: NodeInfo; readonly rel: string; readonly live: boolean }
  | { readonly kind: 'group'; readonly scope: GroupScope; readonly rel: string };

export interface GroupScope {
  readonly inst: GroupInstance;
  /** The group's name: its module path, the prefix of everything inside. */
  readonly path: string;
  entries: Entry[];
  /** The class it is an instance of (set once every nested scope has one). */
  cls: ModuleClass | null;
}

/** One `nn.Module` class per set of structurally identical groups. */
export interface ModuleClass {
  /** Position in `ModuleTree.classes` (nested classes first). */
  readonly index: number;
  readonly key: string;
  readonly scopes: GroupScope[];
}

export interface ModuleTree {
  /** The model's own registrations (names relative to nothing: the full names). */
  readonly root: readonly Entry[];
  /** The model's forward items (hierarchy.ts): blocks, Input/Output blocks and module groups. */
  readonly items: readonly Item[];
  readonly classes: readonly ModuleClass[];
  /** The scope of each group instance that is a module. */
  readonly scopeOf: ReadonlyMap<GroupInstance, GroupScope>;
}

/** The groups when they form a forest over existing nodes, parents first (else null: the checker reports the rest). */
function wellFormed(graph: Graph): readonly GraphGroup[] | null {
  const groups = graph.groups;
  if (!Array.isArray(groups) || groups.length === 0) return null;
  const nodeIds = new Set(graph.nodes.map((n) => n.id));
  const seen = new Set<string>();
  const grouped = new Set<string>();
  for (const g of groups as readonly GraphGroup[]) {
    if (typeof g !== 'object' || g === null || typeof g.id !== 'string' || typeof g.name !== 'string' || seen.has(g.id) || nodeIds.has(g.id)) return null;
    if (g.parent !== undefined && !seen.has(g.parent)) return null;
    if (!Array.isArray(g.nodes)) return null;
    for (const n of g.nodes) {
      if (typeof n !== 'string' || !nodeIds.has(n) || grouped.has(n)) return null;
      grouped.add(n);
    }
    seen.add(g.id);
  }
  return groups;
}

/**
 * The graph with only the groups that are module paths: the others are dissolved (their blocks
 * and child groups move to the nearest module group around them, or the top level). Null when
 * the groups are malformed or none is a module path.
 */
export function moduleGroups(graph: Graph, a: Analysis): Graph | null {
  const groups = wellFormed(graph);
  if (!groups) return null;
  const isModule = (id: string) => !a.info.get(id)!.def.io;
  const byId = new Map(groups.map((g) => [g.id, g]));
  const children = new Map<string, GraphGroup[]>();
  for (const g of groups) if (g.parent !== undefined) children.set(g.parent, [...(children.get(g.parent) ?? []), g]);
  const inside = new Map<string, string[]>();
  const collect = (g: GraphGroup): string[] => {
    const hit = inside.get(g.id);
    if (hit) return hit;
    const out = [...g.nodes.filter(isModule), ...(children.get(g.id) ?? []).flatMap(collect)];
    inside.set(g.id, out);
    return out;
  };
  const names = new Map(graph.nodes.map((n) => [n.id, n.name]));
  const modules = graph.nodes.filter((n) => isModule(n.id));
  // The nearest kept ancestor of each group (undefined: the top level); parents come first.
  const kept = new Map<string, GraphGroup>();
  const keptParent = new Map<string, string | undefined>();
  for (const g of groups) {
    const parent = g.parent === undefined ? undefined : kept.has(g.parent) ? g.parent : keptParent.get(g.parent);
    keptParent.set(g.id, parent);
    const prefix = `${g.name}.`;
    const members = new Set(collect(g));
    const ok =
      members.size > 0 &&
      [...members].every((id) => names.get(id)!.startsWith(prefix)) &&
      modules.every((n) => members.has(n.id) || (n.name !== g.name && !n.name.startsWith(prefix))) &&
      (parent === undefined || g.name.startsWith(`${byId.get(parent)!.name}.`));
    if (ok) kept.set(g.id, g);
  }
  if (kept.size === 0) return null;
  const nodesOf = new Map<string, string[]>([...kept.keys()].map((id) => [id, []]));
  const top: string[] = [];
  for (const g of groups) {
    const home = kept.has(g.id) ? g.id : keptParent.get(g.id);
    for (const n of g.nodes) (home === undefined ? top : nodesOf.get(home)!).push(n);
  }
  const out = [...kept.values()].map((g): GraphGroup => {
    const parent = keptParent.get(g.id);
    return { id: g.id, name: g.name, ...(parent !== undefined ? { parent } : {}), nodes: nodesOf.get(g.id)! };
  });
  return { ...graph, groups: out };
}

const relative = (name: string, path: string | null) => (path === null ? name : name.slice(path.length + 1));

/**
 * The module tree, or null when the export stays flat (no group is a module path that runs as one
 * call). `live`: the blocks that lead to the Output, in the flat order; `ctor`: a block's
 * constructor call as model.py writes it (equal text, equal modules).
 */
export function planModules(graph: Graph, a: Analysis, live: readonly NodeInfo[], ctor: (inf: NodeInfo) => string): ModuleTree | null {
  const filtered = moduleGroups(graph, a);
  if (!filtered) return null;
  const hierarchy = planHierarchy(filtered, a, live);
  if (!hierarchy) return null;

  // Scopes of the instances that survived (hierarchy.ts dissolves those that cannot run as one call).
  const scopeOf = new Map<GroupInstance, GroupScope>();
  const byGroupId = new Map<string, GroupScope>();
  const parentScope = new Map<GroupScope, GroupScope | null>();
  const walk = (items: readonly Item[], parent: GroupScope | null): void => {
    for (const it of items) {
      if (it.kind !== 'group') continue;
      const scope: GroupScope = { inst: it.group, path: it.group.group.name, entries: [], cls: null };
      scopeOf.set(it.group, scope);
      byGroupId.set(it.group.group.id, scope);
      parentScope.set(scope, parent);
      walk(it.group.items, scope);
    }
  };
  walk(hierarchy.root, null);

  // Each block's scope: its innermost surviving group (dead blocks included: they are registered too).
  const groupParent = new Map((filtered.groups ?? []).map((g) => [g.id, g.parent]));
  const groupOfNode = new Map<string, string>();
  for (const g of filtered.groups ?? []) for (const n of g.nodes) groupOfNode.set(n, g.id);
  const scopeOfNode = (id: string): GroupScope | null => {
    let g = groupOfNode.get(id);
    while (g !== undefined && !byGroupId.has(g)) g = groupParent.get(g);
    return g === undefined ? null : byGroupId.get(g)!;
  };
  const liveIds = new Set(live.map((inf) => inf.node.id));
  const docIndex = new Map(graph.nodes.map((n, i) => [n.id, i]));
  const root: { entry: Entry; first: number }[] = [];
  const pending = new Map<GroupScope, { entry: Entry; first: number }[]>([...scopeOf.values()].map((s) => [s, []]));
  const firstOf = new Map<GroupScope, number>();
  const listOf = (s: GroupScope | null) => (s === null ? root : pending.get(s)!);
  for (const n of graph.nodes) {
    const inf = a.info.get(n.id)!;
    if (inf.def.io) continue;
    const s = scopeOfNode(n.id);
    const i = docIndex.get(n.id)!;
    listOf(s).push({ entry: { kind: 'node', inf, rel: relative(n.name, s?.path ?? null), live: liveIds.has(n.id) }, first: i });
    // Every enclosing scope is registered where its first block is.
    for (let c = s; c !== null; c = parentScope.get(c)!) if (!firstOf.has(c)) firstOf.set(c, i);
  }
  for (const [s, parent] of parentScope) {
    listOf(parent).push({ entry: { kind: 'group', scope: s, rel: relative(s.path, parent?.path ?? null) }, first: firstOf.get(s)! });
  }
  const sorted = (xs: { entry: Entry; first: number }[]) => [...xs].sort((p, q) => p.first - q.first).map((x) => x.entry);
  for (const [s, list] of pending) s.entries = sorted(list);

  // Classes, innermost first: equal keys, equal code.
  const classes: ModuleClass[] = [];
  const byKey = new Map<string, ModuleClass>();
  const visit = (items: readonly Item[]): void => {
    for (const it of items) {
      if (it.kind !== 'group') continue;
      visit(it.group.items);
      const s = scopeOf.get(it.group)!;
      const key = structureKey(s, a, scopeOf, ctor);
      let cls = byKey.get(key);
      if (!cls) {
        cls = { index: classes.length, key, scopes: [] };
        classes.push(cls);
        byKey.set(key, cls);
      }
      cls.scopes.push(s);
      s.cls = cls;
    }
  };
  visit(hierarchy.root);
  return { root: sorted(root), items: hierarchy.root, classes, scopeOf };
}

/** What two groups of one class share, as text: registrations (relative names, constructors), the forward's wiring and shapes. */
function structureKey(s: GroupScope, a: Analysis, scopeOf: ReadonlyMap<GroupInstance, GroupScope>, ctor: (inf: NodeInfo) => string): string {
  const g = s.inst;
  const init = s.entries.map((e) => (e.kind === 'node' ? [e.rel, ctor(e.inf), e.live] : [e.rel, e.scope.cls!.index]));
  const ref = new Map<string, string>();
  g.inputs.forEach((src, k) => ref.set(src, `i${k}`));
  const body = g.items.map((it, j) => {
    if (it.kind === 'node') {
      const inf = a.info.get(it.id)!;
      const ins = Object.entries(inf.inputs).map(([port, v]) => [port, ref.get(v.from)!, v.shape]);
      ref.set(it.id, `n${j}`);
      return { rel: relative(inf.node.name, s.path), ins, out: inf.out, shapes: inputShapes(inf) };
    }
    const c = scopeOf.get(it.group)!;
    const ins = it.group.inputs.map((src) => ref.get(src)!);
    it.group.outputs.forEach((o, k) => ref.set(o, `n${j}.${k}`));
    return { rel: relative(c.path, s.path), cls: c.cls!.index, ins, outs: it.group.outputs.map((o) => a.info.get(o)!.out) };
  });
  return JSON.stringify({ init, ins: g.inputs.map((src) => a.info.get(src)!.out), body, outs: g.outputs.map((o) => ref.get(o)!) });
}
