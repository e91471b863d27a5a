/**
 * What can be wrong with a graph's groups ({@link GraphGroup}), checked without the analysis (so
 * `analyze` can report them without an import cycle; `./groups` re-exports this). Each problem names
 * the group (and the node, where there is one) and says how to fix it.
 */
import type { Graph, GraphGroup } from './model';

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
  return out;
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
