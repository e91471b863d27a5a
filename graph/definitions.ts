/**
 * Blocks of the user's own (issue 12): "Save as block" turns a group into a reusable definition
 * ({@link BlockDefinition}); its instances are groups that name it, and editing a parameter inside
 * one instance edits the definition, so every instance follows (unless it overrides that parameter).
 * "Repeat ×N" chains copies of a group, numbered the PyTorch way. Pure: every op returns a new graph;
 * a request that makes no sense throws a {@link DefinitionError} naming the problem.
 *
 * Names: an instance `name` holds nodes `${name}.${relative}` (relative names are the definition's);
 * a saved group's members keep their names, so its relative names are the members' names without
 * the `${group}.` prefix (a member without it keeps its whole name as its relative name).
 */
import { isBlockType } from '../blocks/registry';
import type { ParamValue } from '../blocks/types';
import { analyze, type Analysis, type Problem } from './analyze';
import { DefinitionError, definitionLabelProblem, definitionNameProblem, plainDefinition } from './definitions-format';
import { definitionLabel, fullParams, relativeName } from './group-problems';
import { groupChain, groupDescendants, groupNameProblem, groupPorts, indexGroups } from './groups';
import { MAX_BLOCKS } from './limits';
import type { BlockDefinition, DefinitionEdge, DefinitionPort, Graph, GraphEdge, GraphGroup, GraphNode } from './model';

export { DefinitionError, parseLibrary, serializeLibrary, LIBRARY_FORMAT, LIBRARY_VERSION } from './definitions-format';
export { relativeName } from './group-problems';

/** Most copies "Repeat ×N" makes in one go. */
export const MAX_REPEAT = 256;

// ---------------------------------------------------------------------------------------------
// Reading

/** The graph's definition with this id, or undefined. */
export function findDefinition(graph: Graph, id: string): BlockDefinition | undefined {
  return (graph.definitions ?? []).find((d) => d.id === id);
}

/** The innermost group enclosing the node (or the group itself, for a group id) that is an instance, or undefined. */
export function instanceOf(graph: Graph, id: string): GraphGroup | undefined {
  const idx = indexGroups(graph);
  const self = idx.byId.get(id);
  const chain = groupChain(graph, id);
  if (self) chain.push(self);
  for (let i = chain.length - 1; i >= 0; i--) if (chain[i].definition !== undefined) return chain[i];
  return undefined;
}

/** Two definitions with the same structure and parameters (ids and labels aside). */
export function sameStructure(a: BlockDefinition, b: BlockDefinition): boolean {
  const strip = (d: BlockDefinition) => {
    const p = plainDefinition(d);
    return JSON.stringify({ ...p, id: '', name: '', nodes: p.nodes.map((n) => ({ ...n, params: sortKeys(fullParams(n.type, n.params)) })) });
  };
  return strip(a) === strip(b);
}

function sortKeys<T>(o: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

function getGroup(graph: Graph, groupId: string): GraphGroup {
  const g = indexGroups(graph).byId.get(groupId);
  if (!g) throw new DefinitionError(`there is no group with id ${JSON.stringify(groupId)}`);
  return g;
}

/** `prefix1`, `prefix2`, … the first not in `taken`. */
function firstFree(taken: ReadonlySet<string>, prefix: string, from = 1): string {
  for (let i = from; ; i++) if (!taken.has(`${prefix}${i}`)) return `${prefix}${i}`;
}

/** A definition id from a label: `block_` + its letters and digits, unique among `taken`. */
function definitionId(label: string, taken: ReadonlySet<string>): string {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  const base = `block_${slug === '' ? 'x' : slug}`;
  return taken.has(base) ? firstFree(taken, `${base}_`, 2) : base;
}

// ---------------------------------------------------------------------------------------------
// Save as block

/** The definition a group describes now (its members' current parameters; no id or label yet). */
function describeGroup(graph: Graph, analysis: Analysis, group: GraphGroup, id: string, label: string): BlockDefinition {
  const inside = groupDescendants(graph, group.id);
  if (inside.length === 0) throw new DefinitionError(`group ${JSON.stringify(group.name)} holds no blocks: there is nothing to save`);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const rel = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const nid of inside) {
    const n = byId.get(nid)!;
    const r = relativeName(group.name, n.name);
    const bad = definitionNameProblem(r);
    if (bad) throw new DefinitionError(`block ${JSON.stringify(n.name)} in group ${JSON.stringify(group.name)}: its name ${bad}; rename it before saving the group as a block`);
    const twin = seen.get(r);
    if (twin !== undefined) {
      throw new DefinitionError(`blocks ${JSON.stringify(twin)} and ${JSON.stringify(n.name)} in group ${JSON.stringify(group.name)} would both be ${JSON.stringify(r)} inside the block; rename one`);
    }
    if (!isBlockType(n.type)) throw new DefinitionError(`block ${JSON.stringify(n.name)} has the unknown type ${JSON.stringify(n.type)}; a block of your own can only hold known blocks`);
    seen.set(r, n.name);
    rel.set(nid, r);
  }
  const nodes = inside.map((nid) => {
    const n = byId.get(nid)!;
    return { name: rel.get(nid)!, type: n.type, params: { ...n.params } };
  });
  const edges: DefinitionEdge[] = graph.edges
    .filter((e) => rel.has(e.from.node) && rel.has(e.to.node))
    .map((e) => ({ from: { node: rel.get(e.from.node)!, port: e.from.port }, to: { node: rel.get(e.to.node)!, port: e.to.port } }));
  const ports = groupPorts(graph, analysis, group.id);
  const inputs: DefinitionPort[] = ports.inputs.map((p) => ({ name: p.name, kind: p.kind, targets: p.targets.map((t) => ({ node: rel.get(t.node)!, port: t.port })) }));
  const outputs: DefinitionPort[] = ports.outputs.map((p) => ({ name: p.name, kind: p.kind, targets: [{ node: rel.get(p.source.node)!, port: p.source.port }] }));
  return { id, name: label, nodes, edges, inputs, outputs };
}

