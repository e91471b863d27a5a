/**
 * Groups (issue 12): named, nestable sets of blocks that organise a graph without changing it.
 * Nodes keep their full names (PyTorch module paths) and everything that computes reads the flat
 * `nodes` and `edges`, so a grouped graph has exactly the weights and outputs of the same graph flat.
 *
 * The model ({@link GraphGroup}): a node is in at most one group (its innermost); groups nest through
 * `parent`; parents are listed before their children. Pure: no tfjs, no React. Every edit returns a
 * new graph; a request that makes no sense throws a {@link GroupError} naming the problem.
 */
import { blockDef, isBlockType } from '../blocks/registry';
import type { PortKind, TensorShape } from '../blocks/types';
import { nodeFlops, nodeWeights, type Analysis, type Problem } from './analyze';
import type { Graph, GraphGroup, PortRef } from './model';
import { OUTPUT_PORT } from './model';

export { groupProblems, groupLabel, type GroupProblem } from './group-problems';

export class GroupError extends Error {
  override name = 'GroupError';
}

// ---------------------------------------------------------------------------------------------
// Reading groups

/** A graph's groups looked up by id, each node's group and each group's children (cached per graph). */
export interface GroupIndex {
  readonly byId: ReadonlyMap<string, GraphGroup>;
  /** Node id → the id of its (innermost) group; top-level nodes are absent. */
  readonly groupOfNode: ReadonlyMap<string, string>;
  /** Group id → the ids of its child groups, in list order; top-level groups under `undefined`. */
  readonly children: ReadonlyMap<string | undefined, readonly string[]>;
}

const indexCache = new WeakMap<Graph, GroupIndex>();

/** The index of a graph's groups; graphs are immutable, so it is computed once per graph object. */
export function indexGroups(graph: Graph): GroupIndex {
  const hit = indexCache.get(graph);
  if (hit) return hit;
  const byId = new Map<string, GraphGroup>();
  const groupOfNode = new Map<string, string>();
  const children = new Map<string | undefined, string[]>();
  for (const g of graph.groups ?? []) {
    if (byId.has(g.id)) continue;
    byId.set(g.id, g);
    for (const id of g.nodes) if (!groupOfNode.has(id)) groupOfNode.set(id, g.id);
  }
  for (const g of byId.values()) {
    const p = g.parent !== undefined && byId.has(g.parent) ? g.parent : undefined;
    const list = children.get(p);
    if (list) list.push(g.id);
    else children.set(p, [g.id]);
  }
  const index: GroupIndex = { byId, groupOfNode, children };
  indexCache.set(graph, index);
  return index;
}

/** The group with this id, or a GroupError naming the id. */
function getGroup(graph: Graph, groupId: string): GraphGroup {
  const g = indexGroups(graph).byId.get(groupId);
  if (!g) throw new GroupError(`there is no group with id ${JSON.stringify(groupId)}`);
  return g;
}

/** The innermost group holding the node, or undefined for a top-level node. */
export function groupOf(graph: Graph, nodeId: string): GraphGroup | undefined {
  const idx = indexGroups(graph);
  const g = idx.groupOfNode.get(nodeId);
  return g === undefined ? undefined : idx.byId.get(g);
}

/**
 * The groups enclosing a node or a group, outermost first (a group's own id is not in its chain;
 * a top-level item's chain is empty). Stops at a cycle of parents (an invalid graph).
 */
export function groupChain(graph: Graph, id: string): GraphGroup[] {
  const idx = indexGroups(graph);
  const chain: GraphGroup[] = [];
  const seen = new Set<string>([id]);
  let cur = idx.byId.has(id) ? idx.byId.get(id)!.parent : idx.groupOfNode.get(id);
  while (cur !== undefined && !seen.has(cur)) {
    const g = idx.byId.get(cur);
    if (!g) break;
    seen.add(cur);
    chain.push(g);
    cur = g.parent;
  }
  return chain.reverse();
}

/** The ids of the group itself and every group nested in it (any depth), the group first. */
function subtree(idx: GroupIndex, groupId: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const stack = [groupId];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(id);
    for (const c of idx.children.get(id) ?? []) stack.push(c);
  }
  return out;
}

