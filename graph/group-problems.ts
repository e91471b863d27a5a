/**
 * What can be wrong with a graph's groups ({@link GraphGroup}), checked without the analysis (so
 * `analyze` can report them without an import cycle; `./groups` re-exports this). Each problem names
 * the group (and the node, where there is one) and says how to fix it.
 */
import { isBlockType } from '../blocks/registry';
import type { ParamValue } from '../blocks/types';
import type { BlockDefinition, Graph, GraphGroup, GraphNode } from './model';
import { defaultParams } from './params';

export interface GroupProblem {
  /** The group at fault (id and name). */
  readonly groupId: string;
  readonly group: string;
  /** The node concerned, where there is one (id, and name when the node exists). */
  readonly nodeId?: string;
  readonly node?: string;
  /** Full sentence, e.g. `group "encoder.1": block "input_blocks.4.0" is also in group "encoder.2"`. */
  readonly message: string;
  readonly fix: string;
}

/** `group "encoder.1"`: how messages name a group. */
export const groupLabel = (g: Pick<GraphGroup, 'name'>): string => `group ${JSON.stringify(g.name)}`;

/**
 * Every problem with the graph's groups: ids unique and distinct from node ids; names non-empty,
 * trimmed and unique among groups; a parent that exists, comes before its child, and no cycle of
 * parents; members that exist, each node in at most one group; no empty group (no members, no
 * child groups). Linear in the size of the graph.
 */
export function groupProblems(graph: Graph): GroupProblem[] {
  const groups = graph.groups ?? [];
  if (groups.length === 0) return [];
  const out: GroupProblem[] = [];
  const at = (g: GraphGroup, message: string, fix: string, node?: { id: string; name?: string }) => {
    out.push({
      groupId: g.id,
      group: g.name,
      ...(node ? { nodeId: node.id, ...(node.name !== undefined ? { node: node.name } : {}) } : {}),
      message: `${groupLabel(g)}: ${message}`,
      fix,
    });
  };
  const nodeNames = new Map<string, string>();
  for (const n of graph.nodes) if (!nodeNames.has(n.id)) nodeNames.set(n.id, n.name);

  const index = new Map<string, number>();
  const names = new Map<string, GraphGroup>();
  groups.forEach((g, i) => {
    if (index.has(g.id)) at(g, `its id ${JSON.stringify(g.id)} is also used by another group`, 'give every group its own id');
    else if (nodeNames.has(g.id)) at(g, `its id ${JSON.stringify(g.id)} is also a block's id`, 'give the group an id no block uses');
    else index.set(g.id, i);
    if (g.name.trim() === '' || g.name !== g.name.trim()) {
      at(g, 'the name is empty or has spaces at either end', 'give the group a name such as "input_blocks.4"');
    } else if (names.has(g.name)) {
      at(g, 'the name is also used by another group', 'rename one of them: group names are unique');
    } else {
      names.set(g.name, g);
    }
  });

  // Parents: exist, come first; a parent listed after its child is reported, which also rules out cycles.
  const children = new Map<string, number>();
  groups.forEach((g, i) => {
    if (g.parent === undefined) return;
    const p = index.get(g.parent);
    if (p === undefined) {
      at(g, `its parent group ${JSON.stringify(g.parent)} does not exist`, 'move the group to the top level or into an existing group');
    } else if (p === i) {
      at(g, 'is its own parent', 'move the group to the top level or into another group');
    } else if (p > i) {
      const cyc = isOnParentCycle(groups, index, i);
      at(
        g,
        cyc ? `is inside itself through its parents (${cyc})` : `its parent ${groupLabel(groups[p])} is listed after it`,
        cyc ? 'move one of these groups to the top level' : 'list parent groups before their children (save the document again)',
      );
    } else {
      children.set(g.parent, (children.get(g.parent) ?? 0) + 1);
    }
  });

  // Members: exist, at most one group each.
  const owner = new Map<string, GraphGroup>();
  for (const g of groups) {
    for (const id of g.nodes) {
      const name = nodeNames.get(id);
      if (name === undefined) {
        at(g, `its member ${JSON.stringify(id)} is not a block of the graph`, 'remove it from the group (ungroup and group again)', { id });
        continue;
      }
      const prev = owner.get(id);
      if (prev === g) {
        at(g, `lists block ${JSON.stringify(name)} twice`, 'list each block once', { id, name });
      } else if (prev) {
        at(g, `block ${JSON.stringify(name)} is also in ${groupLabel(prev)}`, 'keep each block in one group: its innermost', { id, name });
      } else {
        owner.set(id, g);
      }
    }
  }
  for (const g of groups) {
    if (g.nodes.length === 0 && !children.has(g.id)) at(g, 'is empty', 'delete the group, or put blocks in it');
  }
  if (groups.some((g) => g.definition !== undefined)) instanceProblems(graph, at);
  return out;
}

