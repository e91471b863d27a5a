/**
 * The workspace in the editor, framework-free: ordered variants, each with its own `EditorStore`
 * (so its own undo history), one active. `getState().doc` is an immutable snapshot of the whole
 * workspace, a new object whenever a variant's document, a name, the order, the attached metrics or
 * the active variant changes (never for a selection or a banner), which is what autosave watches and
 * stores (`workspaceCodec`). React reads it through `subscribe`/`getState`.
 *
 * Nothing here drops a variant's work silently: closing is the only way a variant goes (the last
 * one cannot be closed), opening a workspace file or a link adds variants beside the open ones, and
 * loading another tab's autosave replaces matching variants undoably and keeps this tab's others.
 */
import type { Graph } from '../graph/model';
import { MAX_VARIANT_NAME, MAX_VARIANTS, freshVariantId, parseWorkspace, serializeWorkspace, uniqueVariantName, type Workspace } from '../graph/workspace';
import type { AutosaveCodec, AutosaveHost } from './autosave';
import { EditorStore, templateDoc, type Doc } from './store';
import type { VariantView } from './workspace-types';

export interface EditorVariant {
  readonly id: string;
  readonly name: string;
  readonly doc: Doc;
  readonly metricsText?: string;
}

/** The workspace as autosave and files see it (a `Workspace` whose documents are the editor's). */
export interface EditorWorkspace {
  readonly active: string;
  readonly variants: readonly EditorVariant[];
}

export interface WorkspaceState {
  readonly doc: EditorWorkspace;
  /** A message for the workspace's banner (a damaged link, a refused action), or null. */
  readonly message: string | null;
}

export class WorkspaceError extends Error {
  override name = 'WorkspaceError';
}

const toDoc = (d: Workspace['variants'][number]['doc']): Doc => ({ graph: d.graph, layout: d.layout, collapsed: d.collapsed ?? [] });

/** A workspace read from text, its documents as the editor holds them. */
export function toEditorWorkspace(ws: Workspace): EditorWorkspace {
  return { active: ws.active, variants: ws.variants.map((v) => ({ ...v, doc: toDoc(v.doc) })) };
}

/** Autosave stores the workspace; it reads a stored single document (the autosave of earlier versions) as a workspace of one. */
export const workspaceCodec: AutosaveCodec<EditorWorkspace> = {
  serialize: (ws) => serializeWorkspace(ws),
  parse: (text, source) => toEditorWorkspace(parseWorkspace(text, source)),
  fileName: (ws) => `${ws.variants.find((v) => v.id === ws.active)?.name || 'workspace'}.workspace.json`,
};

/** A workspace of one variant holding `doc`. */
export function singleWorkspace(doc: Doc, name = doc.graph.name || 'Variant 1'): EditorWorkspace {
  return { active: 'v1', variants: [{ id: 'v1', name, doc }] };
}

interface Entry {
  readonly id: string;
  name: string;
  metricsText: string | undefined;
  readonly store: EditorStore;
  /** The store's document when the snapshot was last made. */
  doc: Doc;
  readonly unsubscribe: () => void;
}

export class WorkspaceStore implements AutosaveHost<EditorWorkspace> {
  private entries: Entry[] = [];
  private active: string;
  private state: WorkspaceState;
  private readonly listeners = new Set<() => void>();

  constructor(initial: EditorWorkspace) {
    if (initial.variants.length === 0) throw new WorkspaceError('a workspace holds at least one variant');
    for (const v of initial.variants) this.entries.push(this.makeEntry(v.id, v.name, v.doc, v.metricsText));
    this.active = initial.variants.some((v) => v.id === initial.active) ? initial.active : initial.variants[0].id;
    this.state = { doc: this.snapshot(), message: null };
  }

  getState = (): WorkspaceState => this.state;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /** The active variant's id and store. */
  get activeId(): string {
    return this.active;
  }
  get activeStore(): EditorStore {
    return this.entry(this.active).store;
  }
  storeOf(id: string): EditorStore {
    return this.entry(id).store;
  }

  /** What other parts of the editor read (compare, charts): id, name, graph, metrics. */
  views(): VariantView[] {
    return this.state.doc.variants.map((v) => ({ id: v.id, name: v.name, graph: v.doc.graph, ...(v.metricsText !== undefined ? { metricsText: v.metricsText } : {}) }));
  }

  private entry(id: string): Entry {
    const e = this.entries.find((x) => x.id === id);
    if (!e) throw new WorkspaceError(`no variant "${id}" in this workspace`);
    return e;
  }

  private makeEntry(id: string, name: string, doc: Doc, metricsText: string | undefined): Entry {
    const store = new EditorStore(doc);
    const entry: Entry = {
      id,
      name,
      metricsText,
      store,
      doc: store.getState().doc,
      unsubscribe: store.subscribe(() => {
        const d = store.getState().doc;
        if (d === entry.doc) return; // a selection or a message: the workspace is unchanged
        entry.doc = d;
        this.changed();
      }),
    };
    return entry;
  }

  private snapshot(): EditorWorkspace {
    return {
      active: this.active,
      variants: this.entries.map((e) => ({ id: e.id, name: e.name, doc: e.doc, ...(e.metricsText !== undefined ? { metricsText: e.metricsText } : {}) })),
    };
  }

  private emit(next: WorkspaceState): void {
    this.state = next;
    for (const l of this.listeners) l();
  }