/**
 * "Save as block": the group becomes instance 1 of a new definition labelled `label` (its members'
 * current parameters; an instance of another block is detached from it, its overrides baked in).
 * The definition is added to the graph's definitions and returned.
 */
export function saveAsDefinition(graph: Graph, groupId: string, label: string): { graph: Graph; definition: BlockDefinition } {
  const group = getGroup(graph, groupId);
  const bad = definitionLabelProblem(label);
  if (bad) throw new DefinitionError(`the block's name ${bad}`);
  const defs = graph.definitions ?? [];
  if (defs.some((d) => d.name === label)) throw new DefinitionError(`there is already a block named ${JSON.stringify(label)}; choose another name`);
  const id = definitionId(label, new Set(defs.map((d) => d.id)));
  const definition = describeGroup(graph, analyze(graph), group, id, label);
  const groups = (graph.groups ?? []).map((g): GraphGroup => {
    if (g.id !== groupId) return g;
    const { overrides: _o, ...rest } = g;
    return { ...rest, definition: id };
  });
  return { graph: { ...graph, groups, definitions: [...defs, definition] }, definition };
}

// ---------------------------------------------------------------------------------------------
// Instantiate

/** `${base}_1`, `${base}_2`, …: the first instance name that no group or node path uses. */
export function suggestInstanceName(graph: Graph, definition: Pick<BlockDefinition, 'name'>): string {
  const slug = definition.name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  const base = slug === '' || /^[0-9]/.test(slug) ? `block_${slug}` : slug;
  for (let i = 1; ; i++) if (namePathProblem(graph, `${base}_${i}`) === null) return `${base}_${i}`;
}

/** Why `name` cannot hold a new group of nodes `${name}.…` (a group has it, or a node is or is under it), or null. */
function namePathProblem(graph: Graph, name: string): string | null {
  const g = (graph.groups ?? []).find((x) => x.name === name);
  if (g) return `the name ${JSON.stringify(name)} is already used by a group`;
  const n = graph.nodes.find((x) => x.name === name || x.name.startsWith(`${name}.`));
  if (n) return `the name ${JSON.stringify(name)} is already used (block ${JSON.stringify(n.name)})`;
  return null;
}

/** The definition as the graph holds it: added when new; reused when an equal one is there; a new id when its id is taken by a different one. */
function adopt(graph: Graph, definition: BlockDefinition): { graph: Graph; id: string } {
  const defs = graph.definitions ?? [];
  const same = defs.find((d) => d.id === definition.id);
  if (same && sameStructure(same, definition)) return { graph, id: same.id };
  const id = same ? definitionId(definition.name, new Set(defs.map((d) => d.id))) : definition.id;
  return { graph: { ...graph, definitions: [...defs, { ...plainDefinition(definition), id }] }, id };
}

