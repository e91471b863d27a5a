/**
 * The editor's state, framework-free: the document (`graph` + canvas `layout`), undo/redo snapshots,
 * selection, clipboard and the banner message. Every edit makes a new Graph object (the analysis
 * cache is keyed by graph identity). React reads it through `subscribe`/`getState`. Autosave lives
 * in `./autosave` and watches the store from outside (`Autosaver`); startup restore is async there.
 */
import type { ParamValue } from '../blocks/types';
import type { BlockType } from '../blocks/registry';
import { blockDef } from '../blocks/registry';
import type { BlockDefinition, Graph, GraphEdge, GraphNode, PortRef } from '../graph/model';
import { OUTPUT_PORT } from '../graph/model';
import { DocumentError, parseDocument, serializeDocument } from '../graph/document';
import { buildDefaults, DEFAULT_TEMPLATE } from '../graph/templates';
import { removeNodes } from '../graph/edit';
import { defaultCollapsed, GroupError, groupChain, groupNodes, indexGroups, renameGroup, ungroup } from '../graph/groups';
import { DefinitionError, detachInstance, instanceOf, instantiate, repeatGroup, saveAsDefinition, setInstanceParam, suggestInstanceName } from '../graph/definitions';
import { completeLayout, templateLayout, type Layout, type Position } from './layout';
import { membersTopLeft, moveItems, nodesInside, normaliseCollapsed } from './groupView';

const HISTORY_LIMIT = 200;

export interface Doc {
  readonly graph: Graph;
  /** Positions by node id, and by group id for a collapsed group. */
  readonly layout: Layout;
  /** Ids of the groups drawn collapsed: sorted, each once, only groups of the graph (view state, saved with the document). */
  readonly collapsed: readonly string[];
}

export interface Selection {
  /** Selected items: block ids and group ids (a collapsed group or an expanded group's frame). */
  readonly nodes: readonly string[];
  readonly edges: readonly string[];
}
export const NO_SELECTION: Selection = { nodes: [], edges: [] };

export interface EditorState {
  readonly doc: Doc;
  readonly past: readonly Doc[];
  readonly future: readonly Doc[];
  readonly selection: Selection;
  /** A message for the banner (e.g. a DocumentError), or null. */
  readonly message: string | null;
}

/** What the clipboard holds: nodes, the edges between them, and their positions. */
export interface Clip {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  readonly layout: Layout;
}

export type Edit =
  | { readonly kind: 'add-node'; readonly type: BlockType; readonly position: Position; readonly params?: Readonly<Record<string, ParamValue>> }
  | { readonly kind: 'delete'; readonly nodes: readonly string[]; readonly edges: readonly string[] }
  /** Connects an output to an input; an edge already feeding that input is replaced. */
  | { readonly kind: 'connect'; readonly from: string; readonly to: PortRef }
  /** Sets a block's parameter. Inside an instance of a block of your own the definition changes and every
   * instance follows; with `override`, only this instance (refused where shapes would not allow it). */
  | { readonly kind: 'set-param'; readonly node: string; readonly param: string; readonly value: ParamValue; readonly override?: boolean }
  | { readonly kind: 'rename'; readonly node: string; readonly name: string }
  | { readonly kind: 'move'; readonly positions: Readonly<Record<string, Position>> }
  | { readonly kind: 'paste'; readonly clip: Clip; readonly offset: Position }
  | { readonly kind: 'replace'; readonly graph: Graph; readonly layout: Layout; readonly collapsed?: readonly string[] }
  /** Puts blocks and groups (side by side in one group, or all top level) into a new group, which starts collapsed where they were. */
  | { readonly kind: 'group'; readonly items: readonly string[]; readonly name?: string }
  /** Removes a group; what it held moves to its parent. */
  | { readonly kind: 'ungroup'; readonly group: string }
  | { readonly kind: 'collapse'; readonly groups: readonly string[] }
  | { readonly kind: 'expand'; readonly groups: readonly string[] }
  | { readonly kind: 'rename-group'; readonly group: string; readonly name: string }
  /** "Save as block": the group becomes instance 1 of a new block definition labelled `label`. */
  | { readonly kind: 'save-as-block'; readonly group: string; readonly label: string }
  /** Adds an instance of a block definition (collapsed, at `position`; named after it unless `name`). */
  | { readonly kind: 'instantiate'; readonly definition: BlockDefinition; readonly position: Position; readonly name?: string }
  /** "Repeat ×N": the group followed by count − 1 chained copies (see `repeatGroup`). */
  | { readonly kind: 'repeat'; readonly group: string; readonly count: number };