/** The ids of every node in the group, at any depth, in the graph's node order. */
export function groupDescendants(graph: Graph, groupId: string): string[] {
  const idx = indexGroups(graph);
  getGroup(graph, groupId);
  const groups = new Set(subtree(idx, groupId));
  return graph.nodes.filter((n) => {
    const g = idx.groupOfNode.get(n.id);
    return g !== undefined && groups.has(g);
  }).map((n) => n.id);
}

/** The same graph without groups (a flat copy; nodes and edges are shared). */
export function withoutGroups(graph: Graph): Graph {
  const { groups: _groups, ...flat } = graph;
  return flat;
}

// ---------------------------------------------------------------------------------------------
// Editing groups

/** Why `name` cannot name a group (other than `except`), or null. */
export function groupNameProblem(graph: Graph, name: string, except?: string): string | null {
  if (name.trim() === '' || name !== name.trim()) return 'a group name must not be empty or have spaces at either end';
  const twin = (graph.groups ?? []).find((g) => g.name === name && g.id !== except);
  if (twin) return `the name ${JSON.stringify(name)} is already used by another group`;
  return null;
}

/** The longest dotted prefix that every name extends (`input_blocks.4` for `input_blocks.4.0` and `input_blocks.4.1`), or ''. */
export function commonModulePath(names: readonly string[]): string {
  if (names.length === 0) return '';
  const split = names.map((n) => n.split('.'));
  // A strict prefix of every name: at most one segment fewer than the shortest.
  const max = Math.min(...split.map((s) => s.length)) - 1;
  let k = 0;
  while (k < max && split.every((s) => s[k] === split[0][k] && s[k] !== '')) k++;
  return split[0].slice(0, k).join('.');
}

/** `prefix_1`, `prefix_2`, … the first not in `taken`. */
function firstFree(taken: ReadonlySet<string>, prefix: string): string {
  for (let i = 1; ; i++) if (!taken.has(`${prefix}${i}`)) return `${prefix}${i}`;
}

/**
 * Puts the selected items into a new group, which takes their place under their common parent.
 * `ids` are node ids and group ids (a collapsed group is one item). Every item must have the same
 * parent (the same enclosing group, or all at the top level). The default name is the longest
 * common dotted prefix of the names of all nodes inside (a module path such as `input_blocks.4`)
 * when there is one and no group has it, else `group_1`, `group_2`, …. The new id is `g1`, `g2`, …
 * (the first no group or node uses).
 */
export function groupNodes(graph: Graph, ids: readonly string[], name?: string): { graph: Graph; groupId: string } {
  const idx = indexGroups(graph);
  const nodeIds = new Set(graph.nodes.map((n) => n.id));
  const picked = [...new Set(ids)];
  if (picked.length === 0) throw new GroupError('select at least one block or group to group');
  const pickedNodes = new Set<string>();
  const pickedGroups = new Set<string>();
  const parentOf = (id: string): string | undefined => {
    if (idx.byId.has(id)) {
      pickedGroups.add(id);
      return idx.byId.get(id)!.parent;
    }
    if (nodeIds.has(id)) {
      pickedNodes.add(id);
      return idx.groupOfNode.get(id);
    }
    throw new GroupError(`${JSON.stringify(id)} is neither a block nor a group of the graph`);
  };
  const parents = picked.map(parentOf);
  const parent = parents[0];
  const where = (p: string | undefined) => (p === undefined ? 'the top level' : `group ${JSON.stringify(idx.byId.get(p)?.name ?? p)}`);
  const other = parents.find((p) => p !== parent);
  if (parents.some((p) => p !== parent)) {
    throw new GroupError(`the selection mixes items of ${where(parent)} and of ${where(other)}; select blocks and groups that sit side by side in one group`);
  }

  // Name: given (checked), else the common module path, else group_N.
  const groupNames = new Set((graph.groups ?? []).map((g) => g.name));
  let groupName: string;
  if (name !== undefined) {
    const problem = groupNameProblem(graph, name);
    if (problem) throw new GroupError(problem);
    groupName = name;
  } else {
    const names = new Map(graph.nodes.map((n) => [n.id, n.name]));
    const inner = [...pickedNodes];
    for (const g of pickedGroups) for (const gid of subtree(idx, g)) for (const n of idx.byId.get(gid)!.nodes) inner.push(n);
    const path = commonModulePath(inner.map((id) => names.get(id) ?? ''));
    groupName = path !== '' && !groupNames.has(path) ? path : firstFree(groupNames, 'group_');
  }
  const taken = new Set<string>([...idx.byId.keys(), ...nodeIds]);
  const groupId = firstFree(taken, 'g');

  const members = graph.nodes.filter((n) => pickedNodes.has(n.id)).map((n) => n.id);
  const created: GraphGroup = { id: groupId, name: groupName, ...(parent !== undefined ? { parent } : {}), nodes: members };
  const old = graph.groups ?? [];
  const updated = old.map((g): GraphGroup => {
    if (pickedGroups.has(g.id)) return { ...g, parent: groupId };
    if (g.id === parent && pickedNodes.size > 0) return { ...g, nodes: g.nodes.filter((id) => !pickedNodes.has(id)) };
    return g;
  });
  // Before its first child group (its parent, listed before that child, stays before it), else last.
  const firstChild = old.findIndex((g) => pickedGroups.has(g.id));
  const at = firstChild === -1 ? updated.length : firstChild;
  const groups = [...updated.slice(0, at), created, ...updated.slice(at)];
  return { graph: { ...graph, groups }, groupId };
}