/**
 * A new instance of `definition` named `name`: nodes `${name}.${relative}` (ids `nK`), its internal
 * edges (`eK`), and a new top-level group (`gK`) that is an instance of it. Its inputs are left
 * unconnected for the user to wire. The definition is added to the graph when it is not there.
 */
export function instantiate(graph: Graph, definition: BlockDefinition, name: string): { graph: Graph; groupId: string; nodeIds: string[] } {
  const gp = groupNameProblem(graph, name);
  if (gp) throw new DefinitionError(gp);
  const np = definitionNameProblem(name);
  if (np) throw new DefinitionError(`the instance name ${JSON.stringify(name)} ${np}`);
  const taken = namePathProblem(graph, name);
  if (taken) throw new DefinitionError(`${taken}; choose another name for the new ${definitionLabel(definition)}`);
  for (const n of definition.nodes) {
    if (!isBlockType(n.type)) throw new DefinitionError(`${definitionLabel(definition)}: node ${JSON.stringify(n.name)} has the unknown type ${JSON.stringify(n.type)}`);
  }
  if (graph.nodes.length + definition.nodes.length > MAX_BLOCKS) {
    throw new DefinitionError(`adding ${definitionLabel(definition)} (${definition.nodes.length} blocks) would pass the limit of ${MAX_BLOCKS} blocks`);
  }
  const adopted = adopt(graph, definition);
  const ids = new Ids(graph);
  const nodeOf = new Map<string, string>();
  const nodes: GraphNode[] = definition.nodes.map((n) => {
    const id = ids.node();
    nodeOf.set(n.name, id);
    return { id, name: `${name}.${n.name}`, type: n.type, params: { ...n.params } };
  });
  const edges: GraphEdge[] = definition.edges.map((e) => ({
    id: ids.edge(),
    from: { node: nodeOf.get(e.from.node)!, port: e.from.port },
    to: { node: nodeOf.get(e.to.node)!, port: e.to.port },
  }));
  const groupId = ids.group();
  const group: GraphGroup = { id: groupId, name, nodes: nodes.map((n) => n.id), definition: adopted.id };
  const g = adopted.graph;
  return {
    graph: { ...g, nodes: [...g.nodes, ...nodes], edges: [...g.edges, ...edges], groups: [...(g.groups ?? []), group] },
    groupId,
    nodeIds: nodes.map((n) => n.id),
  };
}

/** Fresh ids `nK`, `eK`, `gK` (each the first free number, none used by a node, edge or group). */
class Ids {
  private readonly taken: Set<string>;
  private n = 1;
  private e = 1;
  private g = 1;
  constructor(graph: Graph) {
    this.taken = new Set([...graph.nodes.map((x) => x.id), ...graph.edges.map((x) => x.id), ...(graph.groups ?? []).map((x) => x.id)]);
  }
  private next(prefix: string, from: number): [string, number] {
    let i = from;
    while (this.taken.has(`${prefix}${i}`)) i++;
    this.taken.add(`${prefix}${i}`);
    return [`${prefix}${i}`, i + 1];
  }
  node(): string {
    const [id, k] = this.next('n', this.n);
    this.n = k;
    return id;
  }
  edge(): string {
    const [id, k] = this.next('e', this.e);
    this.e = k;
    return id;
  }
  group(): string {
    const [id, k] = this.next('g', this.g);
    this.g = k;
    return id;
  }
}

// ---------------------------------------------------------------------------------------------
// Editing a parameter inside an instance

const problemKey = (p: Problem) => `${p.code}\u0000${p.message}`;

/**
 * Sets `param` of a node inside an instance. Without `override`, the definition changes and every
 * instance follows (their nodes' params updated, except where an instance overrides that param;
 * this instance's own override of it, if any, is dropped). With `override`, only this instance
 * changes and the value is recorded in its `overrides` (a value equal to the definition's removes
 * the override); refused when the result has a problem the graph did not have before, naming it.
 * A node outside any instance simply gets the value.
 */
