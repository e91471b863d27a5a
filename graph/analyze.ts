/**
 * Validation and shape inference in one pass over the graph. `validate` never throws: every
 * problem comes back with the node's name and a fix.
 */
import type { BlockDef, BlockIssue, ParamValues, PortKind, TensorShape, WeightSpec } from '../blocks/types';
import { PORT_KIND_LABEL } from '../blocks/types';
import { INPUT_ROLES, type InputRole, type InputRoleDef } from '../blocks/roles';
import { blockDef, isBlockType } from '../blocks/registry';
import { formatShape } from '../blocks/common';
import type { Graph, GraphEdge, GraphNode } from './model';
import { OUTPUT_PORT } from './model';
import { resolveParams } from './params';
import { groupProblems } from './group-problems';

export type ProblemCode =
  | 'unknown-type'
  | 'name'
  | 'duplicate-name'
  | 'bad-edge'
  | 'port-kind'
  | 'multiple-inputs'
  | 'unconnected-input'
  | 'cycle'
  | 'param'
  | 'shape'
  | 'weight-key'
  | 'io'
  | 'unused'
  | 'group'
  | 'internal';

export interface Problem {
  readonly severity: 'error' | 'warning';
  readonly code: ProblemCode;
  /** The node at fault (id and name), where there is one. */
  readonly nodeId?: string;
  readonly node?: string;
  readonly edgeId?: string;
  /** The group at fault (id and name), for `group` problems. */
  readonly groupId?: string;
  readonly group?: string;
  readonly param?: string;
  /** Full sentence, e.g. `ResBlock "input_blocks.4.0": 96 channels are not divisible by 32 groups`. */
  readonly message: string;
  readonly fix: string;
}

export interface NodeInfo {
  readonly node: GraphNode;
  readonly def: BlockDef<ParamValues>;
  /** All parameters, defaults filled in. */
  readonly params: ParamValues;
  /** Input port → the node id and shape feeding it. */
  readonly inputs: Readonly<Record<string, { readonly from: string; readonly shape: TensorShape | null }>>;
  /** Output shape, or null when it could not be inferred (see problems). */
  readonly out: TensorShape | null;
}

export interface Analysis {
  /** Node ids in a topological order (nodes on a cycle are left out). */
  readonly order: readonly string[];
  readonly info: ReadonlyMap<string, NodeInfo>;
  readonly problems: readonly Problem[];
  /** True when there is no error (warnings allowed). */
  readonly ok: boolean;
}

/** "a feature map", "an embedding", "timesteps". */
function aKind(kind: PortKind): string {
  const label = PORT_KIND_LABEL[kind];
  if (kind === 'timesteps') return label;
  return `${/^[aeiou]/.test(label) ? 'an' : 'a'} ${label}`;
}

/** `ResBlock "input_blocks.4.0"`: how messages name a node. */
export function nodeLabel(node: GraphNode): string {
  const display = isBlockType(node.type) ? blockDef(node.type).displayName : 'Block';
  return `${display} ${JSON.stringify(node.name)}`;
}

/**
 * Analyses are cached per graph object: graphs are immutable values (every edit makes a new one),
 * so `validate` then `inferShapes` on the same graph, or a re-render, costs one pass.
 */
const cache = new WeakMap<Graph, Analysis>();

export function analyze(graph: Graph): Analysis {
  const hit = cache.get(graph);
  if (hit) return hit;
  const a = analyzeGuarded(graph);
  // Only objects can be WeakMap keys: garbage such as null gets its 'internal' problem, uncached, instead of a TypeError.
  if (typeof graph === 'object' && graph !== null) cache.set(graph, a);
  return a;
}

function analyzeGuarded(graph: Graph): Analysis {
  try {
    return analyzeUnsafe(graph);
  } catch (e) {
    // Last resort: validation must never throw at the user.
    const msg = e instanceof Error ? e.message : String(e);
    return {
      order: [],
      info: new Map(),
      problems: [{ severity: 'error', code: 'internal', message: `the graph could not be checked: ${msg}`, fix: 'report this graph as a bug' }],
      ok: false,
    };
  }
}