export class EditError extends Error {
  override name = 'EditError';
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

const nameTaken = (g: Graph, name: string, except?: string) => g.nodes.some((n) => n.name === name && n.id !== except);

/** `hint_N` with the smallest N ≥ 1 not taken (in the graph or in `also`). */
export function uniqueName(g: Graph, hint: string, also: ReadonlySet<string> = new Set()): string {
  const taken = new Set(g.nodes.map((n) => n.name));
  for (let i = 1; ; i++) {
    const name = `${hint}_${i}`;
    if (!taken.has(name) && !also.has(name)) return name;
  }
}

function nextIds(existing: readonly { id: string }[], prefix: string, count: number): string[] {
  let max = 0;
  const re = new RegExp(`^${prefix}(\\d+)$`);
  for (const x of existing) {
    const m = re.exec(x.id);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return Array.from({ length: count }, (_, i) => `${prefix}${max + i + 1}`);
}

/** Why a name cannot be used, or null. */
export function nameProblem(g: Graph, node: string, name: string): string | null {
  if (name.trim() === '') return 'the name must not be empty';
  if (name !== name.trim()) return 'the name must not start or end with spaces';
  if (nameTaken(g, name, node)) return `another block is already named "${name}"`;
  return null;
}

/** True when an edge from `from` to `to` would close a cycle (there is a path to → from). */
export function wouldCycle(g: Graph, from: string, to: string): boolean {
  if (from === to) return true;
  const out = new Map<string, string[]>();
  for (const e of g.edges) {
    const l = out.get(e.from.node);
    if (l) l.push(e.to.node);
    else out.set(e.from.node, [e.to.node]);
  }
  const seen = new Set<string>();
  const stack = [to];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n === from) return true;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const m of out.get(n) ?? []) stack.push(m);
  }
  return false;
}

