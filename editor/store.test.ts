import { describe, expect, it } from 'vitest';
import { analyze } from '../graph/analyze';
import { serializeDocument, CURRENT_VERSION } from '../graph/document';
import { GraphBuilder } from '../graph/builder';
import { EditorStore, defaultDoc, uniqueName, wouldCycle } from './store';
import { templateLayout } from './layout';
import { Autosaver, keyValueBackend, restoreAutosave, type SyncStorage } from './autosave';

class MemoryStorage implements SyncStorage {
  readonly map = new Map<string, string>();
  getItem(k: string): string | null {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.map.set(k, v);
  }
  removeItem(k: string): void {
    this.map.delete(k);
  }
  key(i: number): string | null {
    return [...this.map.keys()][i] ?? null;
  }
  get length(): number {
    return this.map.size;
  }
}

function small() {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
  const c = b.add('Conv2d', 'conv', { out_channels: 8 }, { x });
  b.add('Output', 'output', {}, { x: c });
  const graph = b.build('small');
  return { graph, layout: templateLayout(graph) };
}

describe('EditorStore', () => {
  it('starts from the iDDPM template, which is valid and laid out', () => {
    const d = defaultDoc();
    expect(analyze(d.graph).ok).toBe(true);
    for (const n of d.graph.nodes) expect(d.layout[n.id]).toBeDefined();
    const positions = new Set(Object.values(d.layout).map((p) => `${p.x},${p.y}`));
    expect(positions.size).toBe(d.graph.nodes.length); // no two nodes on top of each other
  });

  it('adds nodes with unique names and new graph objects; undo/redo restore snapshots', () => {
    const s = new EditorStore(small());
    const g0 = s.graph;
    const [a] = s.apply({ kind: 'add-node', type: 'ResBlock', position: { x: 1, y: 2 } });
    const [b] = s.apply({ kind: 'add-node', type: 'ResBlock', position: { x: 3, y: 4 } });
    expect(s.graph).not.toBe(g0);
    const names = s.graph.nodes.filter((n) => n.id === a || n.id === b).map((n) => n.name);
    expect(names).toEqual(['resblock_1', 'resblock_2']);
    expect(s.layout[b]).toEqual({ x: 3, y: 4 });
    expect(s.getState().selection.nodes).toEqual([b]);
    s.undo();
    expect(s.graph.nodes.some((n) => n.id === b)).toBe(false);
    s.undo();
    expect(s.graph).toBe(g0);
    expect(s.canUndo).toBe(false);
    s.redo();
    s.redo();
    expect(s.graph.nodes.length).toBe(5);
    expect(s.canRedo).toBe(false);
  });

  it('a new edit after undo drops the redo branch', () => {
    const s = new EditorStore(small());
    s.apply({ kind: 'add-node', type: 'SiLU', position: { x: 0, y: 0 } });
    s.undo();
    s.apply({ kind: 'add-node', type: 'ReLU', position: { x: 0, y: 0 } });
    expect(s.canRedo).toBe(false);
    expect(s.graph.nodes.map((n) => n.type)).toContain('ReLU');
  });

  it('coalesces a drag into one undo entry, and moves keep the graph object', () => {
    const s = new EditorStore(small());
    const g = s.graph;
    const id = g.nodes[1].id;
    for (let i = 1; i <= 10; i++) s.apply({ kind: 'move', positions: { [id]: { x: i, y: i } } }, { coalesce: 'drag-1' });
    expect(s.graph).toBe(g);
    expect(s.getState().past.length).toBe(1);
    s.apply({ kind: 'move', positions: { [id]: { x: 50, y: 50 } } }, { coalesce: 'drag-2' });
    expect(s.getState().past.length).toBe(2);
    s.undo();
    expect(s.layout[id]).toEqual({ x: 10, y: 10 });
    s.undo();
    expect(s.layout[id]).toEqual(small().layout[id]);
  });

  it('connecting to a connected input replaces its edge', () => {
    const s = new EditorStore(small());
    const [x, conv] = s.graph.nodes;
    const [relu] = s.apply({ kind: 'add-node', type: 'ReLU', position: { x: 0, y: 0 } });
    s.apply({ kind: 'connect', from: x.id, to: { node: relu, port: 'x' } });
    s.apply({ kind: 'connect', from: relu, to: { node: conv.id, port: 'x' } });
    const into = s.graph.edges.filter((e) => e.to.node === conv.id && e.to.port === 'x');
    expect(into).toHaveLength(1);
    expect(into[0].from.node).toBe(relu);
    expect(new Set(s.graph.edges.map((e) => e.id)).size).toBe(s.graph.edges.length);
    expect(analyze(s.graph).ok).toBe(true);
  });

  it('detects cycles before they are made', () => {
    const { graph } = small();
    const [x, conv, out] = graph.nodes;
    expect(wouldCycle(graph, conv.id, conv.id)).toBe(true);
    expect(wouldCycle(graph, out.id, x.id)).toBe(true);
    expect(wouldCycle(graph, x.id, out.id)).toBe(false);
  });

  it('refuses empty or duplicate names, accepts a fresh one', () => {
    const s = new EditorStore(small());
    const conv = s.graph.nodes[1];
    expect(() => s.apply({ kind: 'rename', node: conv.id, name: '' })).toThrow(/empty/);
    expect(() => s.apply({ kind: 'rename', node: conv.id, name: 'x' })).toThrow(/already named/);
    expect(s.getState().past.length).toBe(0);
    s.apply({ kind: 'rename', node: conv.id, name: 'stem' });
    expect(s.graph.nodes[1].name).toBe('stem');
  });

  it('set-param re-infers shapes on the new graph', () => {
    const s = new EditorStore(small());
    const conv = s.graph.nodes[1];
    s.apply({ kind: 'set-param', node: conv.id, param: 'out_channels', value: 16 });
    expect(analyze(s.graph).info.get(conv.id)?.out?.dims).toEqual([16, 8, 8]);
  });

  it('deletes the selection with its edges', () => {
    const s = new EditorStore(small());
    const conv = s.graph.nodes[1];
    s.select({ nodes: [conv.id], edges: [] });
    s.deleteSelection();
    expect(s.graph.nodes).toHaveLength(2);
    expect(s.graph.edges).toHaveLength(0);
    expect(s.getState().selection.nodes).toEqual([]);
  });

  it('copy/paste and duplicate give fresh names and ids and keep internal edges', () => {
    const s = new EditorStore(small());
    const [x, conv] = s.graph.nodes;
    s.select({ nodes: [x.id, conv.id], edges: [] });
    expect(s.copy()).toBe(true);
    const created = s.paste();
    expect(created).toHaveLength(2);
    const pasted = s.graph.nodes.filter((n) => created.includes(n.id));
    expect(pasted.map((n) => n.name)).toEqual(['x_1', 'conv_1']);
    const internal = s.graph.edges.filter((e) => created.includes(e.from.node) && created.includes(e.to.node));
    expect(internal).toHaveLength(1);
    expect(s.layout[created[0]]).toEqual({ x: s.layout[x.id].x + 40, y: s.layout[x.id].y + 40 });
    const dup = s.duplicate();
    expect(s.graph.nodes.filter((n) => dup.includes(n.id)).map((n) => n.name)).toEqual(['x_2', 'conv_2']);
    expect(new Set(s.graph.nodes.map((n) => n.name)).size).toBe(s.graph.nodes.length);
  });

  it('uniqueName picks the smallest free suffix', () => {
    const { graph } = small();
    expect(uniqueName(graph, 'conv')).toBe('conv_1');
    expect(uniqueName(graph, 'conv', new Set(['conv_1']))).toBe('conv_2');
  });

  it('autosaves every change and restores it; garbage is kept aside and the template shown', async () => {
    const storage = new MemoryStorage();
    const backend = keyValueBackend(storage);
    const start = async (tab: string) => {
      const restored = await restoreAutosave({ backend, sync: storage, tab, fallback: small });
      const store = new EditorStore(restored.doc);
      const autosaver = new Autosaver(store, { backend, sync: storage, channel: null, tab, restored, debounceMs: 1e9 });
      autosaver.start();
      return { store, autosaver };
    };
    const a = await start('A');
    a.store.apply({ kind: 'add-node', type: 'SiLU', position: { x: 7, y: 8 } });
    await a.autosaver.flush();
    a.autosaver.stop();
    const b = await start('B');
    expect(b.store.graph).toEqual(a.store.graph);
    expect(b.store.layout).toEqual(a.store.layout);
    expect(b.store.canUndo).toBe(false);
    b.autosaver.stop();

    storage.setItem('unet-studio:kv:record', JSON.stringify({ rev: 4, tab: 'X', time: 0, text: '{not json' }));
    const c = await start('C');
    expect(c.store.graph.name).toBe('small');
    expect(c.store.graph.nodes.length).toBe(3);
    expect(c.autosaver.getView().kept.map((k) => k.text)).toEqual(['{not json']);
    c.autosaver.stop();
  });

  it('a restored document without positions gets a layout', () => {
    const d = defaultDoc();
    const s = new EditorStore({ graph: d.graph, layout: {} });
    for (const n of s.graph.nodes) expect(s.layout[n.id]).toBeDefined();
  });

  it('opens a document; a malformed or newer file keeps the graph and sets the message', () => {
    const s = new EditorStore(small());
    const g = s.graph;
    expect(s.open('{"format": "nope"}')).toBe(false);
    expect(s.graph).toBe(g);
    expect(s.getState().message).toMatch(/not a UNet Studio graph/);
    const newer = JSON.parse(serializeDocument(g)) as { version: number };
    newer.version = CURRENT_VERSION + 1;
    expect(s.open(JSON.stringify(newer))).toBe(false);
    expect(s.getState().message).toMatch(/newer UNet Studio/);
    expect(s.graph).toBe(g);

    const other = defaultDoc();
    expect(s.open(serializeDocument(other.graph, other.layout))).toBe(true);
    expect(s.getState().message).toBeNull();
    expect(s.graph).toEqual(other.graph);
    s.undo();
    expect(s.graph).toBe(g);
  });

  it('fills in positions for a document saved without layout', () => {
    const s = new EditorStore(small());
    const d = defaultDoc();
    s.open(serializeDocument(d.graph));
    for (const n of s.graph.nodes) expect(s.layout[n.id]).toBeDefined();
  });
});

import { tokenize } from './highlight';
describe('tokenize', () => {
  it('splits keywords, strings, comments and numbers and loses nothing', () => {
    const src = "import * as tf from '@tensorflow/tfjs';\n// note\nconst x = 3.5e2; /* c */ const s = `a${1}`;";
    const toks = tokenize(src);
    expect(toks.map((t) => t.text).join('')).toBe(src);
    expect(toks.filter((t) => t.kind === 'keyword').map((t) => t.text)).toEqual(['import', 'as', 'from', 'const', 'const']);
    expect(toks.find((t) => t.kind === 'string')?.text).toBe("'@tensorflow/tfjs'");
    expect(toks.filter((t) => t.kind === 'comment').map((t) => t.text)).toEqual(['// note', '/* c */']);
    expect(toks.find((t) => t.kind === 'number')?.text).toBe('3.5e2');
  });
});