export const validate = (graph: Graph): readonly Problem[] => analyze(graph).problems;

/** Every node's output shape (null where it cannot be inferred). */
export function inferShapes(graph: Graph): Map<string, TensorShape | null> {
  const shapes = new Map<string, TensorShape | null>();
  for (const [id, inf] of analyze(graph).info) shapes.set(id, inf.out);
  return shapes;
}

/** Records a problem, prefixing the node's label to the message when there is a node. */
type Report = (node: GraphNode | undefined, code: ProblemCode, i: BlockIssue, edgeId?: string) => void;

/** The nodes by id and name, and those of a known type (in the graph's order). */
interface NodeIndex {
  readonly byId: ReadonlyMap<string, GraphNode>;
  readonly byName: ReadonlyMap<string, GraphNode>;
  readonly known: readonly GraphNode[];
}

/** The accepted edges: each known node's inputs by port, and the nodes each one feeds. */
interface EdgeIndex {
  readonly incoming: ReadonlyMap<string, ReadonlyMap<string, GraphEdge>>;
  readonly outgoing: ReadonlyMap<string, readonly string[]>;
}

/** Parameters and shapes per node, and the input/output blocks by role (in order). */
interface NodeFacts {
  readonly info: ReadonlyMap<string, NodeInfo>;
  readonly roles: ReadonlyMap<string, readonly GraphNode[]>;
}

/**
 * The analysis in named phases, each adding its problems in turn (so their order is the phases'):
 * nodes, edges, order (cycles), parameters and shapes per node, then the whole-graph checks.
 */
function analyzeUnsafe(graph: Graph): Analysis {
  const problems: Problem[] = [];
  const report: Report = (node, code, i, edgeId) => {
    problems.push({
      severity: i.severity ?? 'error',
      code,
      ...(node ? { nodeId: node.id, node: node.name } : {}),
      ...(edgeId !== undefined ? { edgeId } : {}),
      ...(i.param !== undefined ? { param: i.param } : {}),
      message: node ? `${nodeLabel(node)}: ${i.message}` : i.message,
      fix: i.fix,
    });
  };
  const nodes = indexNodes(graph, report);
  // Groups only organise: a bad one is an error of the document, named by group (and block).
  for (const p of groupProblems(graph)) {
    problems.push({
      severity: 'error',
      code: 'group',
      groupId: p.groupId,
      group: p.group,
      ...(p.nodeId !== undefined ? { nodeId: p.nodeId } : {}),
      ...(p.node !== undefined ? { node: p.node } : {}),
      message: p.message,
      fix: p.fix,
    });
  }
  const edges = indexEdges(graph, nodes, report);
  const order = orderNodes(nodes, edges, report);
  const facts = inferNodes(order, nodes, edges, report);
  checkRoles(facts, order, nodes, report);
  checkReachability(facts, order, nodes, edges, report);
  // Only a graph without errors so far: weights are listed from complete shapes.
  if (problems.every((p) => p.severity !== 'error')) checkWeightKeys(facts, order, nodes, report);
  return { order, info: facts.info, problems, ok: problems.every((p) => p.severity !== 'error') };
}

/** Nodes: unique ids, known types, names that are non-empty, trimmed and unique. */
function indexNodes(graph: Graph, report: Report): NodeIndex {
  const byId = new Map<string, GraphNode>();
  const byName = new Map<string, GraphNode>();
  const known: GraphNode[] = [];
  for (const node of graph.nodes) {
    if (byId.has(node.id)) {
      report(node, 'duplicate-name', { message: `duplicate node id ${JSON.stringify(node.id)}`, fix: 'give every node its own id' });
      continue;
    }
    byId.set(node.id, node);
    if (!isBlockType(node.type)) {
      report(node, 'unknown-type', { message: `unknown block type ${JSON.stringify(node.type)}`, fix: 'replace it with a block from the palette' });
      continue;
    }
    if (node.name.trim() === '' || node.name !== node.name.trim()) {
      report(node, 'name', { message: 'the name is empty or has spaces at either end', fix: 'give the block a name such as "input_blocks.1.0"' });
    }
    const twin = byName.get(node.name);
    if (twin) {
      report(node, 'duplicate-name', { message: `the name is also used by ${nodeLabel(twin)}`, fix: 'rename one of them: names are PyTorch module paths and must be unique' });
    } else {
      byName.set(node.name, node);
    }
    known.push(node);
  }
  return { byId, byName, known };
}

