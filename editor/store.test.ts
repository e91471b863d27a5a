import { describe, expect, it } from 'vitest';
import { analyze } from '../graph/analyze';
import { serializeDocument, CURRENT_VERSION } from '../graph/document';
import { GraphBuilder } from '../graph/builder';
import { EditorStore, defaultDoc, uniqueName, wouldCycle } from './store';
import { templateLayout } from './layout';
import { Autosaver, keyValueBackend, restoreAutosave } from './autosave';


function small() {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
  const c = b.add('Conv2d', 'conv', { out_channels: 8 }, { x });
  b.add('Output', 'output', {}, { x: c });
  const graph = b.build('small');
  return { graph, layout: templateLayout(graph), collapsed: [] as string[] };
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
    const s = new EditorStore({ graph: d.graph, layout: {}, collapsed: [] });
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

import { parseDocument } from '../graph/document';
import { indexGroups } from '../graph/groups';
import { canvasEdges, canvasItems, groupInHandle, groupOutHandle, moveItems } from './groupView';
import { MemoryStorage } from '../test/memory-storage';

/** x → conv_a → conv_b → relu → output, with a side edge x → add.b and conv_b → add.a. */
function chain() {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
  const a = b.add('Conv2d', 'body.0', { out_channels: 8 }, { x });
  const c = b.add('Conv2d', 'body.1', { out_channels: 3 }, { x: a });
  const r = b.add('ReLU', 'head', {}, { x: c });
  const s = b.add('Add', 'sum', {}, { a: r, b: x });
  b.add('Output', 'output', {}, { x: s });
  const graph = b.build('chain');
  const layout = { n1: { x: 0, y: 0 }, n2: { x: 200, y: 40 }, n3: { x: 400, y: 10 }, n4: { x: 600, y: 0 }, n5: { x: 800, y: 0 }, n6: { x: 1000, y: 0 } };
  return { graph, layout, collapsed: [] as string[] };
}
const nodeId = (s: EditorStore, name: string) => s.graph.nodes.find((n) => n.name === name)!.id;

describe('EditorStore groups', () => {
  it('the default template opens with its top-level groups collapsed: at most 30 items drawn', () => {
    const d = defaultDoc();
    const top = (d.graph.groups ?? []).filter((g) => g.parent === undefined).map((g) => g.id).sort();
    expect(top.length).toBeGreaterThan(3);
    expect(d.collapsed).toEqual(top);
    const items = canvasItems(d.graph, d.collapsed);
    const visibleBlocks = d.graph.nodes.filter((n) => !items.hiddenIn.has(n.id)).length;
    expect(items.frames).toEqual([]);
    expect(visibleBlocks + items.collapsed.length).toBeLessThanOrEqual(30);
    expect(visibleBlocks + items.collapsed.length).toBeLessThan(d.graph.nodes.length);
  });

  it('groups the selection into a collapsed group where its blocks were; undo and redo; ungroup', () => {
    const s = new EditorStore(chain());
    const [a, c] = [nodeId(s, 'body.0'), nodeId(s, 'body.1')];
    s.select({ nodes: [a, c], edges: [] });
    expect(s.groupSelection()).toBe(true);
    const g = s.graph.groups![0];
    expect(g).toEqual({ id: 'g1', name: 'body', nodes: [a, c] });
    expect(s.getState().doc.collapsed).toEqual(['g1']);
    expect(s.layout.g1).toEqual({ x: 200, y: 10 });
    expect(s.getState().selection.nodes).toEqual(['g1']);
    expect(s.getState().past.length).toBe(1);
    // Saved and opened again: the group and what was collapsed come back.
    const d = parseDocument(s.saveText());
    expect(d.graph.groups).toEqual(s.graph.groups);
    expect(d.collapsed).toEqual(['g1']);
    expect(d.layout.g1).toEqual({ x: 200, y: 10 });

    s.undo();
    expect(s.graph.groups).toBeUndefined();
    expect(s.getState().doc.collapsed).toEqual([]);
    s.redo();
    expect(s.graph.groups?.map((x) => x.name)).toEqual(['body']);

    s.select({ nodes: ['g1'], edges: [] });
    expect(s.ungroupSelection()).toBe(true);
    expect(s.graph.groups).toBeUndefined();
    expect(s.getState().doc.collapsed).toEqual([]);
    expect(s.layout.g1).toBeUndefined();
    expect(s.getState().selection.nodes).toEqual([a, c]);
    s.undo();
    expect(s.getState().doc.collapsed).toEqual(['g1']);
  });

  it('refuses a selection that mixes levels, with a message in the banner and no undo entry', () => {
    const s = new EditorStore(chain());
    s.select({ nodes: [nodeId(s, 'body.0'), nodeId(s, 'body.1')], edges: [] });
    s.groupSelection();
    s.apply({ kind: 'expand', groups: ['g1'] });
    const past = s.getState().past.length;
    s.select({ nodes: [nodeId(s, 'body.0'), nodeId(s, 'head')], edges: [] });
    expect(s.groupSelection()).toBe(false);
    expect(s.getState().message).toMatch(/mixes items of group "body" and of the top level/);
    expect(s.getState().past.length).toBe(past);
    expect(() => s.apply({ kind: 'collapse', groups: ['nope'] })).toThrow(/no group with id "nope"/);
  });

  it('collapse and expand are undoable steps; collapsing twice changes nothing', () => {
    const s = new EditorStore(chain());
    s.apply({ kind: 'group', items: [nodeId(s, 'body.0'), nodeId(s, 'body.1')] });
    s.apply({ kind: 'expand', groups: ['g1'] });
    expect(s.getState().doc.collapsed).toEqual([]);
    expect(s.layout.g1).toBeUndefined();
    s.toggleCollapsed('g1');
    expect(s.getState().doc.collapsed).toEqual(['g1']);
    const past = s.getState().past.length;
    s.apply({ kind: 'collapse', groups: ['g1'] });
    expect(s.getState().past.length).toBe(past);
    s.undo();
    expect(s.getState().doc.collapsed).toEqual([]);
    s.undo();
    expect(s.getState().doc.collapsed).toEqual(['g1']);
  });

  it('renames a group; a taken or empty name is refused', () => {
    const s = new EditorStore(chain());
    s.apply({ kind: 'group', items: [nodeId(s, 'body.0')] });
    s.apply({ kind: 'group', items: [nodeId(s, 'head')] });
    expect(s.graph.groups!.map((g) => g.name)).toEqual(['body', 'group_1']);
    expect(() => s.apply({ kind: 'rename-group', group: 'g2', name: 'body' })).toThrow(/"body" is already used by another group/);
    expect(() => s.apply({ kind: 'rename-group', group: 'g2', name: ' ' })).toThrow(/must not be empty/);
    s.apply({ kind: 'rename-group', group: 'g2', name: 'tail' });
    expect(s.graph.groups!.map((g) => g.name)).toEqual(['body', 'tail']);
  });

  it('groups nest: a collapsed group and a block make an outer group; ungrouping it keeps the inner one', () => {
    const s = new EditorStore(chain());
    s.apply({ kind: 'group', items: [nodeId(s, 'body.0'), nodeId(s, 'body.1')] });
    s.apply({ kind: 'group', items: ['g1', nodeId(s, 'head')], name: 'outer' });
    expect(s.graph.groups).toEqual([
      { id: 'g2', name: 'outer', nodes: [nodeId(s, 'head')] },
      { id: 'g1', name: 'body', parent: 'g2', nodes: [nodeId(s, 'body.0'), nodeId(s, 'body.1')] },
    ]);
    expect(s.getState().doc.collapsed).toEqual(['g1', 'g2']);
    const items = canvasItems(s.graph, s.getState().doc.collapsed);
    expect(items.collapsed).toEqual(['g2']);
    expect(items.hiddenIn.get(nodeId(s, 'body.0'))).toBe('g2');
    s.apply({ kind: 'ungroup', group: 'g2' });
    expect(s.graph.groups).toEqual([{ id: 'g1', name: 'body', nodes: [nodeId(s, 'body.0'), nodeId(s, 'body.1')] }]);
    expect(s.getState().doc.collapsed).toEqual(['g1']);
  });

  it('deleting a selected group deletes its blocks; copying it pastes its blocks at the top level', () => {
    const s = new EditorStore(chain());
    s.apply({ kind: 'group', items: [nodeId(s, 'body.0'), nodeId(s, 'body.1')] });
    s.select({ nodes: ['g1'], edges: [] });
    expect(s.copy()).toBe(true);
    const pasted = s.paste();
    expect(s.graph.nodes.filter((n) => pasted.includes(n.id)).map((n) => n.type)).toEqual(['Conv2d', 'Conv2d']);
    expect(indexGroups(s.graph).groupOfNode.has(pasted[0])).toBe(false);
    expect(s.graph.edges.filter((e) => pasted.includes(e.from.node) && pasted.includes(e.to.node))).toHaveLength(1);
    s.select({ nodes: ['g1'], edges: [] });
    s.deleteSelection();
    expect(s.graph.nodes.map((n) => n.name)).toEqual(['x', 'head', 'sum', 'output', 'conv_1', 'conv_2']);
    expect(s.graph.groups).toBeUndefined();
    expect(s.getState().doc.collapsed).toEqual([]);
    expect(s.layout.g1).toBeUndefined();
  });

  it('moving a collapsed group moves the blocks inside by as much', () => {
    const d = chain();
    const s = new EditorStore(d);
    s.apply({ kind: 'group', items: ['n2', 'n3'] });
    s.apply({ kind: 'move', positions: { g1: { x: 250, y: 110 } } });
    expect(s.layout.g1).toEqual({ x: 250, y: 110 });
    expect(s.layout.n2).toEqual({ x: 250, y: 140 });
    expect(s.layout.n3).toEqual({ x: 450, y: 110 });
    expect(s.layout.n4).toEqual({ x: 600, y: 0 });
    // An expanded group has no position of its own: its members move, a block given too wins.
    const moved = moveItems(s.graph, s.layout, [], { g1: { x: 260, y: 110 }, n3: { x: 0, y: 0 } });
    expect(moved.n2).toEqual({ x: 260, y: 140 });
    expect(moved.n3).toEqual({ x: 0, y: 0 });
  });

  it('a selection box that caught a frame and blocks inside it groups the blocks', () => {
    const s = new EditorStore(chain());
    s.apply({ kind: 'group', items: ['n2', 'n3', 'n4'], name: 'core' });
    s.apply({ kind: 'expand', groups: ['g1'] });
    s.select({ nodes: ['g1', 'n2', 'n3'], edges: [] });
    expect(s.groupSelection()).toBe(true);
    expect(s.graph.groups).toEqual([
      { id: 'g1', name: 'core', nodes: ['n4'] },
      { id: 'g2', name: 'body', parent: 'g1', nodes: ['n2', 'n3'] },
    ]);
  });

  it('autosave keeps the groups and which are collapsed', async () => {
    const storage = new MemoryStorage();
    const backend = keyValueBackend(storage);
    const start = async (tab: string) => {
      const restored = await restoreAutosave({ backend, sync: storage, tab, fallback: chain });
      const store = new EditorStore(restored.doc);
      const autosaver = new Autosaver(store, { backend, sync: storage, channel: null, tab, restored, debounceMs: 1e9 });
      autosaver.start();
      return { store, autosaver };
    };
    const a = await start('A');
    a.store.apply({ kind: 'group', items: ['n2', 'n3'] });
    a.store.apply({ kind: 'group', items: ['n5'], name: 'tail' });
    a.store.apply({ kind: 'expand', groups: ['g2'] });
    await a.autosaver.flush();
    a.autosaver.stop();
    const b = await start('B');
    expect(b.store.graph.groups).toEqual(a.store.graph.groups);
    expect(b.store.getState().doc.collapsed).toEqual(['g1']);
    expect(b.store.layout.g1).toEqual({ x: 200, y: 10 });
    b.autosaver.stop();
  });

  it('templates from New… and opened files keep their collapsed groups through replace', () => {
    const s = new EditorStore(chain());
    const d = defaultDoc();
    s.replace(d);
    expect(s.getState().doc.collapsed).toEqual(d.collapsed);
    s.apply({ kind: 'expand', groups: [d.collapsed[0]] });
    const text = s.saveText();
    const t = new EditorStore(chain());
    expect(t.open(text)).toBe(true);
    expect(t.getState().doc.collapsed).toEqual(d.collapsed.slice(1));
  });
});

describe('canvasEdges', () => {
  it('routes edges into a collapsed group to its ports, drops inner ones and merges identical ones', () => {
    const d = chain();
    // x feeds body.0 and sum; body → head. Group body.0, body.1, head: x feeds it once (one port), and sum.
    const s = new EditorStore(d);
    s.apply({ kind: 'group', items: ['n2', 'n3', 'n4'], name: 'core' });
    const g = s.graph;
    const items = canvasItems(g, s.getState().doc.collapsed);
    const drawn = canvasEdges(g, analyze(g), items).map((e) => [e.source, e.sourceHandle, e.target, e.targetHandle, e.edges.length]);
    expect(drawn).toEqual([
      ['n1', 'out', 'g1', groupInHandle('x'), 1],
      ['g1', groupOutHandle('a'), 'n5', 'a', 1],
      ['n1', 'out', 'n5', 'b', 1],
      ['n5', 'out', 'n6', 'x', 1],
    ]);
    // Expanded: the graph's own edges.
    const open = canvasEdges(g, analyze(g), canvasItems(g, []));
    expect(open.map((e) => e.id)).toEqual(g.edges.map((e) => e.id));
  });

  it('merges the edges of one tensor feeding several blocks inside a collapsed group', () => {
    const d = defaultDoc();
    const g = d.graph;
    const items = canvasItems(g, d.collapsed);
    const drawn = canvasEdges(g, analyze(g), items);
    const keys = drawn.map((e) => `${e.source}:${e.sourceHandle}>${e.target}:${e.targetHandle}`);
    expect(new Set(keys).size).toBe(keys.length);
    // The time embedding feeds every ResBlock of a level: one drawn edge per level.
    const merged = drawn.filter((e) => e.edges.length > 1);
    expect(merged.length).toBeGreaterThan(0);
    const visible = new Set([...g.nodes.filter((n) => !items.hiddenIn.has(n.id)).map((n) => n.id), ...items.collapsed]);
    for (const e of drawn) {
      expect(visible.has(e.source)).toBe(true);
      expect(visible.has(e.target)).toBe(true);
    }
    // Every graph edge is drawn once or lies inside one collapsed group.
    const counted = drawn.reduce((k, e) => k + e.edges.length, 0);
    const inner = g.edges.filter((e) => items.hiddenIn.get(e.from.node) !== undefined && items.hiddenIn.get(e.from.node) === items.hiddenIn.get(e.to.node)).length;
    expect(counted + inner).toBe(g.edges.length);
  });
});