/** Applies one edit to a document; returns a new document (and the ids it created, for selection). */
export function applyEdit(doc: Doc, edit: Edit): { doc: Doc; created: string[] } {
  const g = doc.graph;
  switch (edit.kind) {
    case 'add-node': {
      const def = blockDef(edit.type);
      const [id] = nextIds(g.nodes, 'n', 1);
      const node: GraphNode = { id, name: uniqueName(g, def.nameHint), type: edit.type, params: { ...(edit.params ?? {}) } };
      return { doc: { ...doc, graph: { ...g, nodes: [...g.nodes, node] }, layout: { ...doc.layout, [id]: edit.position } }, created: [id] };
    }
    case 'delete': {
      // A group in the list stands for every block inside it.
      const nodes = new Set(expandItems(g, edit.nodes));
      const edges = new Set(edit.edges);
      const layout: Record<string, Position> = { ...doc.layout };
      for (const id of nodes) delete layout[id];
      // removeNodes keeps groups consistent (deleted blocks leave them; emptied groups go). An instance
      // of a block of your own that lost blocks or inner connections no longer matches it: detached.
      let graph = removeNodes(g, nodes, edges);
      for (const inst of (graph.groups ?? []).filter((x) => x.definition !== undefined)) {
        const was = nodesInside(g, inst.id);
        const inner = new Set(was);
        const lostEdge = g.edges.some((e) => edges.has(e.id) && inner.has(e.from.node) && inner.has(e.to.node));
        if (lostEdge || was.some((id) => nodes.has(id))) graph = detachInstance(graph, inst.id);
      }
      const groups = indexGroups(graph).byId;
      for (const id of indexGroups(g).byId.keys()) if (!groups.has(id)) delete layout[id];
      return { doc: { graph, layout, collapsed: keepCollapsed(graph, doc.collapsed) }, created: [] };
    }
    case 'connect': {
      if (!g.nodes.some((n) => n.id === edit.from) || !g.nodes.some((n) => n.id === edit.to.node)) throw new EditError('no such node');
      const [id] = nextIds(g.edges, 'e', 1);
      const kept = g.edges.filter((e) => !(e.to.node === edit.to.node && e.to.port === edit.to.port));
      const edge: GraphEdge = { id, from: { node: edit.from, port: OUTPUT_PORT }, to: { node: edit.to.node, port: edit.to.port } };
      return { doc: { ...doc, graph: { ...g, edges: [...kept, edge] } }, created: [id] };
    }
    case 'set-param': {
      if (instanceOf(g, edit.node)) {
        const graph = asEditError(() => setInstanceParam(g, edit.node, edit.param, edit.value, { override: edit.override === true }));
        return { doc: { ...doc, graph }, created: [] };
      }
      const nodes = g.nodes.map((n) => (n.id === edit.node ? { ...n, params: { ...n.params, [edit.param]: edit.value } } : n));
      return { doc: { ...doc, graph: { ...g, nodes } }, created: [] };
    }
    case 'rename': {
      const problem = nameProblem(g, edit.node, edit.name);
      if (problem) throw new EditError(problem);
      const inst = instanceOf(g, edit.node);
      if (inst) throw new EditError(`block names inside an instance of a block of your own follow the group's name ("${inst.name}"); ungroup it to rename its blocks`);
      const nodes = g.nodes.map((n) => (n.id === edit.node ? { ...n, name: edit.name } : n));
      return { doc: { ...doc, graph: { ...g, nodes } }, created: [] };
    }
    case 'move':
      return { doc: { ...doc, layout: moveItems(g, doc.layout, doc.collapsed, edit.positions) }, created: [] };
    case 'paste': {
      const ids = nextIds(g.nodes, 'n', edit.clip.nodes.length);
      const idMap = new Map(edit.clip.nodes.map((n, i) => [n.id, ids[i]]));
      const used = new Set<string>();
      const layout: Record<string, Position> = { ...doc.layout };
      const nodes = edit.clip.nodes.map((n, i) => {
        const name = uniqueName(g, blockDef(n.type).nameHint, used);
        used.add(name);
        const p = edit.clip.layout[n.id] ?? { x: 0, y: 0 };
        layout[ids[i]] = { x: p.x + edit.offset.x, y: p.y + edit.offset.y };
        return { ...n, id: ids[i], name, params: { ...n.params } };
      });
      const internal = edit.clip.edges.filter((e) => idMap.has(e.from.node) && idMap.has(e.to.node));
      const edgeIds = nextIds(g.edges, 'e', internal.length);
      const edges = internal.map((e, i) => ({
        id: edgeIds[i],
        from: { node: idMap.get(e.from.node)!, port: e.from.port },
        to: { node: idMap.get(e.to.node)!, port: e.to.port },
      }));
      return { doc: { ...doc, graph: { ...g, nodes: [...g.nodes, ...nodes], edges: [...g.edges, ...edges] }, layout }, created: ids };
    }
    case 'replace':
      return {
        doc: { graph: edit.graph, layout: completeLayout(edit.graph, edit.layout), collapsed: normaliseCollapsed(edit.graph, edit.collapsed ?? []) },
        created: [],
      };
    case 'group': {
      const { graph, groupId } = asEditError(() => groupNodes(g, edit.items, edit.name));
      // Where its members were: the top-left of the blocks inside.
      const layout = { ...doc.layout, [groupId]: membersTopLeft(graph, doc.layout, groupId) };
      return { doc: { graph, layout, collapsed: normaliseCollapsed(graph, [...doc.collapsed, groupId]) }, created: [groupId] };
    }
    case 'ungroup': {
      const idx = indexGroups(g);
      const group = idx.byId.get(edit.group);
      if (!group) throw new EditError(`there is no group with id ${JSON.stringify(edit.group)}`);
      const graph = asEditError(() => ungroup(g, edit.group));
      const layout: Record<string, Position> = { ...doc.layout };
      delete layout[edit.group];
      return {
        doc: { graph, layout, collapsed: keepCollapsed(graph, doc.collapsed.filter((id) => id !== edit.group)) },
        created: [...group.nodes, ...(idx.children.get(edit.group) ?? [])],
      };
    }
    case 'collapse': {
      const ids = edit.groups.filter((id) => !doc.collapsed.includes(id));
      checkGroups(g, ids);
      if (ids.length === 0) return { doc, created: [] };
      // A group collapses where its blocks are.
      const layout: Record<string, Position> = { ...doc.layout };
      for (const id of ids) layout[id] = membersTopLeft(g, doc.layout, id);
      return { doc: { graph: g, layout, collapsed: normaliseCollapsed(g, [...doc.collapsed, ...ids]) }, created: [] };
    }
    case 'expand': {
      checkGroups(g, edit.groups);
      const open = new Set(edit.groups);
      if (!doc.collapsed.some((id) => open.has(id))) return { doc, created: [] };
      // Its blocks show at their own positions; the group's own position only matters while collapsed.
      const layout: Record<string, Position> = { ...doc.layout };
      for (const id of open) delete layout[id];
      return { doc: { graph: g, layout, collapsed: doc.collapsed.filter((id) => !open.has(id)) }, created: [] };
    }
    case 'rename-group': {
      // An instance's blocks keep their names, so a renamed instance no longer matches its block: detached.
      const renamed = asEditError(() => renameGroup(g, edit.group, edit.name));
      const was = indexGroups(g).byId.get(edit.group);
      const graph = renamed !== g && was?.definition !== undefined ? detachInstance(renamed, edit.group) : renamed;
      return { doc: { ...doc, graph }, created: [] };
    }
    case 'save-as-block': {
      const { graph } = asEditError(() => saveAsDefinition(g, edit.group, edit.label));
      return { doc: { ...doc, graph }, created: [] };
    }
    case 'instantiate': {
      const name = edit.name ?? suggestInstanceName(g, edit.definition);
      const r = asEditError(() => instantiate(g, edit.definition, name));
      const layout: Record<string, Position> = { ...doc.layout, [r.groupId]: edit.position };
      r.nodeIds.forEach((id, i) => {
        layout[id] = { x: edit.position.x, y: edit.position.y + i * 110 };
      });
      return { doc: { graph: r.graph, layout, collapsed: normaliseCollapsed(r.graph, [...doc.collapsed, r.groupId]) }, created: [r.groupId] };
    }
    case 'repeat': {
      const r = asEditError(() => repeatGroup(g, edit.group, edit.count));
      if (r.graph === g) return { doc, created: [] };
      return { doc: repeatLayout(doc, r.graph, r.groupIds), created: r.groupIds.slice(1) };
    }
  }
}