/** Edges: endpoints exist and are known, ports exist, kinds match, one edge per input. */
function indexEdges(graph: Graph, { byId, known }: NodeIndex, report: Report): EdgeIndex {
  const incoming = new Map<string, Map<string, GraphEdge>>();
  const outgoing = new Map<string, string[]>();
  for (const n of known) {
    incoming.set(n.id, new Map());
    outgoing.set(n.id, []);
  }
  for (const e of graph.edges) {
    const src = byId.get(e.from.node);
    const dst = byId.get(e.to.node);
    if (!src || !dst || !incoming.has(src.id) || !incoming.has(dst.id)) {
      const missing = !src ? e.from.node : !dst ? e.to.node : !incoming.has(src.id) ? src.name : (dst?.name ?? '');
      report(dst && incoming.has(dst.id) ? dst : undefined, 'bad-edge', {
        message: `edge ${JSON.stringify(e.id)} joins a block that does not exist or is unknown (${JSON.stringify(missing)})`,
        fix: 'delete the edge',
      }, e.id);
      continue;
    }
    const sdef = blockDef(src.type);
    const ddef = blockDef(dst.type);
    if (!sdef.output || e.from.port !== OUTPUT_PORT) {
      report(src, 'bad-edge', {
        message: sdef.output ? `has no output port ${JSON.stringify(e.from.port)}` : 'has no output to connect from',
        fix: 'connect from the block\'s "out" port',
      }, e.id);
      continue;
    }
    const port = ddef.inputs.find((p) => p.name === e.to.port);
    if (!port) {
      const names = ddef.inputs.map((p) => p.name).join(', ');
      report(dst, 'bad-edge', { message: `has no input port ${JSON.stringify(e.to.port)}`, fix: names ? `connect to one of: ${names}` : 'this block takes no inputs' }, e.id);
      continue;
    }
    if (port.kind !== sdef.output.kind) {
      report(dst, 'port-kind', {
        message: `input "${port.name}" takes ${aKind(port.kind)}, but ${nodeLabel(src)} gives ${aKind(sdef.output.kind)}`,
        fix: `connect ${aKind(port.kind)} to "${port.name}"`,
      }, e.id);
      continue;
    }
    const ins = incoming.get(dst.id)!;
    const prev = ins.get(port.name);
    if (prev) {
      report(dst, 'multiple-inputs', { message: `input "${port.name}" has more than one connection`, fix: 'keep one edge into each input' }, e.id);
      continue;
    }
    ins.set(port.name, e);
    outgoing.get(src.id)!.push(dst.id);
  }
  return { incoming, outgoing };
}

/** A topological order of the known nodes (Kahn); the nodes left out are on or behind a cycle, and each cycle is reported once. */
function orderNodes({ byId, known }: NodeIndex, { incoming, outgoing }: EdgeIndex, report: Report): string[] {
  const indeg = new Map<string, number>();
  for (const n of known) indeg.set(n.id, incoming.get(n.id)!.size);
  const queue: string[] = [];
  for (const n of known) if (indeg.get(n.id) === 0) queue.push(n.id);
  const order: string[] = [];
  for (let qi = 0; qi < queue.length; qi++) {
    const id = queue[qi];
    order.push(id);
    for (const next of outgoing.get(id)!) {
      const d = indeg.get(next)! - 1;
      indeg.set(next, d);
      if (d === 0) queue.push(next);
    }
  }
  if (order.length < known.length) reportCycles(known, order, outgoing, byId, report);
  return order;
}