/** A member's name relative to its instance group: without the `${group}.` prefix when it has it, else whole. */
export function relativeName(groupName: string, nodeName: string): string {
  return nodeName.startsWith(`${groupName}.`) ? nodeName.slice(groupName.length + 1) : nodeName;
}

/** A node's parameters with the block's defaults filled in (as saved for an unknown type). */
export function fullParams(type: string, params: Readonly<Record<string, ParamValue>>): Record<string, ParamValue> {
  return isBlockType(type) ? { ...defaultParams(type), ...params } : { ...params };
}

/** `block "My res"`: how messages name a definition. */
export const definitionLabel = (d: Pick<BlockDefinition, 'name'>): string => `block ${JSON.stringify(d.name)}`;

type Report = (g: GraphGroup, message: string, fix: string, node?: { id: string; name?: string }) => void;

/**
 * Instances (groups with `definition`): the definition exists; the members at any depth, by relative
 * name, are exactly the definition's nodes, with its types, its parameters (defaults filled in) except
 * where the instance overrides them (then the override's value), and exactly its internal edges;
 * overrides name nodes and parameters of the definition.
 */
function instanceProblems(graph: Graph, at: Report): void {
  const groups = graph.groups ?? [];
  const defs = new Map<string, BlockDefinition>();
  for (const d of graph.definitions ?? []) if (!defs.has(d.id)) defs.set(d.id, d);
  const byId = new Map<string, GraphNode>();
  for (const n of graph.nodes) if (!byId.has(n.id)) byId.set(n.id, n);
  const kids = new Map<string, GraphGroup[]>();
  for (const g of groups) if (g.parent !== undefined) kids.set(g.parent, [...(kids.get(g.parent) ?? []), g]);
  const members = (g: GraphGroup): GraphNode[] => {
    const out: GraphNode[] = [];
    const seen = new Set<string>();
    const stack = [g];
    while (stack.length > 0) {
      const h = stack.pop()!;
      if (seen.has(h.id)) continue;
      seen.add(h.id);
      for (const id of h.nodes) {
        const n = byId.get(id);
        if (n) out.push(n);
      }
      stack.push(...(kids.get(h.id) ?? []));
    }
    return out;
  };
  const fix = (d: BlockDefinition) => `make it match ${definitionLabel(d)} again (undo the edit), or ungroup it to detach it from the block`;
  for (const g of groups) {
    if (g.definition === undefined) continue;
    const def = defs.get(g.definition);
    if (!def) {
      at(g, `is an instance of block definition ${JSON.stringify(g.definition)}, which the document does not hold`, 'ungroup it, or open the document with its blocks');
      continue;
    }
    const inst = `instance of ${definitionLabel(def)}`;
    const mine = members(g);
    const rel = new Map<string, GraphNode>();
    const relOf = new Map<string, string>();
    for (const n of mine) {
      const r = relativeName(g.name, n.name);
      rel.set(r, n);
      relOf.set(n.id, r);
    }
    const defNodes = new Map(def.nodes.map((n) => [n.name, n]));
    const overrides = g.overrides ?? {};
    let broken = false;
    for (const n of mine) {
      const r = relOf.get(n.id)!;
      const dn = defNodes.get(r);
      if (!dn) {
        at(g, `${inst}: block ${JSON.stringify(n.name)} is not part of the block (it has no node ${JSON.stringify(r)})`, fix(def), n);
        broken = true;
        continue;
      }
      if (dn.type !== n.type) {
        at(g, `${inst}: block ${JSON.stringify(n.name)} is a ${n.type}, the block's node ${JSON.stringify(r)} a ${dn.type}`, fix(def), n);
        broken = true;
        continue;
      }
      const want = { ...fullParams(dn.type, dn.params), ...(Object.prototype.hasOwnProperty.call(overrides, r) ? overrides[r] : {}) };
      const have = fullParams(n.type, n.params);
      const keys = new Set([...Object.keys(want), ...Object.keys(have)]);
      for (const k of [...keys].sort()) {
        if (want[k] !== have[k]) {
          const o = Object.prototype.hasOwnProperty.call(overrides, r) && Object.prototype.hasOwnProperty.call(overrides[r], k);
          at(
            g,
            `${inst}: block ${JSON.stringify(n.name)} has ${k} = ${JSON.stringify(have[k]) ?? 'nothing'}, the ${o ? 'override' : 'block'} says ${JSON.stringify(want[k]) ?? 'nothing'}`,
            fix(def),
            n,
          );
          broken = true;
        }
      }
    }
    for (const dn of def.nodes) {
      if (!rel.has(dn.name)) {
        at(g, `${inst}: the block's node ${JSON.stringify(dn.name)} (${dn.type}) is missing (no member named ${JSON.stringify(`${g.name}.${dn.name}`)})`, fix(def));
        broken = true;
      }
    }
    for (const [r, params] of Object.entries(overrides)) {
      const dn = defNodes.get(r);
      if (!dn) {
        at(g, `${inst}: overrides parameters of ${JSON.stringify(r)}, which is not a node of the block`, 'remove the override');
        continue;
      }
      const known = fullParams(dn.type, dn.params);
      for (const k of Object.keys(params)) {
        if (!Object.prototype.hasOwnProperty.call(known, k)) at(g, `${inst}: overrides ${JSON.stringify(k)} of ${JSON.stringify(r)}, which ${dn.type} does not have`, 'remove the override');
      }
    }
    if (broken) continue;
    // Internal edges, by relative names.
    const key = (a: string, ap: string, b: string, bp: string) => `${a}\u0000${ap}\u0000${b}\u0000${bp}`;
    const wanted = new Set(def.edges.map((e) => key(e.from.node, e.from.port, e.to.node, e.to.port)));
    const found = new Set<string>();
    for (const e of graph.edges) {
      const a = relOf.get(e.from.node);
      const b = relOf.get(e.to.node);
      if (a === undefined || b === undefined) continue;
      const k = key(a, e.from.port, b, e.to.port);
      found.add(k);
      if (!wanted.has(k)) {
        at(g, `${inst}: the connection ${JSON.stringify(`${a}.${e.from.port}`)} → ${JSON.stringify(`${b}.${e.to.port}`)} is not part of the block`, fix(def));
      }
    }
    for (const e of def.edges) {
      if (!found.has(key(e.from.node, e.from.port, e.to.node, e.to.port))) {
        at(g, `${inst}: the block's connection ${JSON.stringify(`${e.from.node}.${e.from.port}`)} → ${JSON.stringify(`${e.to.node}.${e.to.port}`)} is missing`, fix(def));
      }
    }
  }
}

/** The names along a cycle of parents through group `i`, or null when its parents end at the top. */
function isOnParentCycle(groups: readonly GraphGroup[], index: ReadonlyMap<string, number>, i: number): string | null {
  const seen = new Set<number>();
  const path: number[] = [];
  let cur: number | undefined = i;
  while (cur !== undefined && !seen.has(cur)) {
    seen.add(cur);
    path.push(cur);
    const p: string | undefined = groups[cur].parent;
    cur = p === undefined ? undefined : index.get(p);
  }
  if (cur !== i) return null;
  return [...path, i].map((k) => JSON.stringify(groups[k].name)).join(' → ');
}