/**
 * Positions for the copies "Repeat ×N" made: each copy's blocks where the original's are, shifted
 * right by the original's width plus a gap per copy; a copy is collapsed when the original is.
 */
function repeatLayout(doc: Doc, graph: Graph, groupIds: readonly string[]): Doc {
  const [first, ...copies] = groupIds;
  const orig = nodesInside(graph, first);
  let minX = Infinity;
  let maxX = -Infinity;
  for (const id of orig) {
    const p = doc.layout[id];
    if (!p) continue;
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
  }
  const step = (Number.isFinite(minX) ? maxX - minX : 0) + 260;
  const layout: Record<string, Position> = { ...doc.layout };
  const shut = doc.collapsed.includes(first);
  const at = shut ? (doc.layout[first] ?? membersTopLeft(graph, doc.layout, first)) : undefined;
  copies.forEach((gid, k) => {
    const members = nodesInside(graph, gid);
    members.forEach((id, i) => {
      const p = doc.layout[orig[i]] ?? { x: 0, y: 0 };
      layout[id] = { x: p.x + (k + 1) * step, y: p.y };
    });
    if (at) layout[gid] = { x: at.x + (k + 1) * step, y: at.y };
  });
  return { graph, layout: completeLayout(graph, layout), collapsed: shut ? normaliseCollapsed(graph, [...doc.collapsed, ...copies]) : doc.collapsed };
}

/** Runs a graph edit, turning its GroupError into an EditError (one error type for the editor). */
function asEditError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof GroupError || e instanceof DefinitionError) throw new EditError(e.message);
    throw e;
  }
}

function checkGroups(g: Graph, ids: readonly string[]): void {
  const byId = indexGroups(g).byId;
  const bad = ids.find((id) => !byId.has(id));
  if (bad !== undefined) throw new EditError(`there is no group with id ${JSON.stringify(bad)}`);
}

/** The collapsed ids that are still groups of the graph (the same array when all are). */
function keepCollapsed(graph: Graph, collapsed: readonly string[]): readonly string[] {
  const byId = indexGroups(graph).byId;
  return collapsed.every((id) => byId.has(id)) ? collapsed : collapsed.filter((id) => byId.has(id));
}

/** Block ids for a list of items: a block stands for itself, a group for every block inside it. */
export function expandItems(g: Graph, items: readonly string[]): string[] {
  const byId = indexGroups(g).byId;
  const out: string[] = [];
  for (const id of items) {
    if (byId.has(id)) out.push(...nodesInside(g, id));
    else out.push(id);
  }
  return [...new Set(out)];
}