/** Parameters and shapes per node, in order: parameter problems, unconnected inputs, the block's own shape rule. */
function inferNodes(order: readonly string[], { byId }: NodeIndex, { incoming }: EdgeIndex, report: Report): NodeFacts {
  const info = new Map<string, NodeInfo>();
  const roles = new Map<string, GraphNode[]>();
  for (const id of order) {
    const node = byId.get(id)!;
    const def = blockDef(node.type);
    const { values, issues } = resolveParams(node.type, node.params);
    for (const i of issues) report(node, 'param', i);
    if (def.io) {
      // Appended in place: copying the list per node was quadratic in hostile graphs (100k Outputs).
      const same = roles.get(def.io);
      if (same) same.push(node);
      else roles.set(def.io, [node]);
    }
    const ins = incoming.get(id)!;
    const inputs: Record<string, { from: string; shape: TensorShape | null }> = {};
    const shapes: Record<string, TensorShape> = {};
    let ready = issues.length === 0;
    for (const port of def.inputs) {
      const e = ins.get(port.name);
      if (!e) {
        report(node, 'unconnected-input', { message: `input "${port.name}" (${PORT_KIND_LABEL[port.kind]}) is not connected`, fix: `connect ${aKind(port.kind)} to "${port.name}"` });
        ready = false;
        continue;
      }
      const s = info.get(e.from.node)?.out ?? null;
      inputs[port.name] = { from: e.from.node, shape: s };
      if (s) shapes[port.name] = s;
      else ready = false;
    }
    let out: TensorShape | null = null;
    if (ready) {
      const r = def.shape(shapes, values);
      if (r.ok) {
        out = r.out;
        for (const w of r.warnings ?? []) report(node, 'shape', { ...w, severity: 'warning' });
      } else {
        for (const i of r.issues) report(node, 'shape', i);
        // Keep checking downstream where the output shape is still known.
        out = r.out ?? null;
      }
    }
    info.set(id, { node, def, params: values, inputs, out });
  }
  return { info, roles };
}

/** Inputs and outputs: exactly one Output (when the graph is ordered and not empty), at most one block of each role. */
function checkRoles({ roles }: NodeFacts, order: readonly string[], { known }: NodeIndex, report: Report): void {
  if (!roles.has('output') && order.length === known.length && known.length > 0) {
    report(undefined, 'io', { message: 'the graph has no Output block', fix: 'add an Output block and connect the last layer to it' });
  }
  for (const nodes of roles.values()) {
    if (nodes.length > 1) {
      for (const n of nodes.slice(1)) {
        report(n, 'io', { message: `the graph already has ${nodeLabel(nodes[0])} of this kind`, fix: 'keep one block of each input/output kind' });
      }
    }
  }
}

/** Nodes that do not lead to an Output are computed for nothing: a warning each. */
function checkReachability({ roles }: NodeFacts, order: readonly string[], { byId }: NodeIndex, { incoming }: EdgeIndex, report: Report): void {
  const outputs = roles.get('output') ?? [];
  if (outputs.length === 0) return;
  const live = new Set<string>();
  const stack = outputs.map((n) => n.id);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    for (const e of incoming.get(id)?.values() ?? []) stack.push(e.from.node);
  }
  for (const id of order) {
    const n = byId.get(id)!;
    if (!live.has(id)) {
      report(n, 'unused', { severity: 'warning', message: 'does not lead to the Output', fix: 'connect it or delete it' });
    }
  }
}

/**
 * Weight keys must not collide (`a` + `b.weight` vs `a.b` + `weight`). Only a node whose name is
 * a dotted prefix of another's can collide, so weights are listed for those pairs alone.
 */
function checkWeightKeys({ info }: NodeFacts, order: readonly string[], { byId, byName }: NodeIndex, report: Report): void {
  for (const id of order) {
    const inner = byId.get(id)!;
    for (let dot = inner.name.indexOf('.'); dot > 0; dot = inner.name.indexOf('.', dot + 1)) {
      const outer = byName.get(inner.name.slice(0, dot));
      if (!outer || !info.has(outer.id)) continue;
      const rest = inner.name.slice(dot + 1);
      const innerKeys = new Set(nodeWeights(info.get(id)!).map((w) => `${rest}.${w.key}`));
      const clash = nodeWeights(info.get(outer.id)!).find((w) => innerKeys.has(w.key));
      if (clash) {
        report(inner, 'weight-key', {
          message: `its weight "${inner.name}.${clash.key.slice(rest.length + 1)}" has the same key as one of ${nodeLabel(outer)}`,
          fix: 'rename one of the two blocks',
        });
      }
    }
  }
}