  private changed(): void {
    this.emit({ ...this.state, doc: this.snapshot() });
  }

  setMessage(message: string | null): void {
    if (message === this.state.message) return;
    this.emit({ ...this.state, message });
  }

  private ids(): Set<string> {
    return new Set(this.entries.map((e) => e.id));
  }
  private names(): Set<string> {
    return new Set(this.entries.map((e) => e.name));
  }
  private room(n: number): void {
    if (this.entries.length + n > MAX_VARIANTS) {
      throw new WorkspaceError(`a workspace holds at most ${MAX_VARIANTS} variants (this one has ${this.entries.length}; ${n} more would not fit): close some first`);
    }
  }

  /** Shows variant `id`. */
  select(id: string): void {
    this.entry(id);
    if (id === this.active) return;
    this.active = id;
    this.changed();
  }

  /** Copies variant `id` (default: the active one) into a new variant after it, with a fresh history, and shows it. */
  duplicate(id: string = this.active): string {
    this.room(1);
    const src = this.entry(id);
    const copy = this.makeEntry(freshVariantId(this.ids()), uniqueVariantName(`${src.name} copy`, this.names()), src.store.getState().doc, undefined);
    this.entries.splice(this.entries.indexOf(src) + 1, 0, copy);
    this.active = copy.id;
    this.changed();
    return copy.id;
  }

  /** Renames a variant; an empty name (after trimming) is refused. */
  rename(id: string, name: string): void {
    const e = this.entry(id);
    const n = name.trim();
    if (n.length === 0) throw new WorkspaceError('a variant needs a name');
    if (n.length > MAX_VARIANT_NAME) throw new WorkspaceError(`a variant name has at most ${MAX_VARIANT_NAME} characters (this one has ${n.length})`);
    if (n === e.name) return;
    e.name = n;
    this.changed();
  }

  /** Closes a variant (its work goes with it: the editor asks first); the last one cannot be closed. */
  close(id: string): void {
    const e = this.entry(id);
    if (this.entries.length === 1) throw new WorkspaceError('the last variant cannot be closed');
    const i = this.entries.indexOf(e);
    this.entries.splice(i, 1);
    e.unsubscribe();
    if (this.active === id) this.active = this.entries[Math.min(i, this.entries.length - 1)].id;
    this.changed();
  }

  /** Moves a variant to position `to` (clamped) in the tab order. */
  move(id: string, to: number): void {
    const e = this.entry(id);
    const from = this.entries.indexOf(e);
    const t = Math.max(0, Math.min(this.entries.length - 1, Math.round(to)));
    if (t === from) return;
    this.entries.splice(from, 1);
    this.entries.splice(t, 0, e);
    this.changed();
  }

  /** Adds variants after the others (names made unique) and shows the first new one; their ids. */
  addDocs(list: readonly { readonly name: string; readonly doc: Doc; readonly metricsText?: string }[]): string[] {
    if (list.length === 0) return [];
    this.room(list.length);
    const ids = this.ids();
    const names = this.names();
    const added: string[] = [];
    for (const v of list) {
      const id = freshVariantId(ids);
      const name = uniqueVariantName(v.name, names);
      ids.add(id);
      names.add(name);
      this.entries.push(this.makeEntry(id, name, v.doc, v.metricsText));
      added.push(id);
    }
    this.active = added[0];
    this.changed();
    return added;
  }

  /** `addVariants` of the editor: graphs (a sweep's) laid out like a template's. */
  addGraphs(list: readonly { readonly name: string; readonly graph: Graph }[]): string[] {
    return this.addDocs(list.map((v) => ({ name: v.name, doc: templateDoc(v.graph) })));
  }

  /**
   * Adds every variant of `ws` (a workspace file, a link) beside the open ones, and shows the one
   * that was active in it. Returns the new ids in `ws`'s order.
   */
  addWorkspace(ws: EditorWorkspace): string[] {
    const added = this.addDocs(ws.variants);
    const i = ws.variants.findIndex((v) => v.id === ws.active);
    if (i > 0) this.select(added[i]);
    return added;
  }

  /** Attaches (or, with null, removes) a variant's `metrics.jsonl` text. */
  attachMetrics(id: string, metricsText: string | null): void {
    const e = this.entry(id);
    const next = metricsText ?? undefined;
    if (e.metricsText === next) return;
    e.metricsText = next;
    this.changed();
  }

  /**
   * Autosave's "Load theirs": variants with the same id take the other tab's document (an undoable
   * replace in their own history), names and metrics; the other tab's new variants are added; this
   * tab's variants the other tab does not have are kept after them. False when something of this
   * tab's was kept (so autosave writes the result back).
   */
  replace(ws: EditorWorkspace): boolean {
    const mine = new Map(this.entries.map((e) => [e.id, e]));
    const next: Entry[] = [];
    for (const v of ws.variants) {
      const e = mine.get(v.id);
      if (e) {
        mine.delete(v.id);
        if (e.store.getState().doc !== v.doc) e.store.replace(v.doc);
        e.name = v.name;
        e.metricsText = v.metricsText;
        e.doc = e.store.getState().doc;
        next.push(e);
      } else {
        next.push(this.makeEntry(v.id, v.name, v.doc, v.metricsText));
      }
    }
    const kept = [...mine.values()];
    this.entries = [...next, ...kept];
    this.active = ws.variants.some((v) => v.id === ws.active) ? ws.active : this.entries[0].id;
    this.changed();
    return kept.length === 0;
  }
}
