/**
 * What changed between two graphs, matched by node name (the PyTorch module path, which is also
 * what a state_dict key starts with): blocks added, removed and changed (the type, the parameters
 * with defaults filled in, where the inputs come from, the parameter count), and the total
 * parameter-count difference. A block renamed to another path is a removal plus an addition, as it
 * is for a checkpoint. Pure: no tfjs, no React.
 */
import type { ParamValue } from '../blocks/types';
import { blockDef, isBlockType } from '../blocks/registry';
import { analyze } from './analyze';
import { blockCosts } from './compare';
import type { Graph, GraphNode } from './model';

export class DiffError extends Error {
  override name = 'DiffError';
}

/** A block that is in only one of the two graphs. */
export interface DiffBlock {
  readonly name: string;
  /** Its id in the graph it is in. */
  readonly id: string;
  readonly type: string;
  readonly parameters: number;
}

export interface ParamChange {
  readonly param: string;
  /** undefined: the parameter does not exist on that side (the type changed). */
  readonly before: ParamValue | undefined;
  readonly after: ParamValue | undefined;
}

/** An input port fed by another block (by name) than before; null: not connected on that side. */
export interface InputChange {
  readonly port: string;
  readonly before: string | null;
  readonly after: string | null;
}

export type ChangeReason = 'type' | 'params' | 'inputs' | 'parameters';

export interface ChangedBlock {
  readonly name: string;
  readonly idBefore: string;
  readonly idAfter: string;
  readonly typeBefore: string;
  readonly typeAfter: string;
  /** What differs, in this order: the type, parameter values, input sources, the parameter count. */
  readonly reasons: readonly ChangeReason[];
  readonly params: readonly ParamChange[];
  readonly inputs: readonly InputChange[];
  readonly parametersBefore: number;
  readonly parametersAfter: number;
  readonly parameterDelta: number;
}

export interface GraphDiff {
  /** In the second graph only, in its node order. */
  readonly added: readonly DiffBlock[];
  /** In the first graph only, in its node order. */
  readonly removed: readonly DiffBlock[];
  /** In both, with a difference; in the second graph's node order. */
  readonly changed: readonly ChangedBlock[];
  /** In both and the same. */
  readonly unchanged: number;
  readonly parametersBefore: number;
  readonly parametersAfter: number;
  /** parametersAfter − parametersBefore. */
  readonly parameterDelta: number;
}

function byName(g: Graph, which: string): Map<string, GraphNode> {
  const m = new Map<string, GraphNode>();
  for (const n of g.nodes) {
    if (m.has(n.name)) throw new DiffError(`${which} graph "${g.name}" has two blocks named ${JSON.stringify(n.name)}: blocks are matched by name, so names must be unique (rename one)`);
    m.set(n.name, n);
  }
  return m;
}

/** All parameters with the block's defaults filled in (stored values win; an unknown type keeps what is stored). */
function fullParams(n: GraphNode): Record<string, ParamValue> {
  if (!isBlockType(n.type)) return { ...n.params };
  const out: Record<string, ParamValue> = {};
  for (const [k, spec] of Object.entries(blockDef(n.type).params)) out[k] = spec.default;
  return { ...out, ...n.params };
}

/** Input port → the name of the block feeding it. */
function sources(g: Graph): Map<string, Map<string, string>> {
  const names = new Map(g.nodes.map((n) => [n.id, n.name]));
  const out = new Map<string, Map<string, string>>();
  for (const e of g.edges) {
    let m = out.get(e.to.node);
    if (!m) out.set(e.to.node, (m = new Map()));
    m.set(e.to.port, names.get(e.from.node) ?? e.from.node);
  }
  return out;
}

const same = (a: ParamValue | undefined, b: ParamValue | undefined) => a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));