/** Removes a group: its blocks and child groups move to its parent (or the top level). */
export function ungroup(graph: Graph, groupId: string): Graph {
  const g = getGroup(graph, groupId);
  const groups: GraphGroup[] = [];
  for (const h of graph.groups ?? []) {
    if (h.id === groupId) continue;
    if (h.id === g.parent) groups.push({ ...h, nodes: [...h.nodes, ...g.nodes] });
    else if (h.parent === groupId) groups.push(reparent(h, g.parent));
    else groups.push(h);
  }
  return withGroups(graph, groups);
}

function reparent(g: GraphGroup, parent: string | undefined): GraphGroup {
  const { parent: _old, ...rest } = g;
  return parent === undefined ? rest : { ...rest, parent };
}

/** The graph with this list of groups; an empty list leaves a flat graph (no `groups` key). */
function withGroups(graph: Graph, groups: readonly GraphGroup[]): Graph {
  return groups.length === 0 ? withoutGroups(graph) : { ...graph, groups };
}

/** Renames a group (a GroupError when the name is empty, padded or taken). */
export function renameGroup(graph: Graph, groupId: string, name: string): Graph {
  const g = getGroup(graph, groupId);
  if (g.name === name) return graph;
  const problem = groupNameProblem(graph, name, groupId);
  if (problem) throw new GroupError(problem);
  return { ...graph, groups: (graph.groups ?? []).map((h) => (h.id === groupId ? { ...h, name } : h)) };
}

/**
 * Keeps groups consistent after nodes were removed: member ids that are no longer nodes are
 * dropped, then groups left empty (no members, no child groups), innermost first. Returns the same
 * graph object when nothing changed.
 */
export function pruneGroups(graph: Graph): Graph {
  const old = graph.groups;
  if (!old || old.length === 0) return graph;
  const nodeIds = new Set(graph.nodes.map((n) => n.id));
  let changed = false;
  const kept = old.map((g) => {
    const nodes = g.nodes.filter((id) => nodeIds.has(id));
    if (nodes.length === g.nodes.length) return g;
    changed = true;
    return { ...g, nodes };
  });
  // Children follow their parents: walking backwards, a group's surviving children are counted before it.
  const liveChildren = new Map<string, number>();
  const alive = new Array<boolean>(kept.length).fill(false);
  for (let i = kept.length - 1; i >= 0; i--) {
    const g = kept[i];
    alive[i] = g.nodes.length > 0 || (liveChildren.get(g.id) ?? 0) > 0;
    if (alive[i] && g.parent !== undefined) liveChildren.set(g.parent, (liveChildren.get(g.parent) ?? 0) + 1);
  }
  if (alive.some((a) => !a)) changed = true;
  if (!changed) return graph;
  return withGroups(graph, kept.filter((_, i) => alive[i]));
}