export function setInstanceParam(graph: Graph, nodeId: string, param: string, value: ParamValue, opts: { readonly override?: boolean } = {}): Graph {
  const node = graph.nodes.find((n) => n.id === nodeId);
  if (!node) throw new DefinitionError(`there is no block with id ${JSON.stringify(nodeId)}`);
  if (isBlockType(node.type) && !Object.prototype.hasOwnProperty.call(fullParams(node.type, {}), param)) {
    throw new DefinitionError(`${node.type} "${node.name}" has no parameter ${JSON.stringify(param)}`);
  }
  const setOn = (g: Graph, ids: ReadonlySet<string>): Graph => ({
    ...g,
    nodes: g.nodes.map((n) => (ids.has(n.id) ? { ...n, params: { ...n.params, [param]: value } } : n)),
  });
  const inst = instanceOf(graph, nodeId);
  if (!inst) return setOn(graph, new Set([nodeId]));
  const def = findDefinition(graph, inst.definition!);
  if (!def) throw new DefinitionError(`group ${JSON.stringify(inst.name)} is an instance of a block the document does not hold (${JSON.stringify(inst.definition)})`);
  const rel = relativeName(inst.name, node.name);
  const defNode = def.nodes.find((n) => n.name === rel);
  if (!defNode) throw new DefinitionError(`block ${JSON.stringify(node.name)} is not part of ${definitionLabel(def)} (group ${JSON.stringify(inst.name)} no longer matches it)`);
  const defValue = fullParams(defNode.type, defNode.params)[param];

  if (opts.override) {
    const mine = { ...(inst.overrides?.[rel] ?? {}) };
    if (value === defValue) delete mine[param];
    else mine[param] = value;
    const overrides = { ...(inst.overrides ?? {}) };
    if (Object.keys(mine).length === 0) delete overrides[rel];
    else overrides[rel] = mine;
    const groups = (graph.groups ?? []).map((g): GraphGroup => {
      if (g.id !== inst.id) return g;
      const { overrides: _o, ...rest } = g;
      return Object.keys(overrides).length > 0 ? { ...rest, overrides } : rest;
    });
    const next = setOn({ ...graph, groups }, new Set([nodeId]));
    const before = new Set(analyze(graph).problems.map(problemKey));
    const added = analyze(next).problems.filter((p) => !before.has(problemKey(p)));
    if (added.length > 0) {
      throw new DefinitionError(
        `cannot override ${param} = ${JSON.stringify(value)} of "${node.name}" in this instance of ${definitionLabel(def)}: ${added
          .slice(0, 3)
          .map((p) => p.message)
          .join('; ')}`,
      );
    }
    return next;
  }

  // The definition changes; every instance follows unless it overrides this parameter.
  const definitions = (graph.definitions ?? []).map((d) =>
    d.id !== def.id ? d : { ...d, nodes: d.nodes.map((n) => (n.name === rel ? { ...n, params: { ...n.params, [param]: value } } : n)) },
  );
  const targets = new Set<string>();
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const groups = (graph.groups ?? []).map((g): GraphGroup => {
    if (g.definition !== def.id) return g;
    const own = g.overrides?.[rel];
    if (g.id === inst.id && own && Object.prototype.hasOwnProperty.call(own, param)) {
      // This instance follows the definition again.
      const mine = { ...own };
      delete mine[param];
      const overrides = { ...(g.overrides ?? {}) };
      if (Object.keys(mine).length === 0) delete overrides[rel];
      else overrides[rel] = mine;
      const { overrides: _o, ...rest } = g;
      addMember(graph, g, rel, byId, targets);
      return Object.keys(overrides).length > 0 ? { ...rest, overrides } : rest;
    }
    if (own && Object.prototype.hasOwnProperty.call(own, param)) return g;
    addMember(graph, g, rel, byId, targets);
    return g;
  });
  return setOn({ ...graph, groups, definitions }, targets);
}

/** Adds to `out` the id of the member of instance `g` whose relative name is `rel`. */
function addMember(graph: Graph, g: GraphGroup, rel: string, byId: ReadonlyMap<string, GraphNode>, out: Set<string>): void {
  for (const id of groupDescendants(graph, g.id)) if (relativeName(g.name, byId.get(id)!.name) === rel) out.add(id);
}

// ---------------------------------------------------------------------------------------------
// Repeat ×N

/** The name with its last all-digit dotted segment increased by `k`, or null when it has none. */
export function bumpIndex(name: string, k: number): string | null {
  const parts = name.split('.');
  for (let i = parts.length - 1; i >= 0; i--) {
    if (/^(0|[1-9][0-9]{0,8})$/.test(parts[i])) {
      parts[i] = String(Number(parts[i]) + k);
      return parts.join('.');
    }
  }
  return null;
}