/** The differences from `before` to `after`. Throws DiffError when a graph repeats a name. */
export function diffGraphs(before: Graph, after: Graph): GraphDiff {
  const a = byName(before, 'the first');
  const b = byName(after, 'the second');
  const costA = blockCosts(analyze(before));
  const costB = blockCosts(analyze(after));
  const paramsOf = (costs: ReturnType<typeof blockCosts>, id: string) => costs.get(id)?.parameters ?? 0;
  const srcA = sources(before);
  const srcB = sources(after);

  const removed: DiffBlock[] = [];
  for (const n of before.nodes) if (!b.has(n.name)) removed.push({ name: n.name, id: n.id, type: n.type, parameters: paramsOf(costA, n.id) });
  const added: DiffBlock[] = [];
  const changed: ChangedBlock[] = [];
  let unchanged = 0;
  for (const nb of after.nodes) {
    const na = a.get(nb.name);
    if (!na) {
      added.push({ name: nb.name, id: nb.id, type: nb.type, parameters: paramsOf(costB, nb.id) });
      continue;
    }
    const reasons: ChangeReason[] = [];
    if (na.type !== nb.type) reasons.push('type');
    const pa = fullParams(na);
    const pb = fullParams(nb);
    const params: ParamChange[] = [];
    for (const k of [...new Set([...Object.keys(pa), ...Object.keys(pb)])]) {
      if (!same(pa[k], pb[k])) params.push({ param: k, before: pa[k], after: pb[k] });
    }
    if (params.length > 0) reasons.push('params');
    const ia = srcA.get(na.id) ?? new Map<string, string>();
    const ib = srcB.get(nb.id) ?? new Map<string, string>();
    const inputs: InputChange[] = [];
    for (const port of [...new Set([...ia.keys(), ...ib.keys()])].sort()) {
      const x = ia.get(port) ?? null;
      const y = ib.get(port) ?? null;
      if (x !== y) inputs.push({ port, before: x, after: y });
    }
    if (inputs.length > 0) reasons.push('inputs');
    const parametersBefore = paramsOf(costA, na.id);
    const parametersAfter = paramsOf(costB, nb.id);
    if (parametersBefore !== parametersAfter) reasons.push('parameters');
    if (reasons.length === 0) {
      unchanged++;
      continue;
    }
    changed.push({
      name: nb.name,
      idBefore: na.id,
      idAfter: nb.id,
      typeBefore: na.type,
      typeAfter: nb.type,
      reasons,
      params,
      inputs,
      parametersBefore,
      parametersAfter,
      parameterDelta: parametersAfter - parametersBefore,
    });
  }
  let parametersBefore = 0;
  for (const c of costA.values()) parametersBefore += c.parameters;
  let parametersAfter = 0;
  for (const c of costB.values()) parametersAfter += c.parameters;
  return { added, removed, changed, unchanged, parametersBefore, parametersAfter, parameterDelta: parametersAfter - parametersBefore };
}

const fmtValue = (v: ParamValue | undefined): string => (v === undefined ? '—' : typeof v === 'string' ? JSON.stringify(v) : String(v));
const signed = (n: number): string => `${n > 0 ? '+' : n < 0 ? '−' : '±'}${Math.abs(n).toLocaleString('en-US')}`;

/** What changed in a block, for people: `Conv2d → ConvTranspose2d · out_channels 64 → 128 · parameters +36,992`. */
export function changeDetails(c: ChangedBlock): string {
  const parts: string[] = [];
  if (c.reasons.includes('type')) parts.push(`${c.typeBefore} → ${c.typeAfter}`);
  for (const p of c.params) parts.push(`${p.param} ${fmtValue(p.before)} → ${fmtValue(p.after)}`);
  for (const i of c.inputs) parts.push(`input ${i.port} from ${i.before ?? 'nothing'} → ${i.after ?? 'nothing'}`);
  if (c.parameterDelta !== 0) parts.push(`parameters ${signed(c.parameterDelta)}`);
  return parts.join(' · ');
}

/** One line per change: `changed (type) "up.0": Conv2d → ConvTranspose2d · out_channels 64 → 128 · parameters +36,992`. */
export const describeChange = (c: ChangedBlock): string => `changed${c.reasons.includes('type') ? ' (type)' : ''} ${JSON.stringify(c.name)}: ${changeDetails(c)}`;

/** The parameter-count difference as people read it: `+1,234`, `−56`, `±0`. */
export const formatDelta = signed;