function reportCycles(
  known: readonly GraphNode[],
  order: readonly string[],
  outgoing: ReadonlyMap<string, readonly string[]>,
  byId: ReadonlyMap<string, GraphNode>,
  report: Report,
): void {
  const done = new Set(order);
  const reported = new Set<string>();
  for (const start of known) {
    if (done.has(start.id) || reported.has(start.id)) continue;
    // Walk forward inside the undone set until a node repeats: that stretch is a cycle.
    const seenAt = new Map<string, number>();
    const path: string[] = [];
    let cur: string | undefined = start.id;
    while (cur !== undefined && !seenAt.has(cur)) {
      seenAt.set(cur, path.length);
      path.push(cur);
      cur = outgoing.get(cur)!.find((n) => !done.has(n));
    }
    if (cur === undefined) continue; // behind a cycle, not on one
    const cycle = path.slice(seenAt.get(cur)!);
    if (cycle.some((id) => reported.has(id))) continue;
    for (const id of cycle) reported.add(id);
    const names = [...cycle, cycle[0]].map((id) => JSON.stringify(byId.get(id)!.name)).join(' → ');
    report(byId.get(cycle[0]), 'cycle', { message: `is on a cycle: ${names}`, fix: 'remove one edge of the cycle: data must flow one way' });
  }
}

/**
 * The graph's inputs in the order a forward takes them (`INPUT_ROLES`' order): each role the graph
 * has an input block for, with that block (a valid graph has one per role).
 */
export function graphInputs(a: Analysis): { readonly role: InputRoleDef<InputRole>; readonly info: NodeInfo }[] {
  const byRole = new Map<string, NodeInfo>();
  for (const id of a.order) {
    const inf = a.info.get(id)!;
    if (inf.def.io && !byRole.has(inf.def.io)) byRole.set(inf.def.io, inf);
  }
  return INPUT_ROLES.filter((r) => byRole.has(r.role)).map((role) => ({ role, info: byRole.get(role.role)! }));
}

/** A node's input shapes by port, those that are known. */
export function inputShapes(inf: NodeInfo): Record<string, TensorShape> {
  const shapes: Record<string, TensorShape> = {};
  for (const [port, v] of Object.entries(inf.inputs)) if (v.shape) shapes[port] = v.shape;
  return shapes;
}

/** True when every input shape of the node and its output shape are known. */
export const shapesKnown = (inf: NodeInfo): boolean => inf.out !== null && Object.values(inf.inputs).every((v) => v.shape !== null);

/** The weights a node owns (empty when its shapes are unknown). */
export function nodeWeights(inf: NodeInfo): readonly WeightSpec[] {
  return shapesKnown(inf) ? inf.def.weights(inputShapes(inf), inf.params) : [];
}

/** FLOPs per sample of one node (0 when its output shape is unknown). */
export function nodeFlops(inf: NodeInfo): number {
  return inf.out ? inf.def.flops(inputShapes(inf), inf.out, inf.params) : 0;
}

/** Trainable parameters (PyTorch's `sum(p.numel() for p in model.parameters())`). */
export function countParameters(a: Analysis): number {
  let total = 0;
  for (const id of a.order) {
    for (const w of nodeWeights(a.info.get(id)!)) if (w.role === 'param') total += w.shape.reduce((x, y) => x * y, 1);
  }
  return total;
}

/** FLOPs per sample (2 per multiply-add). */
export function countFlops(a: Analysis): number {
  let total = 0;
  for (const id of a.order) total += nodeFlops(a.info.get(id)!);
  return total;
}

export { formatShape };