/** The part of a graph that `nodes` make up: the nodes, the edges between them, their positions. */
export function copySelection(doc: Doc, nodes: readonly string[]): Clip | null {
  // A selected group copies the blocks inside it (they paste at the top level).
  const set = new Set(expandItems(doc.graph, nodes));
  const picked = doc.graph.nodes.filter((n) => set.has(n.id));
  if (picked.length === 0) return null;
  const layout: Record<string, Position> = {};
  for (const n of picked) layout[n.id] = doc.layout[n.id] ?? { x: 0, y: 0 };
  return { nodes: picked, edges: doc.graph.edges.filter((e) => set.has(e.from.node) && set.has(e.to.node)), layout };
}

// ---------------------------------------------------------------------------------------------
// Templates and startup

/** A template's (or preset's) document: laid out, every top-level group (its levels) collapsed. */
export function templateDoc(graph: Graph): Doc {
  return { graph, layout: templateLayout(graph), collapsed: normaliseCollapsed(graph, defaultCollapsed(graph)) };
}

export function defaultDoc(): Doc {
  return templateDoc(buildDefaults(DEFAULT_TEMPLATE));
}

// ---------------------------------------------------------------------------------------------
// The store

export interface ApplyOptions {
  /** Consecutive edits with the same key make one undo entry (a drag). */
  readonly coalesce?: string;
}

export class EditorStore {
  private state: EditorState;
  private readonly listeners = new Set<() => void>();
  private lastCoalesce: string | null = null;
  clipboard: Clip | null = null;

  constructor(initial: Doc) {
    // A restored document may lack positions for some nodes.
    const layout = completeLayout(initial.graph, initial.layout);
    const collapsed = normaliseCollapsed(initial.graph, initial.collapsed);
    const doc = { graph: initial.graph, layout, collapsed };
    this.state = { doc, past: [], future: [], selection: NO_SELECTION, message: null };
  }

  getState = (): EditorState => this.state;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  get graph(): Graph {
    return this.state.doc.graph;
  }
  get layout(): Layout {
    return this.state.doc.layout;
  }

  private set(next: EditorState): void {
    this.state = next;
    for (const l of this.listeners) l();
  }

  /** Applies an edit with an undo entry; throws EditError for an invalid rename. Returns created ids. */
  apply(edit: Edit, opts: ApplyOptions = {}): string[] {
    const { doc, created } = applyEdit(this.state.doc, edit);
    if (doc === this.state.doc) return created; // nothing changed (a group collapsed already): no undo entry
    const coalesce = opts.coalesce !== undefined && opts.coalesce === this.lastCoalesce;
    this.lastCoalesce = opts.coalesce ?? null;
    const past = coalesce ? this.state.past : [...this.state.past, this.state.doc].slice(-HISTORY_LIMIT);
    let selection = this.state.selection;
    if (edit.kind === 'delete') selection = NO_SELECTION;
    if ((edit.kind === 'add-node' || edit.kind === 'paste') && created.length > 0) selection = { nodes: created, edges: [] };
    if (edit.kind === 'replace') selection = NO_SELECTION;
    if (edit.kind === 'group' || edit.kind === 'ungroup' || edit.kind === 'instantiate') selection = { nodes: created, edges: [] };
    this.set({ ...this.state, doc, past, future: [], selection: this.pruneSelection(selection, doc.graph) });
    return created;
  }

  get canUndo(): boolean {
    return this.state.past.length > 0;
  }
  get canRedo(): boolean {
    return this.state.future.length > 0;
  }

  undo(): void {
    const { past, future, doc } = this.state;
    if (past.length === 0) return;
    const prev = past[past.length - 1];
    this.lastCoalesce = null;
    this.set({ ...this.state, doc: prev, past: past.slice(0, -1), future: [doc, ...future], selection: this.pruneSelection(this.state.selection, prev.graph) });
  }

  redo(): void {
    const { past, future, doc } = this.state;
    if (future.length === 0) return;
    const next = future[0];
    this.lastCoalesce = null;
    this.set({ ...this.state, doc: next, past: [...past, doc], future: future.slice(1), selection: this.pruneSelection(this.state.selection, next.graph) });
  }

  private pruneSelection(s: Selection, g: Graph): Selection {
    if (s.nodes.length === 0 && s.edges.length === 0) return s;
    const items = new Set<string>([...g.nodes.map((n) => n.id), ...indexGroups(g).byId.keys()]);
    const edgeIds = new Set(g.edges.map((e) => e.id));
    const nodes = s.nodes.filter((id) => items.has(id));
    const edges = s.edges.filter((id) => edgeIds.has(id));
    return nodes.length === s.nodes.length && edges.length === s.edges.length ? s : { nodes, edges };
  }

