/**
 * The editor's state, framework-free: the document (`graph` + canvas `layout`), undo/redo snapshots,
 * selection, clipboard and the banner message. Every edit makes a new Graph object (the analysis
 * cache is keyed by graph identity). React reads it through `subscribe`/`getState`. Autosave lives
 * in `./autosave` and watches the store from outside (`Autosaver`); startup restore is async there.
 */
import type { ParamValue } from '../blocks/types';
import type { BlockType } from '../blocks/registry';
import { blockDef } from '../blocks/registry';
import type { Graph, GraphEdge, GraphNode, PortRef } from '../graph/model';
import { OUTPUT_PORT } from '../graph/model';
import { DocumentError, parseDocument, serializeDocument } from '../graph/document';
import { buildDefaults, DEFAULT_TEMPLATE } from '../graph/templates';
import { removeNodes } from '../graph/edit';
import { completeLayout, templateLayout, type Layout, type Position } from './layout';

const HISTORY_LIMIT = 200;

export interface Doc {
  readonly graph: Graph;
  readonly layout: Layout;
}

export interface Selection {
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
  | { readonly kind: 'set-param'; readonly node: string; readonly param: string; readonly value: ParamValue }
  | { readonly kind: 'rename'; readonly node: string; readonly name: string }
  | { readonly kind: 'move'; readonly positions: Readonly<Record<string, Position>> }
  | { readonly kind: 'paste'; readonly clip: Clip; readonly offset: Position }
  | { readonly kind: 'replace'; readonly graph: Graph; readonly layout: Layout };

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
      return { doc: { graph: { ...g, nodes: [...g.nodes, node] }, layout: { ...doc.layout, [id]: edit.position } }, created: [id] };
    }
    case 'delete': {
      const nodes = new Set(edit.nodes);
      const edges = new Set(edit.edges);
      const layout: Record<string, Position> = { ...doc.layout };
      for (const id of nodes) delete layout[id];
      // removeNodes keeps groups consistent (deleted blocks leave them; emptied groups go).
      return { doc: { graph: removeNodes(g, nodes, edges), layout }, created: [] };
    }
    case 'connect': {
      if (!g.nodes.some((n) => n.id === edit.from) || !g.nodes.some((n) => n.id === edit.to.node)) throw new EditError('no such node');
      const [id] = nextIds(g.edges, 'e', 1);
      const kept = g.edges.filter((e) => !(e.to.node === edit.to.node && e.to.port === edit.to.port));
      const edge: GraphEdge = { id, from: { node: edit.from, port: OUTPUT_PORT }, to: { node: edit.to.node, port: edit.to.port } };
      return { doc: { graph: { ...g, edges: [...kept, edge] }, layout: doc.layout }, created: [id] };
    }
    case 'set-param': {
      const nodes = g.nodes.map((n) => (n.id === edit.node ? { ...n, params: { ...n.params, [edit.param]: edit.value } } : n));
      return { doc: { graph: { ...g, nodes }, layout: doc.layout }, created: [] };
    }
    case 'rename': {
      const problem = nameProblem(g, edit.node, edit.name);
      if (problem) throw new EditError(problem);
      const nodes = g.nodes.map((n) => (n.id === edit.node ? { ...n, name: edit.name } : n));
      return { doc: { graph: { ...g, nodes }, layout: doc.layout }, created: [] };
    }
    case 'move':
      return { doc: { graph: g, layout: { ...doc.layout, ...edit.positions } }, created: [] };
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
      return { doc: { graph: { ...g, nodes: [...g.nodes, ...nodes], edges: [...g.edges, ...edges] }, layout }, created: ids };
    }
    case 'replace':
      return { doc: { graph: edit.graph, layout: completeLayout(edit.graph, edit.layout) }, created: [] };
  }
}

/** The part of a graph that `nodes` make up: the nodes, the edges between them, their positions. */
export function copySelection(doc: Doc, nodes: readonly string[]): Clip | null {
  const set = new Set(nodes);
  const picked = doc.graph.nodes.filter((n) => set.has(n.id));
  if (picked.length === 0) return null;
  const layout: Record<string, Position> = {};
  for (const n of picked) layout[n.id] = doc.layout[n.id] ?? { x: 0, y: 0 };
  return { nodes: picked, edges: doc.graph.edges.filter((e) => set.has(e.from.node) && set.has(e.to.node)), layout };
}

// ---------------------------------------------------------------------------------------------
// Templates and startup

export function templateDoc(graph: Graph): Doc {
  return { graph, layout: templateLayout(graph) };
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
    const doc = layout === initial.layout ? initial : { graph: initial.graph, layout };
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
    const coalesce = opts.coalesce !== undefined && opts.coalesce === this.lastCoalesce;
    this.lastCoalesce = opts.coalesce ?? null;
    const past = coalesce ? this.state.past : [...this.state.past, this.state.doc].slice(-HISTORY_LIMIT);
    let selection = this.state.selection;
    if (edit.kind === 'delete') selection = NO_SELECTION;
    if ((edit.kind === 'add-node' || edit.kind === 'paste') && created.length > 0) selection = { nodes: created, edges: [] };
    if (edit.kind === 'replace') selection = NO_SELECTION;
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
    const nodes = s.nodes.filter((id) => g.nodes.some((n) => n.id === id));
    const edges = s.edges.filter((id) => g.edges.some((e) => e.id === id));
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
    this.apply({ kind: 'replace', graph: doc.graph, layout: doc.layout });
  }

  /** Opens a document from file text; on DocumentError the graph stays and the message is shown. */
  open(text: string, source = 'graph file'): boolean {
    try {
      const d = parseDocument(text, source);
      this.replace({ graph: d.graph, layout: d.layout });
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
    return serializeDocument(this.state.doc.graph, this.state.doc.layout);
  }

  setMessage(message: string | null): void {
    if (message === this.state.message) return;
    this.set({ ...this.state, message });
  }
}