/**
 * "Repeat ×N": the group is followed by n − 1 copies chained after it (its output feeds the next
 * copy's feature input), for a group with exactly one feature input and one output of the same kind
 * and shape. Copies are numbered the PyTorch way: the group name's last integer segment increments
 * (`input_blocks.1` → `input_blocks.2`, `input_blocks.3`) and members (and nested groups) follow
 * (`input_blocks.1.0` → `input_blocks.2.0`); every member's name must start with the group's name.
 * A copy's name already in use (by a group, a block or a block under it) is refused with an error
 * naming it: nothing is renamed behind the user's back (renaming would change other weights' keys).
 * The copies' other inputs (e.g. `emb`) come from the same sources as the original's; whatever
 * consumed the original's output now consumes the last copy's. The group becomes an instance of a
 * definition (saved as one labelled with its name when it is not one yet) and the copies are
 * instances of it, with the original's overrides. `n` = 1 changes nothing.
 */
export function repeatGroup(graph: Graph, groupId: string, n: number): { graph: Graph; groupIds: string[] } {
  const group0 = getGroup(graph, groupId);
  const what = `cannot repeat group ${JSON.stringify(group0.name)}`;
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPEAT) throw new DefinitionError(`${what}: the count must be a whole number from 1 to ${MAX_REPEAT} (got ${n})`);
  if (n === 1) return { graph, groupIds: [groupId] };
  const a0 = analyze(graph);
  const ports = groupPorts(graph, a0, groupId);
  const feature = ports.inputs.filter((p) => p.kind === 'feature');
  if (feature.length !== 1) throw new DefinitionError(`${what}: it needs exactly one feature-map input to chain through (it has ${feature.length})`);
  if (ports.outputs.length !== 1) throw new DefinitionError(`${what}: it needs exactly one output (it has ${ports.outputs.length})`);
  const input = feature[0];
  const output = ports.outputs[0];
  const dims = (s: typeof input.shape) => (s ? JSON.stringify(s.dims) : 'unknown');
  if (output.kind !== input.kind || !input.shape || !output.shape || dims(input.shape) !== dims(output.shape)) {
    throw new DefinitionError(
      `${what}: its output (${output.kind}, ${dims(output.shape)}) cannot feed its input ${JSON.stringify(input.name)} (${input.kind}, ${dims(input.shape)}); only a group whose output has its input's kind and shape can be chained`,
    );
  }
  if (graph.nodes.length + (n - 1) * groupDescendants(graph, groupId).length > MAX_BLOCKS) {
    throw new DefinitionError(`${what} ${n} times: the graph would pass the limit of ${MAX_BLOCKS} blocks`);
  }
  // Names of the copies, checked before anything changes.
  const prefix = `${group0.name}.`;
  const idx = indexGroups(graph);
  const nested = subtreeGroups(idx, groupId);
  const inside = groupDescendants(graph, groupId);
  const byId = new Map(graph.nodes.map((x) => [x.id, x]));
  for (const id of inside) {
    const m = byId.get(id)!;
    if (!m.name.startsWith(prefix)) throw new DefinitionError(`${what}: block ${JSON.stringify(m.name)} does not start with ${JSON.stringify(prefix)}, so its copies could not be numbered; rename it`);
  }
  for (const g of nested.slice(1)) {
    if (!g.name.startsWith(prefix)) throw new DefinitionError(`${what}: the nested group ${JSON.stringify(g.name)} does not start with ${JSON.stringify(prefix)}; rename it`);
  }
  const copyNames: string[] = [];
  for (let k = 1; k < n; k++) {
    const name = bumpIndex(group0.name, k);
    if (name === null) throw new DefinitionError(`${what}: its name has no number to count up (like "input_blocks.1"); rename it`);
    const taken = namePathProblem(graph, name) ?? ((graph.groups ?? []).some((g) => g.name.startsWith(`${name}.`)) ? `the name ${JSON.stringify(name)} is already used by a nested group` : null);
    if (taken) throw new DefinitionError(`${what} ${n} times: copy ${k + 1} would be ${JSON.stringify(name)}, but ${taken}; rename or move that first, or repeat fewer times`);
    copyNames.push(name);
  }

  // The group becomes an instance (a definition labelled with its name, when it is not one).
  let g = graph;
  if (group0.definition === undefined || !findDefinition(graph, group0.definition)) {
    const labels = new Set((graph.definitions ?? []).map((d) => d.name));
    let label = group0.name;
    for (let i = 2; labels.has(label); i++) label = `${group0.name} (${i})`;
    g = saveAsDefinition(graph, groupId, label).graph;
  }
  const group = getGroup(g, groupId);

  const ids = new Ids(g);
  const newNodes: GraphNode[][] = [];
  const newEdges: GraphEdge[] = [];
  const newGroups: GraphGroup[] = [];
  const copyIds: string[] = [];
  let prevOut = output.source.node;
  const insideSet = new Set(inside);
  // Edges from outside into the group, other than the feature input: each copy gets the same source.
  const sideIn = g.edges.filter((e) => !insideSet.has(e.from.node) && insideSet.has(e.to.node) && !(e.from.node === input.source.node && e.from.port === input.source.port));
  const featIn = g.edges.filter((e) => insideSet.has(e.to.node) && e.from.node === input.source.node && e.from.port === input.source.port);
  const internal = g.edges.filter((e) => insideSet.has(e.from.node) && insideSet.has(e.to.node));
  for (const name of copyNames) {
    const map = new Map<string, string>();
    const copy = inside.map((id) => {
      const m = byId.get(id)!;
      const nid = ids.node();
      map.set(id, nid);
      return { id: nid, name: `${name}.${m.name.slice(prefix.length)}`, type: m.type, params: { ...m.params } };
    });
    newNodes.push(copy);
    for (const e of internal) newEdges.push({ id: ids.edge(), from: { node: map.get(e.from.node)!, port: e.from.port }, to: { node: map.get(e.to.node)!, port: e.to.port } });
    for (const e of sideIn) newEdges.push({ id: ids.edge(), from: e.from, to: { node: map.get(e.to.node)!, port: e.to.port } });
    for (const e of featIn) newEdges.push({ id: ids.edge(), from: { node: prevOut, port: output.source.port }, to: { node: map.get(e.to.node)!, port: e.to.port } });
    prevOut = map.get(output.source.node)!;
    // The group and its nested groups, renamed.
    const gmap = new Map<string, string>();
    for (const h of nested) gmap.set(h.id, ids.group());
    for (const h of nested) {
      const copyOf: GraphGroup = {
        id: gmap.get(h.id)!,
        name: h.id === groupId ? name : `${name}.${h.name.slice(prefix.length)}`,
        ...(h.id === groupId ? (group.parent !== undefined ? { parent: group.parent } : {}) : { parent: gmap.get(h.parent!)! }),
        nodes: h.nodes.map((x) => map.get(x)!),
        ...(h.id === groupId ? { definition: group.definition! } : h.definition !== undefined ? { definition: h.definition } : {}),
        ...(h.id === groupId ? (group.overrides ? { overrides: group.overrides } : {}) : h.overrides ? { overrides: h.overrides } : {}),
      };
      newGroups.push(copyOf);
    }
    copyIds.push(gmap.get(groupId)!);
  }
  // Consumers outside of the original's output now read the last copy's.
  const outSrc = output.source;
  const edges = g.edges.map((e) =>
    e.from.node === outSrc.node && e.from.port === outSrc.port && !insideSet.has(e.to.node) ? { ...e, from: { node: prevOut, port: outSrc.port } } : e,
  );
  // Nodes: the copies right after the original's last member; groups: after the original's subtree; the parent lists them.
  const lastMember = Math.max(...inside.map((id) => g.nodes.findIndex((x) => x.id === id)));
  const nodes = [...g.nodes.slice(0, lastMember + 1), ...newNodes.flat(), ...g.nodes.slice(lastMember + 1)];
  const old = g.groups ?? [];
  const subtreeIds = new Set(nested.map((h) => h.id));
  let lastGroup = -1;
  old.forEach((h, i) => {
    if (subtreeIds.has(h.id)) lastGroup = i;
  });
  const groups = [...old.slice(0, lastGroup + 1), ...newGroups, ...old.slice(lastGroup + 1)];
  return { graph: { ...g, nodes, edges: [...edges, ...newEdges], groups }, groupIds: [groupId, ...copyIds] };
}

/** The group and the groups nested in it, in the graph's list order (parents first). */
function subtreeGroups(idx: ReturnType<typeof indexGroups>, groupId: string): GraphGroup[] {
  const ids = new Set<string>([groupId]);
  const out: GraphGroup[] = [];
  for (const g of idx.byId.values()) {
    if (g.id === groupId || (g.parent !== undefined && ids.has(g.parent))) {
      ids.add(g.id);
      out.push(g);
    }
  }
  return out;
}

/** The group no longer an instance (its definition and overrides dropped; the document keeps the definition). */
export function detachInstance(graph: Graph, groupId: string): Graph {
  getGroup(graph, groupId);
  return {
    ...graph,
    groups: (graph.groups ?? []).map((g): GraphGroup => {
      if (g.id !== groupId) return g;
      const { definition: _d, overrides: _o, ...rest } = g;
      return rest;
    }),
  };
}