  select(selection: Selection): void {
    const cur = this.state.selection;
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    if (same(cur.nodes, selection.nodes) && same(cur.edges, selection.edges)) return;
    this.set({ ...this.state, selection });
  }

  deleteSelection(): void {
    const { nodes, edges } = this.state.selection;
    if (nodes.length === 0 && edges.length === 0) return;
    this.apply({ kind: 'delete', nodes, edges });
  }

  copy(): boolean {
    const clip = copySelection(this.state.doc, this.state.selection.nodes);
    if (clip) this.clipboard = clip;
    return clip !== null;
  }

  paste(offset: Position = { x: 40, y: 40 }): string[] {
    if (!this.clipboard) return [];
    const created = this.apply({ kind: 'paste', clip: this.clipboard, offset });
    // Pasting again steps further, as in most editors.
    const clip = this.clipboard;
    const moved: Record<string, Position> = {};
    for (const [id, p] of Object.entries(clip.layout)) moved[id] = { x: p.x + offset.x, y: p.y + offset.y };
    this.clipboard = { ...clip, layout: moved };
    return created;
  }

  duplicate(): string[] {
    const clip = copySelection(this.state.doc, this.state.selection.nodes);
    if (!clip) return [];
    return this.apply({ kind: 'paste', clip, offset: { x: 40, y: 40 } });
  }

  /** Replaces the document (a template, a file), with an undo entry. */
  replace(doc: Doc): void {
    this.apply({ kind: 'replace', graph: doc.graph, layout: doc.layout, collapsed: doc.collapsed });
  }

  /** Applies an edit; an EditError goes to the banner instead of being thrown. True when applied. */
  private tryApply(edit: Edit): boolean {
    try {
      this.apply(edit);
      return true;
    } catch (e) {
      if (e instanceof EditError) {
        this.setMessage(e.message);
        return false;
      }
      throw e;
    }
  }

  /** Groups the selected blocks and groups (Ctrl+G): the new group is collapsed and selected. */
  groupSelection(): boolean {
    // A frame caught by a selection box together with blocks inside it stands for nothing more.
    const chosen = this.state.selection.nodes;
    const enclosing = new Set(chosen.flatMap((id) => groupChain(this.graph, id).map((g) => g.id)));
    const items = chosen.filter((id) => !enclosing.has(id));
    if (items.length === 0) return false;
    return this.tryApply({ kind: 'group', items });
  }

  /** Ungroups the selected groups (Ctrl+Shift+G), innermost last, as one undo entry. */
  ungroupSelection(): boolean {
    const byId = indexGroups(this.graph).byId;
    const groups = this.state.selection.nodes.filter((id) => byId.has(id));
    if (groups.length === 0) return false;
    if (groups.length === 1) return this.tryApply({ kind: 'ungroup', group: groups[0] });
    // Several: one replace-like step so one Undo brings them all back.
    let doc = this.state.doc;
    const created: string[] = [];
    try {
      for (const id of groups) {
        const r = applyEdit(doc, { kind: 'ungroup', group: id });
        doc = r.doc;
        created.push(...r.created);
      }
    } catch (e) {
      if (e instanceof EditError) {
        this.setMessage(e.message);
        return false;
      }
      throw e;
    }
    this.apply({ kind: 'replace', graph: doc.graph, layout: doc.layout, collapsed: doc.collapsed });
    this.select({ nodes: created.filter((id) => byId.has(id) || doc.graph.nodes.some((n) => n.id === id)), edges: [] });
    return true;
  }

  /** Collapses an expanded group or expands a collapsed one (one undo entry). */
  toggleCollapsed(groupId: string): void {
    const shut = this.state.doc.collapsed.includes(groupId);
    this.tryApply({ kind: shut ? 'expand' : 'collapse', groups: [groupId] });
  }

  /** Opens a document from file text; on DocumentError the graph stays and the message is shown. */
  open(text: string, source = 'graph file'): boolean {
    try {
      const d = parseDocument(text, source);
      this.replace({ graph: d.graph, layout: d.layout, collapsed: d.collapsed ?? [] });
      this.setMessage(null);
      return true;
    } catch (e) {
      if (e instanceof DocumentError) {
        this.setMessage(e.message);
        return false;
      }
      throw e;
    }
  }

  saveText(): string {
    const { graph, layout, collapsed } = this.state.doc;
    return serializeDocument(graph, layout, undefined, collapsed);
  }

  setMessage(message: string | null): void {
    if (message === this.state.message) return;
    this.set({ ...this.state, message });
  }
}