// ---------------------------------------------------------------------------------------------
// Ports, summaries, what the canvas draws

export interface GroupPort {
  /** Readable and unique among the group's inputs (or outputs): `x`, `emb`, `skip`, `x_2`, …. */
  readonly name: string;
  readonly kind: PortKind;
  /** The tensor's shape, when the analysis knows it. */
  readonly shape: TensorShape | null;
  /** The node output the port carries: outside the group for an input, inside for an output. */
  readonly source: PortRef;
  /** Where it goes: the inner inputs it feeds (an input port) or the outer ones (an output port), in edge order. */
  readonly targets: readonly PortRef[];
}

export interface GroupPorts {
  readonly inputs: readonly GroupPort[];
  readonly outputs: readonly GroupPort[];
}

/** The position of each node in forward order (analysed nodes first, the rest in graph order). */
function forwardRank(graph: Graph, analysis: Analysis): Map<string, number> {
  const rank = new Map<string, number>();
  analysis.order.forEach((id, i) => rank.set(id, i));
  let next = analysis.order.length;
  for (const n of graph.nodes) if (!rank.has(n.id)) rank.set(n.id, next++);
  return rank;
}

/**
 * A group's ports, derived from the edges that cross its border: one input per distinct outside
 * source (node, port) feeding any node inside, one output per inside source feeding anything
 * outside. Kinds come from the block declarations, shapes from the analysis. Inputs are named after
 * the inner input they feed first (`x`, `emb`, `skip`); outputs after the outer inputs they feed
 * when those agree, else `out`; repeats get `_2`, `_3`, …. Ports are in forward order of their
 * source (then of their first target). Edges the checker refuses (missing nodes or ports, unknown
 * types) make no port.
 */
export function groupPorts(graph: Graph, analysis: Analysis, groupId: string): GroupPorts {
  const inside = new Set(groupDescendants(graph, groupId));
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const rank = forwardRank(graph, analysis);
  interface Acc { source: PortRef; kind: PortKind; targets: PortRef[] }
  const ins = new Map<string, Acc>();
  const outs = new Map<string, Acc>();
  for (const e of graph.edges) {
    const a = inside.has(e.from.node);
    const b = inside.has(e.to.node);
    if (a === b) continue;
    const src = byId.get(e.from.node);
    const dst = byId.get(e.to.node);
    if (!src || !dst || !isBlockType(src.type) || !isBlockType(dst.type)) continue;
    const out = blockDef(src.type).output;
    const port = blockDef(dst.type).inputs.find((p) => p.name === e.to.port);
    if (!out || e.from.port !== OUTPUT_PORT || !port) continue;
    const key = `${e.from.node}\u0000${e.from.port}`;
    const map = b ? ins : outs;
    const acc = map.get(key);
    if (acc) acc.targets.push(e.to);
    else map.set(key, { source: e.from, kind: out.kind, targets: [e.to] });
  }
  const targetRank = (acc: Acc) => Math.min(...acc.targets.map((t) => rank.get(t.node) ?? Infinity));
  const sorted = (m: Map<string, Acc>) =>
    [...m.values()].sort((x, y) => (rank.get(x.source.node)! - rank.get(y.source.node)!) || targetRank(x) - targetRank(y));
  const shapeOf = (p: PortRef) => analysis.info.get(p.node)?.out ?? null;
  const named = (list: Acc[], base: (acc: Acc) => string): GroupPort[] => {
    const used = new Set<string>();
    return list.map((acc) => {
      const b = base(acc);
      let name = b;
      for (let i = 2; used.has(name); i++) name = `${b}_${i}`;
      used.add(name);
      return { name, kind: acc.kind, shape: shapeOf(acc.source), source: acc.source, targets: acc.targets };
    });
  };
  const firstTarget = (acc: Acc) => [...acc.targets].sort((x, y) => (rank.get(x.node) ?? 0) - (rank.get(y.node) ?? 0))[0].port;
  return {
    inputs: named(sorted(ins), firstTarget),
    outputs: named(sorted(outs), (acc) => (acc.targets.every((t) => t.port === acc.targets[0].port) ? acc.targets[0].port : 'out')),
  };
}

export interface GroupSummary {
  readonly id: string;
  readonly name: string;
  /** Nodes inside, at any depth. */
  readonly blocks: number;
  /** Trainable parameters of the nodes inside (the numbers the flat graph counts). */
  readonly parameters: number;
  /** FLOPs per sample of the nodes inside (2 per multiply-add). */
  readonly flops: number;
  readonly inputs: readonly GroupPort[];
  readonly outputs: readonly GroupPort[];
  /** The analysis' problems about nodes inside or about this group and those nested in it (each message names the block or group). */
  readonly problems: readonly Problem[];
  /** True when one of `problems` is an error. */
  readonly hasErrors: boolean;
}

/** What a collapsed group shows and the inspector lists: sums over the nodes inside, ports, problems inside. */
export function groupSummary(graph: Graph, analysis: Analysis, groupId: string): GroupSummary {
  const g = getGroup(graph, groupId);
  const nodes = groupDescendants(graph, groupId);
  const inside = new Set(nodes);
  const groups = new Set(subtree(indexGroups(graph), groupId));
  let parameters = 0;
  let flops = 0;
  for (const id of nodes) {
    const inf = analysis.info.get(id);
    if (!inf) continue;
    for (const w of nodeWeights(inf)) if (w.role === 'param') parameters += w.shape.reduce((x, y) => x * y, 1);
    flops += nodeFlops(inf);
  }
  const problems = analysis.problems.filter((p) => (p.groupId !== undefined ? groups.has(p.groupId) : p.nodeId !== undefined && inside.has(p.nodeId)));
  const { inputs, outputs } = groupPorts(graph, analysis, groupId);
  return { id: g.id, name: g.name, blocks: nodes.length, parameters, flops, inputs, outputs, problems, hasErrors: problems.some((p) => p.severity === 'error') };
}

export interface VisibleItems {
  /** Blocks drawn on their own (not inside a collapsed group). */
  readonly blocks: number;
  /** Collapsed groups drawn as one node each (not inside another collapsed group). */
  readonly collapsed: number;
  /** Expanded groups drawn as a frame (not inside a collapsed group). */
  readonly frames: number;
  /** All of them: what the canvas draws. */
  readonly total: number;
}

/** The id of the outermost collapsed group hiding this node or group (its own id when a group is collapsed itself), or undefined. */
export function collapsedAncestor(graph: Graph, id: string, collapsed: ReadonlySet<string>): string | undefined {
  const chain = groupChain(graph, id);
  const hit = chain.find((g) => collapsed.has(g.id));
  if (hit) return hit.id;
  return collapsed.has(id) && indexGroups(graph).byId.has(id) ? id : undefined;
}

/** How many items the canvas draws with these groups collapsed. Linear in the graph's size. */
export function visibleItems(graph: Graph, collapsed: ReadonlySet<string>): VisibleItems {
  const idx = indexGroups(graph);
  // hidden: inside a collapsed group; shut: hidden or collapsed itself (its contents are hidden). Parents come first.
  const hidden = new Set<string>();
  const shut = new Set<string>();
  let frames = 0;
  let folded = 0;
  for (const g of idx.byId.values()) {
    const parentShut = g.parent !== undefined && shut.has(g.parent);
    if (parentShut) hidden.add(g.id);
    if (parentShut || collapsed.has(g.id)) shut.add(g.id);
    if (!parentShut) {
      if (collapsed.has(g.id)) folded++;
      else frames++;
    }
  }
  let blocks = 0;
  for (const n of graph.nodes) {
    const g = idx.groupOfNode.get(n.id);
    if (g === undefined || !shut.has(g)) blocks++;
  }
  return { blocks, collapsed: folded, frames, total: blocks + folded + frames };
}

/** The groups a document opens with collapsed when nobody chose: every top-level group (a template's levels). */
export function defaultCollapsed(graph: Graph): string[] {
  return (graph.groups ?? []).filter((g) => g.parent === undefined).map((g) => g.id);
}
